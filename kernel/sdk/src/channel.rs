//! Channels: create, attach, read and write frames.
//!
//! Two access paths behind one API. When the kernel maps the ring into this
//! guest's memory (the hosted kernel does; `mapped_at` in the descriptor says
//! where), [`Reader`] and [`Writer`] run the ring in place with wasm atomics:
//! no hostcall per frame, and a hostcall only to sleep when parked or to wake
//! a parked peer. Otherwise (wasmi, QEMU, boards, or a guest built without
//! atomics) every frame goes through the copying hostcalls, where the kernel
//! runs the same ring code on the guest's behalf. Anything the in-place path
//! cannot settle (a corrupt ring, a revoked capability: the kernel then shows
//! zero pages where the ring was) is retried as a hostcall, so the kernel
//! gives the authoritative error.

use crate::abi::{ChannelDescriptor, Error, FrameMeta, Role, Wire, chan_flags, io_flags};
use crate::cap::Cap;
use crate::{Backpressure, Result, check, sys};
use tidemark_ring::Ring;

/// A channel capability.
#[derive(Clone, Copy, Debug)]
pub struct Channel {
    /// The capability.
    pub cap: Cap,
}

/// Metadata of a frame read.
pub type Frame = FrameMeta;

impl Channel {
    /// Creates a channel (needs the `channel` class).
    pub fn create(data_bytes: u32, frames: u32, backpressure: Backpressure) -> Result<Channel> {
        Self::create_flags(data_bytes, frames, backpressure, 0)
    }

    /// Creates a one-writer, one-reader channel: its ring runs without a
    /// writer lock, and the kernel gives a second process attaching in
    /// either role `Exists` (a process's own `Writer`s, or `Reader`s, share
    /// its one endpoint as always).
    pub fn create_single(
        data_bytes: u32,
        frames: u32,
        backpressure: Backpressure,
    ) -> Result<Channel> {
        Self::create_flags(data_bytes, frames, backpressure, chan_flags::SINGLE)
    }

    fn create_flags(
        data_bytes: u32,
        frames: u32,
        backpressure: Backpressure,
        flags: u32,
    ) -> Result<Channel> {
        let flags = flags
            | match backpressure {
                Backpressure::Park => 0,
                Backpressure::Drop => chan_flags::DROP,
            };
        // SAFETY: no pointers.
        check(unsafe { sys::chan_create(data_bytes as i32, frames as i32, flags as i32) })
            .map(|h| Channel { cap: Cap(h as i32) })
    }

    /// A channel granted under `name`.
    pub fn lookup(name: &str) -> Result<Channel> {
        Cap::lookup(name).map(|cap| Channel { cap })
    }

    fn attach(&self, role: Role) -> Result<ChannelDescriptor> {
        let mut b = [0u8; ChannelDescriptor::SIZE];
        loop {
            // SAFETY: `b` is ChannelDescriptor::SIZE bytes.
            match check(unsafe { sys::chan_attach(self.cap.0, role as i32, b.as_mut_ptr() as i32) }) {
                // A reader attaches under the ring's writer lock, whose
                // holder (a writer guest) was preempted mid-reservation, or
                // killed and not yet repaired: let it run, then try again.
                Err(Error::Busy) => crate::time::yield_now(),
                r => return r.map(|_| ChannelDescriptor::decode(&b)),
            }
        }
    }

    /// Attaches as a writer.
    pub fn writer(&self) -> Result<Writer> {
        let desc = self.attach(Role::Writer)?;
        Ok(Writer {
            cap: self.cap,
            ring: in_place(&desc),
            desc,
        })
    }

    /// Attaches as a reader (starting at the oldest retained frame).
    pub fn reader(&self) -> Result<Reader> {
        let desc = self.attach(Role::Reader)?;
        Ok(Reader {
            cap: self.cap,
            ring: in_place(&desc),
            desc,
        })
    }

    /// Deletes the channel (needs the `d` right).
    pub fn delete(self) -> Result<()> {
        // SAFETY: no pointers.
        check(unsafe { sys::chan_delete(self.cap.0) }).map(|_| ())
    }
}

