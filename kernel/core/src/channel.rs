//! Channels: rings living in arena regions, with per-process attachments
//! and the kernel-side wait queues that parked readers and writers sit in.

use alloc::string::String;
use alloc::vec::Vec;
use tidemark_abi::{Backpressure, ChannelDescriptor, Error, Role};
use tidemark_ring::{Corruption, Geometry, Ring, RingError};

use crate::arena::{Arenas, Purpose};
use crate::{EventKind, KERNEL_PID, Kernel, Pid, Wait};

/// Reader and writer slots per ring.
pub const MAX_ENDPOINTS: u32 = 16;

/// One process's (or the kernel's) attachment to a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Attached process (0: the kernel, for the monitor's send/tail).
    pub pid: Pid,
    /// Role.
    pub role: Role,
    /// Reader slot or writer id.
    pub endpoint: u32,
    /// Where the count of frames moved through this attachment starts: the
    /// reader's cursor at attach (moved on by drains, which are not reads);
    /// 0 for a writer, whose ring counter starts at 0.
    pub base: u32,
    /// Attaches the running instance made and has not detached: the SDK's
    /// `Reader`s (or `Writer`s) of one process share its endpoint, and the
    /// last one dropped detaches it. 0 after a reload swap: the endpoint is
    /// kept for the successor, which claims it by attaching again.
    pub holds: u32,
}

impl Attachment {
    /// Frames read or written through this attachment so far, from the
    /// ring itself: the same count whether the kernel moved them (copying
    /// hostcalls) or the guest did, in place.
    pub fn frames(&self, ring: &Ring<'_>) -> u32 {
        match self.role {
            Role::Reader => ring.reader_seq(self.endpoint).wrapping_sub(self.base),
            Role::Writer => ring.writer_frames(self.endpoint),
        }
    }
}

/// A channel.
pub struct Channel {
    /// Kernel-wide id.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Region holding the ring.
    pub region: u32,
    /// Trusted geometry.
    pub geo: Geometry,
    /// Set once the ring fails validation; the channel stays unusable.
    pub corrupt: Option<Corruption>,
    /// Deleted, waiting for holders to let go.
    pub deleted: bool,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Processes parked until a frame arrives.
    pub readers_waiting: Vec<Pid>,
    /// Processes parked until room appears.
    pub writers_waiting: Vec<Pid>,
    /// Capability entries naming it.
    pub holders: u32,
    /// Held by the kernel itself (created by the monitor or the boot manifest).
    pub kernel_held: bool,
    /// Creator.
    pub owner: Pid,
}

impl Channel {
    /// The ring, over the arena memory.
    pub fn ring<'a>(&self, arenas: &'a Arenas) -> Ring<'a> {
        let (ptr, len) = arenas
            .region_ptr(self.region)
            .expect("channel region exists");
        debug_assert!(len >= self.geo.region_size());
        // SAFETY: the region is reserved for this ring, 8-aligned, and lives
        // as long as the channel, which the borrow of `arenas` outlives here.
        unsafe { Ring::from_raw(ptr, self.geo) }
    }

    /// Backpressure policy.
    pub fn backpressure(&self) -> Backpressure {
        Backpressure::from_u32(self.geo.backpressure).unwrap_or(Backpressure::Park)
    }

    pub(crate) fn attachment(&self, pid: Pid, role: Role) -> Option<&Attachment> {
        self.attachments
            .iter()
            .find(|a| a.pid == pid && a.role == role)
    }
}

/// Result of a channel write or read on behalf of a process.
pub(crate) enum Io {
    Done(u32, tidemark_abi::FrameMeta),
    Block(Wait),
    /// The pending frame is larger than the buffer; it stays queued.
    TooLarge(u32),
}

/// A channel that can still be used, or why not.
pub(crate) fn usable(
    channels: &mut alloc::collections::BTreeMap<u32, Channel>,
    id: u32,
) -> Result<&mut Channel, Error> {
    match channels.get_mut(&id) {
        None => Err(Error::Closed),
        Some(c) if c.deleted => Err(Error::Closed),
        Some(c) if c.corrupt.is_some() => Err(Error::Corrupt),
        Some(c) => Ok(c),
    }
}

