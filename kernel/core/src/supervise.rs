//! What a supervisor needs from the kernel: waiting on many channels at
//! once (`chan_select`), spawning a child with its capabilities already in
//! place (`proc_spawn_caps`), and hearing when a child ends (`proc_watch`).
//! The init service is built on these three; any guest may use them.

use alloc::string::String;
use alloc::vec::Vec;
use tidemark_abi::{ChildExit, Error, Rights, Role, Wire};

use crate::channel::usable;
use crate::{Exit, Kernel, Pid, SpawnSpec, Spawned, Wait};

/// Most channels one `chan_select` waits on.
pub const MAX_SELECT: usize = 64;

/// One capability a `proc_spawn_caps` hands the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildGrant {
    /// The parent's handle.
    pub handle: i64,
    /// Rights the child's copy keeps (narrowed from the parent's).
    pub rights: Rights,
    /// The name the child looks it up by.
    pub name: String,
}

/// Parses `proc_spawn_caps` grant records: `handle: i32, rights: u32,
/// name_len: u32, name` each, little-endian, packed.
pub fn parse_grants(mut b: &[u8]) -> Result<Vec<ChildGrant>, Error> {
    let mut out = Vec::new();
    let word = |b: &[u8], at: usize| -> Result<u32, Error> {
        b.get(at..at + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .ok_or(Error::InvalidArgument)
    };
    while !b.is_empty() {
        let handle = word(b, 0)? as i32;
        let rights = Rights(word(b, 4)?);
        let len = word(b, 8)? as usize;
        let name = b.get(12..12usize.checked_add(len).ok_or(Error::InvalidArgument)?);
        let name = core::str::from_utf8(name.ok_or(Error::InvalidArgument)?)
            .map_err(|_| Error::InvalidArgument)?;
        if name.is_empty() || out.len() >= crate::caps::MAX_CAPS {
            return Err(Error::InvalidArgument);
        }
        out.push(ChildGrant {
            handle: i64::from(handle),
            rights,
            name: name.into(),
        });
        b = &b[12 + len..];
    }
    Ok(out)
}

/// The `ChildExit` record for how a process ended.
pub fn child_exit(pid: Pid, exit: &Exit) -> ChildExit {
    let (kind, code) = match exit {
        Exit::Code(c) => (ChildExit::EXITED, *c as u32),
        Exit::Trap(_) => (ChildExit::TRAPPED, 0),
        Exit::Killed => (ChildExit::KILLED, 0),
        Exit::Failed(_) => (ChildExit::FAILED, 0),
    };
    ChildExit { pid, kind, code }
}

impl Kernel {
    /// `chan_select`: the index of the first of `handles` (each attached
    /// as a reader) with a frame pending; else parks the caller on all of
    /// them until one gets a frame or `deadline` (ns since boot, `None` for
    /// none) passes, when it answers `Empty`.
    pub fn chan_select(
        &mut self,
        pid: Pid,
        handles: &[i64],
        deadline: Option<u64>,
    ) -> Result<Result<u32, Wait>, Error> {
        if handles.is_empty() || handles.len() > MAX_SELECT {
            return Err(Error::InvalidArgument);
        }
        let mut ids = Vec::with_capacity(handles.len());
        for &h in handles {
            ids.push(self.channel_cap(pid, h, Rights::READ)?);
        }
        // Two looks: the second after announcing a waiter on every ring, so
        // an in-place writer that published in between either is seen here
        // or sees the bit and rings for us (the handshake of `chan_wait`).
        for announce in [false, true] {
            for (i, &id) in ids.iter().enumerate() {
                let c = usable(&mut self.channels, id)?;
                let slot = c.attachment(pid, Role::Reader).ok_or(Error::NotAttached)?.endpoint;
                let ring = c.ring(&self.arenas);
                if announce {
                    ring.set_waiting(tidemark_ring::WAIT_READERS);
                }
                match ring.pending(slot).and_then(|p| ring.validate_cursor(slot).map(|_| p)) {
                    Ok(true) => return Ok(Ok(i as u32)),
                    Ok(false) => {}
                    Err(e) => return Err(self.ring_error(id, e)),
                }
            }
        }
        if deadline.is_some_and(|d| self.now() >= d) {
            return Err(Error::Empty);
        }
        for id in ids {
            let c = self.channels.get_mut(&id).expect("usable");
            if !c.readers_waiting.contains(&pid) {
                c.readers_waiting.push(pid);
            }
        }
        Ok(Err(Wait::Select(deadline)))
    }

    /// `proc_spawn_caps`: spawns `spec` as `parent`'s child and delegates
    /// `grants` to it before the engine hears of it, so the child's first
    /// instruction already sees them. A refused grant ends the child
    /// unstarted and is the caller's error.
    pub fn spawn_with_caps(
        &mut self,
        parent: Pid,
        mut spec: SpawnSpec,
        grants: &[ChildGrant],
    ) -> Result<Spawned, Error> {
        let mut handles = Vec::with_capacity(grants.len());
        for g in grants {
            let (h, _, r) = self.handle(parent, g.handle)?;
            if !r.contains(Rights::GRANT) {
                return Err(Error::PermissionDenied);
            }
            handles.push(h);
        }
        spec.parent = parent;
        let s = self.spawn(spec).map_err(|e| e.code())?;
        for (g, h) in grants.iter().zip(handles) {
            if let Err(e) = self.delegate(parent, h, s.pid, g.rights, &g.name) {
                let why = alloc::format!("grant `{}` refused: {e}", g.name);
                self.exit(s.pid, Exit::Failed(why));
                return Err(e);
            }
        }
        Ok(s)
    }

    /// `proc_watch`: `handle` (needs `w`) receives a `ChildExit` frame per
    /// child of `pid` that ends; `None` stops it.
    pub fn watch_children(&mut self, pid: Pid, handle: Option<i64>) -> Result<(), Error> {
        let id = match handle {
            Some(h) => Some(self.channel_cap(pid, h, Rights::WRITE)?),
            None => None,
        };
        self.procs.get_mut(&pid).ok_or(Error::NotFound)?.watch = id;
        Ok(())
    }

    /// Tells `pid`'s parent, if it watches, that `pid` ended. Sent as the
    /// kernel, never parking: a watcher that does not read loses frames
    /// (counted as drops on its channel), not the kernel's progress.
    pub(crate) fn notify_parent(&mut self, pid: Pid, exit: &Exit) {
        let Some(parent) = self.procs.get(&pid).map(|p| p.parent) else {
            return;
        };
        let Some(id) = self.procs.get(&parent).filter(|p| p.state.is_live()).and_then(|p| p.watch) else {
            return;
        };
        let mut frame = [0u8; ChildExit::SIZE];
        child_exit(pid, exit).encode(&mut frame);
        let _ = self.send(id, &frame);
    }
}

/// A handle argument that may be negative for "none".
pub(crate) fn optional_handle(raw: i64) -> Option<i64> {
    (raw >= 0).then_some(raw)
}