/// The ring, when the kernel mapped it into this guest and this guest has
/// real atomics to run it with. The geometry is the kernel's (from the
/// descriptor), never the ring header's, so a scribbled header cannot steer
/// the ring code outside the window.
fn in_place(desc: &ChannelDescriptor) -> Option<Ring<'static>> {
    if !cfg!(tidemark_atomics) || desc.mapped_at == 0 || desc.mapped_at % 8 != 0 {
        return None;
    }
    let geo = tidemark_ring::Geometry::new(
        desc.data_cap,
        desc.frame_cap,
        desc.max_readers,
        desc.max_writers,
        desc.backpressure,
    )?;
    if geo.data_cap != desc.data_cap
        || geo.frame_cap != desc.frame_cap
        || geo.region_size() > desc.len as usize
    {
        return None;
    }
    // SAFETY: the kernel mapped `desc.len` bytes at `mapped_at` for as long
    // as this attachment lives; if it takes them away they turn into zero
    // pages of our own memory, which the ring code rejects as corrupt.
    Some(unsafe { Ring::from_raw(desc.mapped_at as usize as *mut u8, geo) })
}

/// Wakes the processes parked on `side` of the channel.
fn notify(cap: Cap, side: Role) {
    // SAFETY: no pointers.
    unsafe { sys::chan_notify(cap.0, side as i32) };
}

/// Sleeps in the kernel until the ring's doorbell moves past `seen`.
fn wait(cap: Cap, me: Role, seen: u32) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { sys::chan_wait(cap.0, me as i32, seen as i32) }).map(|_| ())
}

/// Waiting for the peer before parking: it is usually mid-operation on
/// another core, and a park costs two hostcalls and a thread wake-up (µs).
/// Each retry waits twice as long as the last, up to a cap, so a side that
/// waits does not keep pulling the lines the peer is writing (a retry reads
/// the peer's cursor or the next frame's stamp). wasm has no pause
/// instruction (`spin_loop` compiles to nothing): the delay is a counted loop
/// the optimiser must keep.
struct Backoff(u32);

impl Backoff {
    /// Retries before parking (about 50 µs of waiting in all).
    const RETRIES: u32 = 1024;
    /// Longest delay between two retries, as a power of two of loop turns.
    const MAX_SHIFT: u32 = 6;

    fn new() -> Backoff {
        Backoff(0)
    }

    /// Waits a little before the next retry; `false` once it is time to park.
    fn snooze(&mut self) -> bool {
        if self.0 >= Self::RETRIES {
            return false;
        }
        for i in 0..1u32 << self.0.min(Self::MAX_SHIFT) {
            core::hint::black_box(i);
        }
        self.0 += 1;
        true
    }
}

/// The writing end of an attachment. A process is one writer of a channel:
/// its `Writer`s share one endpoint, and the last one dropped detaches it.
#[derive(Debug)]
pub struct Writer {
    cap: Cap,
    desc: ChannelDescriptor,
    ring: Option<Ring<'static>>,
}

impl Writer {
    /// What attach reported (writer id, ring location, whether mapped).
    pub fn descriptor(&self) -> &ChannelDescriptor {
        &self.desc
    }

    /// Whether frames go straight into the ring (no hostcall per frame).
    pub fn in_place(&self) -> bool {
        self.ring.is_some()
    }

    /// The copying path: the kernel writes on our behalf.
    fn put(&self, frame: &[u8], flags: u32) -> Result<()> {
        loop {
            // SAFETY: pointer and length describe `frame`.
            match check(unsafe {
                sys::chan_write(
                    self.cap.0,
                    frame.as_ptr() as i32,
                    frame.len() as i32,
                    flags as i32,
                )
            }) {
                Err(Error::Busy) => crate::time::yield_now(),
                r => return r.map(|_| ()),
            }
        }
    }

    fn write_with(&self, frame: &[u8], flags: u32) -> Result<()> {
        let Some(ring) = &self.ring else {
            return self.put(frame, flags);
        };
        let id = self.desc.endpoint;
        self.in_ring(ring, frame.len(), flags, |ring| ring.write(id, frame))
            .unwrap_or_else(|| self.put(frame, flags))
    }