/// Who may attach to a channel, fixed at creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parties {
    /// Up to [`MAX_ENDPOINTS`] readers and as many writers.
    #[default]
    Many,
    /// One writer and one reader (seed 003's single-producer,
    /// single-consumer hint): the ring runs without its writer lock, and the
    /// kernel refuses a second process in either role at attach.
    Single,
}

impl Parties {
    fn slots(self) -> u32 {
        match self {
            Parties::Many => MAX_ENDPOINTS,
            Parties::Single => 1,
        }
    }
}

impl Kernel {
    /// Creates a channel for any number of parties. `owner` 0 makes it
    /// kernel-held: it lives until deleted.
    pub fn create_channel(
        &mut self,
        name: &str,
        data_bytes: u32,
        frames: u32,
        bp: Backpressure,
        owner: Pid,
    ) -> Result<u32, Error> {
        self.create_channel_for(name, data_bytes, frames, bp, Parties::Many, owner)
    }

    /// Creates a channel for `parties`. `owner` 0 makes it kernel-held.
    pub fn create_channel_for(
        &mut self,
        name: &str,
        data_bytes: u32,
        frames: u32,
        bp: Backpressure,
        parties: Parties,
        owner: Pid,
    ) -> Result<u32, Error> {
        let slots = parties.slots();
        let geo = Geometry::new(data_bytes, frames, slots, slots, bp as u32)
            .ok_or(Error::InvalidArgument)?;
        let page = self.arenas.page;
        let bytes = geo.region_size().next_multiple_of(page);
        self.quota(owner, crate::quota::Ask::Channel(bytes))?;
        let id = self.object_id();
        let region = self.object_id();
        self.arenas
            .alloc(region, bytes, page.max(64), owner, Purpose::Channel(id))?;
        let (ptr, _) = self.arenas.region_ptr(region).expect("just allocated");
        // SAFETY: fresh region of region_size bytes, 64-aligned, no other user yet.
        unsafe { Ring::init(ptr, geo) };
        self.channels.insert(
            id,
            Channel {
                id,
                name: name.into(),
                region,
                geo,
                corrupt: None,
                deleted: false,
                attachments: Vec::new(),
                readers_waiting: Vec::new(),
                writers_waiting: Vec::new(),
                holders: 0,
                kernel_held: owner == KERNEL_PID,
                owner,
            },
        );
        Ok(id)
    }

    /// Finds a live channel by name.
    pub fn channel_by_name(&self, name: &str) -> Option<u32> {
        self.channels
            .values()
            .find(|c| c.name == name && !c.deleted)
            .map(|c| c.id)
    }

    /// A channel by id.
    pub fn channel(&self, id: u32) -> Option<&Channel> {
        self.channels.get(&id)
    }