    /// Runs a ring write (`op`, of a `len`-byte frame) to its end: waits
    /// for room under `Park` (spinning, then parked in the kernel), counts a
    /// drop under `Drop`, wakes readers. `None`: the ring cannot settle it
    /// (corrupt, or revoked: zero pages), so the kernel must.
    fn in_ring(
        &self,
        ring: &Ring<'static>,
        len: usize,
        flags: u32,
        mut op: impl FnMut(
            &Ring<'static>,
        )
            -> core::result::Result<tidemark_ring::Written, tidemark_ring::RingError>,
    ) -> Option<Result<()>> {
        let park =
            self.desc.backpressure == Backpressure::Park as u32 && flags & io_flags::NONBLOCK == 0;
        let mut backoff = Backoff::new();
        loop {
            let result = match op(ring) {
                Err(tidemark_ring::RingError::Full) if park && backoff.snooze() => {
                    // Let the readers get well ahead before trying again (see `has_room`).
                    let g = ring.geometry();
                    while !ring.has_room(g.frame_cap / 4, (len as u32).max(g.data_cap / 4))
                        && backoff.snooze()
                    {}
                    continue;
                }
                Err(tidemark_ring::RingError::Full) if park => {
                    // Read the doorbell, announce, then look once more: a
                    // read after the doorbell was read either made room or
                    // rings it (so `wait` returns at once).
                    let seen = ring.doorbell();
                    ring.set_waiting(tidemark_ring::WAIT_WRITERS);
                    match op(ring) {
                        Err(tidemark_ring::RingError::Full) => {
                            if let Err(e) = wait(self.cap, Role::Writer, seen) {
                                return Some(Err(e));
                            }
                            backoff = Backoff::new();
                            continue;
                        }
                        r => r,
                    }
                }
                r => r,
            };
            return Some(match result {
                Ok(w) => {
                    if w.wake_readers {
                        notify(self.cap, Role::Reader);
                    }
                    Ok(())
                }
                Err(tidemark_ring::RingError::Full)
                    if self.desc.backpressure == Backpressure::Drop as u32 =>
                {
                    ring.count_drop();
                    Err(Error::Dropped)
                }
                Err(tidemark_ring::RingError::Full) => Err(Error::Full),
                Err(tidemark_ring::RingError::TooLarge(_)) => Err(Error::TooLarge),
                // The lock holder is preempted: let it run.
                Err(tidemark_ring::RingError::Busy) => {
                    crate::time::yield_now();
                    continue;
                }
                // Corrupt, not attached (revoked: zero pages): the kernel says which.
                Err(_) => return None,
            });
        }
    }

    /// Writes a frame of `len` bytes where it lies in the ring: `fill` gets
    /// its bytes in place (two parts when the frame wraps round the end of
    /// the data ring; the second is then the rest, and usually empty) and
    /// the frame is published when it returns. No copy through a buffer of
    /// this guest's. Waits for room and drops as [`Writer::write`] does
    /// (`fill` runs once, when there is room).
    ///
    /// Where the ring is not mapped into this guest (the copying path:
    /// wasmi, boards), `fill` writes into a buffer that is then written with
    /// a hostcall: on the stack up to [`LOAN_STACK`] bytes, on the heap with
    /// the `alloc` feature; `TooLarge` past that without it.
    pub fn write_in_place(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]),
    ) -> Result<()> {
        let Some(ring) = &self.ring else {
            return self.put_staged(len, fill);
        };
        let id = self.desc.endpoint;
        let base = ring.base_ptr();
        let mut fill = Some(fill);
        let done = self.in_ring(ring, len, 0, |ring| {
            let r = ring.reserve(id, len)?;
            let (a, b) = ring.reservation_spans(&r);
            // SAFETY: a reservation's spans lie inside the mapped ring
            // and are this writer's alone until it commits.
            let (a, b) = unsafe {
                (
                    core::slice::from_raw_parts_mut(base.add(a.start), a.len()),
                    core::slice::from_raw_parts_mut(base.add(b.start), b.len()),
                )
            };
            match fill.take() {
                Some(f) => {
                    f(a, b);
                    Ok(ring.commit(r))
                }
                // Never: a reservation is followed by a commit, and that ends the loop.
                None => Ok(ring.cancel(r)),
            }
        });
        match (done, fill) {
            (Some(r), _) => r,
            // The ring failed before `fill` ran: the kernel says why.
            (None, Some(f)) => self.put_staged(len, f),
            (None, None) => Err(Error::Corrupt),
        }
    }

    /// [`Writer::write_in_place`] where the ring is not mapped: fill a
    /// buffer, then write it with the hostcall.
    fn put_staged(&self, len: usize, fill: impl FnOnce(&mut [u8], &mut [u8])) -> Result<()> {
        with_buffer(len, |buf| {
            fill(buf, &mut []);
            self.put(buf, 0)
        })
    }

    /// Writes a frame. Under `Park` backpressure waits for room; under
    /// `Drop` a full channel returns `Err(Error::Dropped)` (counted).
    pub fn write(&self, frame: &[u8]) -> Result<()> {
        self.write_with(frame, 0)
    }

    /// Writes a frame or returns `Err(Error::Full)` at once.
    pub fn try_write(&self, frame: &[u8]) -> Result<()> {
        self.write_with(frame, io_flags::NONBLOCK)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: no pointers.
        unsafe { sys::chan_detach(self.cap.0, Role::Writer as i32) };
    }
}

/// The reading end of an attachment. A process is one reader of a channel:
/// its `Reader`s share one cursor (each frame reaches one of them, like
/// clones of one receiver), and the last one dropped detaches it.
#[derive(Debug)]
pub struct Reader {
    cap: Cap,
    desc: ChannelDescriptor,
    ring: Option<Ring<'static>>,
}

impl Reader {
    /// What attach reported.
    pub fn descriptor(&self) -> &ChannelDescriptor {
        &self.desc
    }

    /// Whether frames are read straight from the ring (no hostcall per frame).
    pub fn in_place(&self) -> bool {
        self.ring.is_some()
    }

    /// The copying path: the kernel reads on our behalf.
    fn get(&self, buf: &mut [u8], flags: u32) -> Result<Frame> {
        let mut meta = [0u8; FrameMeta::SIZE];
        // SAFETY: pointers and lengths describe `buf` and `meta`.
        check(unsafe {
            sys::chan_read(
                self.cap.0,
                buf.as_mut_ptr() as i32,
                buf.len() as i32,
                meta.as_mut_ptr() as i32,
                flags as i32,
            )
        })?;
        Ok(FrameMeta::decode(&meta))
    }

    fn read_with(&self, buf: &mut [u8], flags: u32) -> Result<Frame> {
        let Some(ring) = &self.ring else {
            return self.get(buf, flags);
        };
        let slot = self.desc.endpoint;
        match self.in_ring(ring, flags, |ring| ring.read(slot, buf)) {
            Some(Ok(r)) => {
                if r.wake_writers {
                    notify(self.cap, Role::Writer);
                }
                Ok(FrameMeta {
                    writer: r.writer,
                    seq: r.seq,
                    len: r.len,
                    pid: r.owner,
                })
            }
            Some(Err(e)) => Err(e),
            None => self.get(buf, flags),
        }
    }

    /// Runs a ring read (`op`) to its end: waits for a frame unless
    /// `NONBLOCK` (spinning, then parked in the kernel), wakes writers when
    /// only tombstones were skipped. `None`: the ring cannot settle it
    /// (corrupt, or revoked: zero pages), so the kernel must.
    fn in_ring<T>(
        &self,
        ring: &Ring<'static>,
        flags: u32,
        mut op: impl FnMut(&Ring<'static>) -> core::result::Result<T, tidemark_ring::RingError>,
    ) -> Option<Result<T>> {
        let block = flags & io_flags::NONBLOCK == 0;
        let mut backoff = Backoff::new();
        // Tombstones skipped (a writer stopped mid-frame): room was freed,
        // so parked writers may need waking, but there is no frame yet.
        let mut try_op = |ring: &Ring<'static>| match op(ring) {
            Err(tidemark_ring::RingError::Skipped { wake_writers }) => {
                if wake_writers {
                    notify(self.cap, Role::Writer);
                }
                Err(tidemark_ring::RingError::Empty)
            }
            r => r,
        };
        loop {
            let result = match try_op(ring) {
                Err(tidemark_ring::RingError::Empty) if block && backoff.snooze() => continue,
                Err(tidemark_ring::RingError::Empty) if block => {
                    let seen = ring.doorbell();
                    ring.set_waiting(tidemark_ring::WAIT_READERS);
                    match try_op(ring) {
                        // The kernel checks the cursor before it parks us.
                        Err(tidemark_ring::RingError::Empty) => {
                            if let Err(e) = wait(self.cap, Role::Reader, seen) {
                                return Some(Err(e));
                            }
                            backoff = Backoff::new();
                            continue;
                        }
                        r => r,
                    }
                }
                r => r,
            };
            return match result {
                Ok(v) => Some(Ok(v)),
                Err(tidemark_ring::RingError::Empty) => Some(Err(Error::Empty)),
                Err(tidemark_ring::RingError::TooLarge(_)) => Some(Err(Error::TooLarge)),
                Err(_) => None,
            };
        }
    }