    /// All channels.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.values()
    }

    /// Raw bytes of a channel's ring: for the monitor's dump and for fault
    /// injection in tests. Writing here can only corrupt this channel.
    pub fn channel_memory(&mut self, id: u32) -> Option<&mut [u8]> {
        let c = self.channels.get(&id)?;
        let (ptr, len) = self.arenas.region_ptr(c.region)?;
        // SAFETY: the region is live and borrowed mutably through `self`.
        Some(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Deletes a channel: holders get `Closed`, parked sides are woken.
    pub fn delete_channel(&mut self, id: u32) -> Result<(), Error> {
        let c = self.channels.get_mut(&id).ok_or(Error::NotFound)?;
        c.deleted = true;
        c.kernel_held = false;
        let holders = c.holders;
        self.wake_parked(id, true, true);
        if holders == 0 {
            self.destroy(crate::caps::Object::Channel(id));
        }
        Ok(())
    }

    fn mark_corrupt(&mut self, id: u32, what: Corruption) -> Error {
        if let Some(c) = self.channels.get_mut(&id) {
            if c.corrupt.is_none() {
                c.corrupt = Some(what);
                self.wake_parked(id, true, true);
                self.event(EventKind::Corrupt {
                    channel: id,
                    what: what.describe().into(),
                });
            }
        }
        Error::Corrupt
    }

    pub(crate) fn ring_error(&mut self, id: u32, e: RingError) -> Error {
        match e {
            RingError::Full => Error::Full,
            RingError::Empty | RingError::Skipped { .. } => Error::Empty,
            RingError::TooLarge(_) => Error::TooLarge,
            RingError::NoSlot => Error::NoMemory,
            RingError::Busy => Error::Busy,
            RingError::NotAttached => Error::NotAttached,
            RingError::Corrupt(c) => self.mark_corrupt(id, c),
        }
    }

    /// Attaches `pid` to a channel as `role`. Attaching again in a role the
    /// process already holds returns the same endpoint, one more hold on
    /// it: a process is one reader (or writer) of a channel, and keeps its
    /// attachments (and reader cursor) across hot reloads.
    pub fn attach(&mut self, pid: Pid, id: u32, role: Role) -> Result<ChannelDescriptor, Error> {
        let c = usable(&mut self.channels, id)?;
        if let Some(a) = c
            .attachments
            .iter_mut()
            .find(|a| a.pid == pid && a.role == role)
        {
            a.holds = a.holds.saturating_add(1);
            let endpoint = a.endpoint;
            return Ok(self.descriptor(id, role, endpoint));
        }
        if c.geo.single()
            && let Some(holder) = c.attachments.iter().find(|a| a.role == role).map(|a| a.pid)
        {
            let limit = alloc::format!(
                "single channel `{}` {}s (pid {holder} attached)",
                c.name,
                role.name()
            );
            self.event(EventKind::LimitReached {
                pid,
                limit,
                value: 1,
            });
            return Err(Error::Exists);
        }
        let ring = c.ring(&self.arenas);
        let endpoint = match role {
            Role::Reader => ring.attach_reader(),
            Role::Writer => ring
                .attach_writer()
                .inspect(|id| ring.set_writer_owner(*id, pid)),
        };
        let endpoint = match endpoint {
            Ok(e) => e,
            Err(e) => return Err(self.ring_error(id, e)),
        };
        let base = if role == Role::Reader {
            ring.reader_seq(endpoint)
        } else {
            0
        };
        let c = self.channels.get_mut(&id).expect("usable");
        c.attachments.push(crate::channel::Attachment {
            pid,
            role,
            endpoint,
            base,
            holds: 1,
        });
        Ok(self.descriptor(id, role, endpoint))
    }

    fn descriptor(&self, id: u32, role: Role, endpoint: u32) -> ChannelDescriptor {
        let c = &self.channels[&id];
        let r = self.arenas.region(c.region).expect("channel region");
        ChannelDescriptor {
            channel: id,
            role: role as u32,
            endpoint,
            arena: r.arena,
            offset: r.offset as u32,
            len: r.len as u32,
            mapped_at: 0,
            backpressure: c.geo.backpressure,
            data_cap: c.geo.data_cap,
            frame_cap: c.geo.frame_cap,
            max_readers: c.geo.max_readers,
            max_writers: c.geo.max_writers,
        }
    }

    /// Lets go of one hold on `pid`'s attachment as `role` (a guest's
    /// `chan_detach`); the last hold detaches. False if not attached.
    pub fn release(&mut self, pid: Pid, id: u32, role: Role) -> bool {
        let Some(a) = self.channels.get_mut(&id).and_then(|c| {
            c.attachments
                .iter_mut()
                .find(|a| a.pid == pid && a.role == role)
        }) else {
            return false;
        };
        if a.holds > 1 {
            a.holds -= 1;
            return true;
        }
        self.detach_channel(pid, id, Some(role))
    }

    /// Detaches `pid` from a channel (one role, or both with `None`).
    ///
    /// The process must not touch the ring afterwards: it has stopped, or
    /// its window is unmapped here *before* its endpoints are released and
    /// repaired, so a running guest can never hold the lock (or a
    /// reservation) the kernel just released.
    pub fn detach_channel(&mut self, pid: Pid, id: u32, role: Option<Role>) -> bool {
        let Some(c) = self.channels.get_mut(&id) else {
            return false;
        };
        let (leaving, staying): (Vec<Attachment>, Vec<Attachment>) = c
            .attachments
            .iter()
            .partition(|a| a.pid == pid && role.is_none_or(|r| r == a.role));
        if leaving.is_empty() {
            return false;
        }
        c.attachments = staying;
        c.readers_waiting.retain(|w| *w != pid);
        c.writers_waiting.retain(|w| *w != pid);
        let (region, lost) = (c.region, !c.attachments.iter().any(|a| a.pid == pid));
        if lost {
            self.unmapped(pid, region);
        }
        let c = &self.channels[&id];
        let ring = c.ring(&self.arenas);
        let (mut frames_in, mut frames_out) = (0u64, 0u64);
        for a in &leaving {
            match a.role {
                Role::Reader => {
                    frames_in += u64::from(a.frames(&ring));
                    ring.detach_reader(a.endpoint);
                }
                Role::Writer => {
                    frames_out += u64::from(a.frames(&ring));
                    ring.detach_writer(a.endpoint);
                }
            }
        }
        if let Some(p) = self.procs.get_mut(&pid) {
            p.counters.frames_in += frames_in;
            p.counters.frames_out += frames_out;
        }
        // A departing reader can free room, a departing writer's repair can
        // publish tombstones: both sides look again.
        self.wake_parked(id, true, true);
        true
    }

    /// Repairs what `pid`'s stopped instance left in the rings it writes
    /// (a reload swapped it out, or its trial was rolled back): a lock it
    /// held, reservations it never published. Its attachments stay, for
    /// its successor.
    pub(crate) fn instance_stopped(&mut self, pid: Pid) {
        let ids: Vec<u32> = self
            .channels
            .values()
            .filter(|c| c.attachments.iter().any(|a| a.pid == pid))
            .map(|c| c.id)
            .collect();
        for id in ids {
            let c = self.channels.get_mut(&id).expect("listed");
            // The stopped instance's holds end with it; the endpoints stay
            // for the successor.
            for a in c.attachments.iter_mut().filter(|a| a.pid == pid) {
                a.holds = 0;
            }
            let c = &self.channels[&id];
            let ring = c.ring(&self.arenas);
            let locked = ring.lock_holder();
            let mut repaired = 0;
            for a in c
                .attachments
                .iter()
                .filter(|a| a.pid == pid && a.role == Role::Writer)
            {
                repaired += ring.repair_writer(a.endpoint);
            }
            if repaired > 0 || locked != ring.lock_holder() {
                self.wake_parked(id, true, true);
            }
        }
    }

    /// Progress the ring cannot see (a repair, a detach, a drain, a
    /// deletion): ring its doorbell, so processes parked in place on it
    /// return, and wake the parked sides.
    fn wake_parked(&mut self, id: u32, readers: bool, writers: bool) {
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        c.ring(&self.arenas).ring_bell();
        if readers {
            self.effects.wake.extend(c.readers_waiting.drain(..));
        }
        if writers {
            self.effects.wake.extend(c.writers_waiting.drain(..));
        }
    }

    pub(crate) fn detach_all(&mut self, pid: Pid) {
        let ids: Vec<u32> = self
            .channels
            .values()
            .filter(|c| c.attachments.iter().any(|a| a.pid == pid))
            .map(|c| c.id)
            .collect();
        for id in ids {
            self.detach_channel(pid, id, None);
        }
    }

    /// Writes a frame as `pid`'s writer. `block` chooses parking over `Full`.
    pub(crate) fn chan_write_as(
        &mut self,
        pid: Pid,
        id: u32,
        payload: &[u8],
        block: bool,
    ) -> Result<Io, Error> {
        let c = usable(&mut self.channels, id)?;
        let a = *c.attachment(pid, Role::Writer).ok_or(Error::NotAttached)?;
        let ring = c.ring(&self.arenas);
        let mut result = ring.write(a.endpoint, payload);
        let park = block && c.backpressure() == Backpressure::Park;
        if park && result == Err(RingError::Full) {
            ring.set_waiting(tidemark_ring::WAIT_WRITERS);
            // A reader running the ring in place does not take the kernel
            // lock: look once more after announcing, or a read between the
            // failed write and the announcement is never signalled.
            result = ring.write(a.endpoint, payload);
        }
        match result {
            Ok(w) => {
                if w.wake_readers || !c.readers_waiting.is_empty() {
                    let r: Vec<Pid> = c.readers_waiting.drain(..).collect();
                    self.effects.wake.extend(r);
                }
                let meta = tidemark_abi::FrameMeta {
                    writer: a.endpoint,
                    seq: w.seq,
                    len: payload.len() as u32,
                    pid,
                };
                Ok(Io::Done(payload.len() as u32, meta))
            }
            Err(RingError::Full) if c.backpressure() == Backpressure::Drop => {
                ring.count_drop();
                Err(Error::Dropped)
            }
            Err(RingError::Full) if park => {
                if !c.writers_waiting.contains(&pid) {
                    c.writers_waiting.push(pid);
                }
                Ok(Io::Block(Wait::Writable(id)))
            }
            Err(e) => Err(self.ring_error(id, e)),
        }
    }

    /// The in-place path's sleep: parks `pid` (attached as `role`) until the
    /// ring's doorbell moves past `seen`, which the other side rings when it
    /// finds this side's waiter bit set. Returns at once if it already moved.
    pub(crate) fn chan_wait(
        &mut self,
        pid: Pid,
        id: u32,
        role: Role,
        seen: u32,
    ) -> Result<Io, Error> {
        let c = usable(&mut self.channels, id)?;
        c.attachment(pid, role).ok_or(Error::NotAttached)?;
        let ring = c.ring(&self.arenas);
        if let Err(e) = ring.validate_header() {
            return Err(self.ring_error(id, e));
        }
        if role == Role::Reader {
            let slot = c.attachment(pid, role).expect("checked").endpoint;
            if let Err(e) = ring.validate_cursor(slot) {
                return Err(self.ring_error(id, e));
            }
        }
        if ring.doorbell() != seen {
            return Ok(Io::Done(0, Default::default()));
        }
        let (list, wait) = match role {
            Role::Reader => (&mut c.readers_waiting, Wait::Readable(id)),
            Role::Writer => (&mut c.writers_waiting, Wait::Writable(id)),
        };
        if !list.contains(&pid) {
            list.push(pid);
        }
        Ok(Io::Block(wait))
    }

    /// The in-place path's doorbell: wakes the processes parked on the
    /// channel's `readers` or writers (`role` names the side to wake).
    pub(crate) fn chan_notify(&mut self, pid: Pid, id: u32, role: Role) -> Result<(), Error> {
        let c = usable(&mut self.channels, id)?;
        if !c.attachments.iter().any(|a| a.pid == pid) {
            return Err(Error::NotAttached);
        }
        let woken: Vec<Pid> = match role {
            Role::Reader => c.readers_waiting.drain(..).collect(),
            Role::Writer => c.writers_waiting.drain(..).collect(),
        };
        self.effects.wake.extend(woken);
        Ok(())
    }

    /// Reads a frame as `pid`'s reader into `buf`.
    pub(crate) fn chan_read_as(
        &mut self,
        pid: Pid,
        id: u32,
        buf: &mut [u8],
        block: bool,
    ) -> Result<Io, Error> {
        let c = usable(&mut self.channels, id)?;
        let a = *c.attachment(pid, Role::Reader).ok_or(Error::NotAttached)?;
        let ring = c.ring(&self.arenas);
        let mut wake_writers = false;
        let mut read = |buf: &mut [u8]| match ring.read(a.endpoint, buf) {
            Err(RingError::Skipped { wake_writers: w }) => {
                // Tombstones skipped: room for writers, no frame.
                wake_writers |= w || !c.writers_waiting.is_empty();
                Err(RingError::Empty)
            }
            r => r,
        };
        let mut result = read(buf);
        if block && result == Err(RingError::Empty) {
            ring.set_waiting(tidemark_ring::WAIT_READERS);
            // As for writes: an in-place writer may have published in between.
            result = read(buf);
        }
        if wake_writers {
            let w: Vec<Pid> = c.writers_waiting.drain(..).collect();
            self.effects.wake.extend(w);
        }
        if result == Err(RingError::Empty) {
            // Emptiness, or a cursor scribbled out of the live window?
            result = ring.validate_cursor(a.endpoint).and(result);
        }
        match result {
            Ok(r) => {
                if r.wake_writers || !c.writers_waiting.is_empty() {
                    let w: Vec<Pid> = c.writers_waiting.drain(..).collect();
                    self.effects.wake.extend(w);
                }
                // The owner recorded with the frame: its writer may have left.
                Ok(Io::Done(
                    r.len,
                    tidemark_abi::FrameMeta {
                        writer: r.writer,
                        seq: r.seq,
                        len: r.len,
                        pid: r.owner,
                    },
                ))
            }
            Err(RingError::Empty) if block => {
                if !c.readers_waiting.contains(&pid) {
                    c.readers_waiting.push(pid);
                }
                Ok(Io::Block(Wait::Readable(id)))
            }
            Err(RingError::TooLarge(len)) => Ok(Io::TooLarge(len)),
            Err(e) => Err(self.ring_error(id, e)),
        }
    }

    /// Skips the frames pending for `pid`'s reader.
    pub fn drain(&mut self, pid: Pid, id: u32) -> Result<u32, Error> {
        let c = usable(&mut self.channels, id)?;
        let a = *c.attachment(pid, Role::Reader).ok_or(Error::NotAttached)?;
        let drained = c.ring(&self.arenas).drain(a.endpoint);
        let d = drained.map_err(|e| self.ring_error(id, e))?;
        if let Some(a) = self.channels.get_mut(&id).and_then(|c| {
            c.attachments
                .iter_mut()
                .find(|a| a.pid == pid && a.role == Role::Reader)
        }) {
            // Skipped frames were not read.
            a.base = a.base.wrapping_add(d.frames);
        }
        // The ring rang the doorbell if a writer had announced itself.
        let c = self.channels.get_mut(&id).expect("usable");
        self.effects.wake.extend(c.writers_waiting.drain(..));
        Ok(d.frames)
    }

    /// The monitor's `send`: writes a frame as the kernel (never parks).
    pub fn send(&mut self, id: u32, payload: &[u8]) -> Result<u32, Error> {
        if usable(&mut self.channels, id)?
            .attachment(KERNEL_PID, Role::Writer)
            .is_none()
        {
            self.attach(KERNEL_PID, id, Role::Writer)?;
        }
        match self.chan_write_as(KERNEL_PID, id, payload, false)? {
            Io::Done(_, meta) => Ok(meta.seq),
            Io::Block(_) | Io::TooLarge(_) => Err(Error::Full),
        }
    }

    /// The monitor's `tail`: reads the next frame as the kernel's own reader,
    /// attached on first use at the oldest retained frame. While attached it
    /// counts as a reader that bounds writers: detach it with
    /// [`Kernel::detach_channel`]`(KERNEL_PID, ..)` when done.
    pub fn recv(
        &mut self,
        id: u32,
        buf: &mut [u8],
    ) -> Result<Option<tidemark_abi::FrameMeta>, Error> {
        if usable(&mut self.channels, id)?
            .attachment(KERNEL_PID, Role::Reader)
            .is_none()
        {
            self.attach(KERNEL_PID, id, Role::Reader)?;
        }
        match self.chan_read_as(KERNEL_PID, id, buf, false) {
            Ok(Io::Done(_, meta)) => Ok(Some(meta)),
            Ok(Io::Block(_)) | Err(Error::Empty) => Ok(None),
            Ok(Io::TooLarge(_)) => Err(Error::TooLarge),
            Err(e) => Err(e),
        }
    }
}