    /// Reads the next frame where it lies in the ring, waiting for one: `f`
    /// gets its bytes in place (two parts when it wraps round the end of the
    /// data ring) and its metadata, and the frame is released when `f`
    /// returns. No copy into a buffer of this guest's. The bytes are shared
    /// memory another process wrote: copy what must not change under you
    /// before trusting it (a well-behaved writer never touches a published
    /// frame, a hostile one can).
    ///
    /// On the copying path the frame is read into a buffer first (on the
    /// stack up to [`LOAN_STACK`] bytes, or the ring's whole data size with
    /// the `alloc` feature; `TooLarge`, the frame left queued, past that).
    pub fn read_in_place<R>(&self, f: impl FnOnce(&[u8], &[u8], Frame) -> R) -> Result<R> {
        let Some(ring) = &self.ring else {
            return self.read_buffered(f);
        };
        let slot = self.desc.endpoint;
        let base = ring.base_ptr();
        let p = match self.in_ring(ring, 0, |ring| ring.peek(slot)) {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(e),
            None => return self.read_buffered(f),
        };
        let (a, b) = ring.peeked_spans(&p);
        // SAFETY: a published frame's spans lie inside the mapped
        // ring, and writers leave them alone until this reader releases it.
        let (a, b) = unsafe {
            (
                core::slice::from_raw_parts(base.add(a.start), a.len()),
                core::slice::from_raw_parts(base.add(b.start), b.len()),
            )
        };
        let meta = FrameMeta {
            writer: p.writer,
            seq: p.seq,
            len: p.len,
            pid: p.owner,
        };
        let out = f(a, b, meta);
        if ring.release(slot, p).wake_writers {
            notify(self.cap, Role::Writer);
        }
        Ok(out)
    }

    /// [`Reader::read_in_place`] where the ring is not mapped: read a copy.
    fn read_buffered<R>(&self, f: impl FnOnce(&[u8], &[u8], Frame) -> R) -> Result<R> {
        with_buffer(self.desc.data_cap as usize, |buf| {
            let meta = self.get(buf, 0)?;
            Ok(f(&buf[..meta.len as usize], &[], meta))
        })
    }

    /// Reads the next frame into `buf`, waiting for one. A frame larger than
    /// `buf` stays queued and `Err(Error::TooLarge)` is returned.
    pub fn read(&self, buf: &mut [u8]) -> Result<Frame> {
        self.read_with(buf, 0)
    }

    /// Reads the next frame or returns `Err(Error::Empty)` at once.
    pub fn try_read(&self, buf: &mut [u8]) -> Result<Frame> {
        self.read_with(buf, io_flags::NONBLOCK)
    }

    /// Skips every pending frame; returns how many (the kernel runs it, on
    /// either path, so parked writers are woken).
    pub fn drain(&self) -> Result<u32> {
        // SAFETY: no pointers.
        check(unsafe { sys::chan_drain(self.cap.0) })
    }
}

impl Reader {
    /// The capability this reader reads through.
    pub fn cap(&self) -> Cap {
        self.cap
    }
}

/// Largest frame an in-place call on the copying path stages on the stack
/// (without the `alloc` feature, the largest it can stage at all).
pub const LOAN_STACK: usize = 4096;

/// Runs `f` on a zeroed buffer of `len` bytes (at most `LOAN_STACK` on the
/// stack; more on the heap with `alloc`, else `TooLarge`).
fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [u8]) -> Result<R>) -> Result<R> {
    if len <= LOAN_STACK {
        let mut buf = [0u8; LOAN_STACK];
        return f(&mut buf[..len]);
    }
    #[cfg(feature = "alloc")]
    {
        f(&mut alloc::vec![0u8; len])
    }
    #[cfg(not(feature = "alloc"))]
    {
        Err(Error::TooLarge)
    }
}

/// Waits until one of `readers` has a frame and returns its index (the
/// first ready one; rotate the slice for fairness). `deadline` is a
/// [`time::now`](crate::time::now) value to give up at with `Empty`, or
/// `None` to wait as long as it takes. At most 64 readers.
pub fn select(readers: &[&Reader], deadline: Option<u64>) -> Result<usize> {
    let mut handles = [0i32; 64];
    if readers.is_empty() || readers.len() > handles.len() {
        return Err(Error::InvalidArgument);
    }
    for (h, r) in handles.iter_mut().zip(readers) {
        *h = r.cap.0;
    }
    let deadline = deadline.map_or(-1, |d| d.min(i64::MAX as u64) as i64);
    // SAFETY: the pointer and count describe `handles`' first entries.
    check(unsafe { sys::chan_select(handles.as_ptr() as i32, readers.len() as i32, deadline) })
        .map(|i| i as usize)
}

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: no pointers.
        unsafe { sys::chan_detach(self.cap.0, Role::Reader as i32) };
    }
}
