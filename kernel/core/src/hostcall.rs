//! The semantics of every hostcall, written once for every engine.

use core::ops::Range;

use alloc::string::String;
use tidemark_abi::{self as abi, CapInfo, Error, Handle, Level, Rights, Role, Wire, io_flags, nr};

use crate::caps::{CapTable, Object};
use crate::channel::Io;
use crate::{EventKind, Kernel, Outcome, Pid, ProcState, SpawnSpec, Wait};

/// Bounds-checks a guest pointer/length pair against linear memory.
fn span(mem: &[u8], ptr: i64, len: i64) -> Result<Range<usize>, Error> {
    let ptr = u32::try_from(ptr & 0xFFFF_FFFF).map_err(|_| Error::OutOfBounds)? as usize;
    let len = i32::try_from(len)
        .ok()
        .and_then(|l| usize::try_from(l).ok())
        .ok_or(Error::InvalidArgument)?;
    let end = ptr.checked_add(len).ok_or(Error::OutOfBounds)?;
    if end > mem.len() {
        Err(Error::OutOfBounds)
    } else {
        Ok(ptr..end)
    }
}

fn out<T: Wire>(mem: &mut [u8], ptr: i64, v: &T) -> Result<(), Error> {
    if ptr == 0 {
        return Ok(());
    }
    let r = span(mem, ptr, T::SIZE as i64)?;
    v.encode(&mut mem[r]);
    Ok(())
}

fn text(mem: &[u8], ptr: i64, len: i64) -> Result<&str, Error> {
    core::str::from_utf8(&mem[span(mem, ptr, len)?]).map_err(|_| Error::InvalidArgument)
}

fn ret(r: Result<i64, Error>) -> Outcome {
    Outcome::Return(match r {
        Ok(v) => v,
        Err(e) => e.code() as i64,
    })
}

/// Whether [`answer_local`] answers hostcall `number`: an engine may link
/// these to a path that does not take the kernel lock.
pub const fn is_local(number: u16) -> bool {
    matches!(number, nr::cap_check | nr::proc_self | nr::time_now)
}

/// Answers the hostcalls that read only the caller's own capability table,
/// its pid or the clock ([`is_local`]); `None` for the rest. The kernel runs
/// them on the process's table; an engine may run them on a copy of it,
/// without the kernel lock, while the table's
/// [`version`](crate::caps::CapTable::version) has not moved since the
/// copy (a call that races a revoke is ordered before it). Arguments are
/// the catalogue's, already checked for count and class.
#[inline]
pub fn answer_local(
    caps: &CapTable,
    pid: Pid,
    number: u16,
    args: &[i64],
    now: impl FnOnce() -> u64,
) -> Option<i64> {
    match number {
        nr::cap_check => Some(match caps.get_raw(args[0]) {
            Ok((_, e)) if e.rights.contains(Rights(args[1] as u32)) => 0,
            Ok(_) => Error::PermissionDenied.code() as i64,
            Err(e) => e.code() as i64,
        }),
        nr::proc_self => Some(pid as i64),
        nr::time_now => Some(now() as i64),
        _ => None,
    }
}

impl Kernel {
    /// Runs hostcall `number` for `pid` with `args` (i32 arguments
    /// sign-extended) over the process's linear memory.
    pub fn hostcall(&mut self, pid: Pid, number: u16, args: &[i64], mem: &mut [u8]) -> Outcome {
        let time = self.time();
        let Some(p) = self.procs.get_mut(&pid) else {
            return Outcome::Exit(-1);
        };
        p.counters.hostcalls += 1;
        let classes = p.classes;
        let recorded = p.recording.is_some();
        let Some((class, nargs)) = abi::signature(number) else {
            return ret(Err(Error::InvalidArgument));
        };
        if !classes.has(class) || args.len() != nargs {
            return Outcome::Return(self.deny(pid, number, args));
        }
        let a = |i: usize| args[i];
        if let Some(v) = answer_local(&p.caps, pid, number, args, || time.now()) {
            if recorded {
                self.record_call(pid, number, args, mem, &Outcome::Return(v));
            }
            return Outcome::Return(v);
        }
        // A call retried after a wake that parks again on the same thing
        // keeps the time it first parked (`why` reports how long it waited).
        let parked = match p.state {
            ProcState::Blocked(w) => Some((w, p.since_ns)),
            _ => None,
        };
        if p.state != ProcState::Running {
            p.enter(ProcState::Running, || time.now());
        }
        let outcome = match number {
            nr::cap_lookup => ret(text(mem, a(0), a(1)).and_then(|name| {
                let p = &self.procs[&pid];
                p.caps
                    .lookup(name)
                    .map(|h| h.to_raw() as i64)
                    .ok_or(Error::NotFound)
            })),
            nr::cap_info => ret(self.handle(pid, a(0)).and_then(|(h, o, r)| {
                out(
                    mem,
                    a(1),
                    &CapInfo {
                        kind: o.kind() as u32,
                        rights: r.0,
                        object: o.id(),
                        generation: h.generation as u32,
                    },
                )
                .map(|_| 0)
            })),
            nr::cap_drop => ret(self.handle(pid, a(0)).map(|(h, _, _)| {
                self.remove_cap(crate::caps::CapRef { pid, handle: h });
                0
            })),
            nr::cap_delegate => ret(self.handle(pid, a(0)).and_then(|(h, _, _)| {
                let name = String::from(text(mem, a(3), a(4))?);
                let to = u32::try_from(a(1)).map_err(|_| Error::NotFound)?;
                self.delegate(pid, h, to, Rights(a(2) as u32), &name)
                    .map(|h| h.to_raw() as i64)
            })),
            nr::cap_revoke => ret(self.handle(pid, a(0)).and_then(|(h, _, r)| {
                if !r.contains(Rights::GRANT) {
                    return Err(Error::PermissionDenied);
                }
                self.revoke_children(pid, h).map(|n| n as i64)
            })),
            nr::proc_args => ret((|| {
                let args = &self.procs[&pid].args;
                let r = span(mem, a(0), a(1))?;
                let n = args.len().min(r.len());
                mem[r.start..r.start + n].copy_from_slice(&args[..n]);
                Ok(args.len() as i64)
            })()),
            nr::proc_state => ret((|| {
                let blob = &self.procs[&pid].state_blob;
                let r = span(mem, a(0), a(1))?;
                let n = blob.len().min(r.len());
                mem[r.start..r.start + n].copy_from_slice(&blob[..n]);
                Ok(blob.len() as i64)
            })()),
            nr::proc_exit => Outcome::Exit(a(0) as i32),
            nr::yield_now => Outcome::Block(Wait::Yield),
            nr::log => ret(text(mem, a(1), a(2)).and_then(|t| {
                if !self.log_allowed(pid) {
                    return Err(Error::LimitReached);
                }
                let text = String::from(t);
                self.event(EventKind::Log {
                    pid,
                    level: Level::from_u32(a(0) as u32),
                    text,
                });
                Ok(0)
            })),
            nr::sleep if a(0) <= 0 => Outcome::Block(Wait::Yield),
            nr::sleep => Outcome::Block(Wait::Until(self.now().saturating_add(a(0) as u64))),
            nr::chan_create => ret((|| {
                let flags = a(2) as u32;
                if flags & !abi::chan_flags::ALL != 0 {
                    return Err(Error::InvalidArgument);
                }
                let bp = if flags & abi::chan_flags::DROP != 0 {
                    abi::Backpressure::Drop
                } else {
                    abi::Backpressure::Park
                };
                let parties = if flags & abi::chan_flags::SINGLE != 0 {
                    crate::channel::Parties::Single
                } else {
                    crate::channel::Parties::Many
                };
                let (data, frames) = (
                    u32::try_from(a(0)).map_err(|_| Error::InvalidArgument)?,
                    u32::try_from(a(1)).map_err(|_| Error::InvalidArgument)?,
                );
                let name = alloc::format!("chan-{pid}");
                let id = self.create_channel_for(&name, data, frames, bp, parties, pid)?;
                let h = self.grant(pid, &name, Object::Channel(id), Rights::ALL);
                if h.is_err() {
                    self.delete_channel(id).ok();
                }
                Ok(h?.to_raw() as i64)
            })()),
            nr::chan_attach => ret((|| {
                let id = self.channel_cap(pid, a(0), Rights::NONE)?;
                let role = Role::from_u32(a(1) as u32).ok_or(Error::InvalidArgument)?;
                let need = if role == Role::Reader {
                    Rights::READ
                } else {
                    Rights::WRITE
                };
                self.channel_cap(pid, a(0), need)?;
                if a(2) != 0 {
                    span(mem, a(2), abi::ChannelDescriptor::SIZE as i64)?;
                }
                let d = self.attach(pid, id, role)?;
                out(mem, a(2), &d)?;
                if a(2) != 0 && self.procs[&pid].recording.is_none() {
                    // An engine that can map the ring into the guest does so
                    // now (not into a recorded one: what it reads must cross
                    // a hostcall).
                    self.effects.attached.push(crate::Attached {
                        pid,
                        channel: id,
                        descriptor: a(2) as u32,
                    });
                }
                Ok(0)
            })()),
            nr::chan_detach => ret((|| {
                let id = self.channel_cap(pid, a(0), Rights::NONE)?;
                let role = Role::from_u32(a(1) as u32).ok_or(Error::InvalidArgument)?;
                if self.release(pid, id, role) {
                    Ok(0)
                } else {
                    Err(Error::NotAttached)
                }
            })()),
            nr::chan_write => match (|| {
                let id = self.channel_cap(pid, a(0), Rights::WRITE)?;
                let r = span(mem, a(1), a(2))?;
                let block = a(3) as u32 & io_flags::NONBLOCK == 0;
                self.chan_write_as(pid, id, &mem[r], block)
            })() {
                // Frames are counted from the ring (`Attachment::frames`), on either path.
                Ok(Io::Done(n, _)) => Outcome::Return(n as i64),
                Ok(Io::Block(w)) => Outcome::Block(w),
                Ok(Io::TooLarge(_)) => ret(Err(Error::TooLarge)),
                Err(e) => ret(Err(e)),
            },
            nr::chan_read => match (|| {
                let id = self.channel_cap(pid, a(0), Rights::READ)?;
                let r = span(mem, a(1), a(2))?;
                if a(3) != 0 {
                    span(mem, a(3), abi::FrameMeta::SIZE as i64)?;
                }
                let block = a(4) as u32 & io_flags::NONBLOCK == 0;
                self.chan_read_as(pid, id, &mut mem[r], block)
            })() {
                Ok(Io::Done(n, meta)) => ret(out(mem, a(3), &meta).map(|_| n as i64)),
                Ok(Io::TooLarge(len)) => {
                    let meta = abi::FrameMeta {
                        len,
                        ..Default::default()
                    };
                    ret(out(mem, a(3), &meta).and(Err(Error::TooLarge)))
                }
                Ok(Io::Block(w)) => Outcome::Block(w),
                Err(e) => ret(Err(e)),
            },
            nr::chan_wait => match (|| {
                let id = self.channel_cap(pid, a(0), Rights::NONE)?;
                let role = Role::from_u32(a(1) as u32).ok_or(Error::InvalidArgument)?;
                self.chan_wait(pid, id, role, a(2) as u32)
            })() {
                Ok(Io::Block(w)) => Outcome::Block(w),
                Ok(_) => Outcome::Return(0),
                Err(e) => ret(Err(e)),
            },
            nr::chan_notify => ret((|| {
                let id = self.channel_cap(pid, a(0), Rights::NONE)?;
                let role = Role::from_u32(a(1) as u32).ok_or(Error::InvalidArgument)?;
                self.chan_notify(pid, id, role).map(|_| 0)
            })()),
            nr::chan_select => match (|| {
                let count = usize::try_from(a(1)).map_err(|_| Error::InvalidArgument)?;
                if count == 0 || count > crate::supervise::MAX_SELECT {
                    return Err(Error::InvalidArgument);
                }
                let r = span(mem, a(0), count as i64 * 4)?;
                let mut handles = [0i64; crate::supervise::MAX_SELECT];
                for (h, w) in handles.iter_mut().zip(mem[r].chunks_exact(4)) {
                    *h = i64::from(i32::from_le_bytes([w[0], w[1], w[2], w[3]]));
                }
                let deadline = u64::try_from(a(2)).ok();
                self.chan_select(pid, &handles[..count], deadline)
            })() {
                Ok(Ok(i)) => Outcome::Return(i64::from(i)),
                Ok(Err(w)) => Outcome::Block(w),
                Err(e) => ret(Err(e)),
            },
            nr::chan_drain => ret(self
                .channel_cap(pid, a(0), Rights::READ)
                .and_then(|id| self.drain(pid, id).map(i64::from))),
            nr::chan_delete => ret(self
                .channel_cap(pid, a(0), Rights::DELETE)
                .and_then(|id| self.delete_channel(id).map(|_| 0))),
            nr::shm_alloc => ret((|| {
                let size = usize::try_from(a(0)).map_err(|_| Error::InvalidArgument)?;
                let align = usize::try_from(a(1))
                    .map_err(|_| Error::InvalidArgument)?
                    .max(1);
                let id = self.alloc_region(pid, size, align)?;
                let name = alloc::format!("region-{id}");
                match self.grant(pid, &name, Object::Region(id), Rights::ALL) {
                    Ok(h) => Ok(h.to_raw() as i64),
                    Err(e) => {
                        self.destroy(Object::Region(id));
                        Err(e)
                    }
                }
            })()),
            nr::shm_attach => ret((|| {
                let id = self.region_cap(pid, a(0), Rights::NONE)?;
                let r = self.arenas.region(id).ok_or(Error::Closed)?;
                let region = abi::ShmRegion {
                    arena: r.arena,
                    offset: r.offset as u32,
                    len: r.len as u32,
                    mapped_at: 0,
                };
                out(mem, a(1), &region).map(|_| 0)
            })()),
            nr::shm_detach => ret(self.region_cap(pid, a(0), Rights::NONE).map(|_| 0)),
            nr::shm_read | nr::shm_write => ret((|| {
                let write = number == nr::shm_write;
                let id =
                    self.region_cap(pid, a(0), if write { Rights::WRITE } else { Rights::READ })?;
                let (base, len) = self.arenas.region_ptr(id).ok_or(Error::Closed)?;
                let g = span(mem, a(2), a(3))?;
                let off = usize::try_from(a(1)).map_err(|_| Error::OutOfBounds)?;
                if off.checked_add(g.len()).is_none_or(|end| end > len) {
                    return Err(Error::OutOfBounds);
                }
                // SAFETY: off..off+len lies inside the live region.
                let region = unsafe { core::slice::from_raw_parts_mut(base.add(off), g.len()) };
                if write {
                    region.copy_from_slice(&mem[g.clone()])
                } else {
                    mem[g.clone()].copy_from_slice(region)
                }
                Ok(g.len() as i64)
            })()),
            nr::display_info => ret(self
                .display_info(pid, a(0))
                .and_then(|info| out(mem, a(1), &info).map(|_| 0))),
            nr::display_present => ret(self
                .display_present(pid, a(0))
                .map(|n| n.min(i32::MAX as u64) as i64)),
            nr::proc_spawn => ret((|| {
                let name = String::from(text(mem, a(0), a(1))?);
                let args = mem[span(mem, a(2), a(3))?].to_vec();
                let mut spec = SpawnSpec::new(&name).args(&args).allow(classes);
                spec.parent = pid;
                let s = self.spawn(spec).map_err(|e| e.code())?;
                let child = s.pid;
                self.effects.spawn.push(s);
                Ok(child as i64)
            })()),
            nr::proc_spawn_caps => ret((|| {
                let name = String::from(text(mem, a(0), a(1))?);
                let args = mem[span(mem, a(2), a(3))?].to_vec();
                let grants = crate::supervise::parse_grants(&mem[span(mem, a(4), a(5))?])?;
                let spec = SpawnSpec::new(&name).args(&args).allow(classes);
                let s = self.spawn_with_caps(pid, spec, &grants)?;
                let child = s.pid;
                self.effects.spawn.push(s);
                Ok(child as i64)
            })()),
            nr::proc_watch => ret(self
                .watch_children(pid, crate::supervise::optional_handle(a(0)))
                .map(|_| 0)),
            nr::pkg_resolve => match text(mem, a(0), a(1)).map(String::from) {
                Err(e) => ret(Err(e)),
                Ok(name) => {
                    let r = self.pkg_resolve_call(pid, &name);
                    let packages = &self.packages;
                    crate::resolve::outcome(r, |h| {
                        let at = span(mem, a(2), 32)?;
                        mem[at].copy_from_slice(&h.0);
                        Ok(packages.iter().find(|p| p.hash == *h).map_or(0, |p| p.bytes.len() as i64))
                    })
                }
            },
            nr::proc_kill => ret((|| {
                let target = u32::try_from(a(0)).map_err(|_| Error::NotFound)?;
                if self.procs.get(&target).is_none_or(|p| p.parent != pid) {
                    return Err(Error::PermissionDenied);
                }
                self.kill(target).map(|_| 0)
            })()),
            _ => ret(Err(Error::InvalidArgument)),
        };
        match outcome {
            Outcome::Block(w) => {
                let p = self.procs.get_mut(&pid).expect("caller");
                p.enter(ProcState::Blocked(w), || time.now());
                if let Some((_, since)) = parked.filter(|(before, _)| *before == w) {
                    p.since_ns = since;
                }
                p.counters.parks += 1;
            }
            Outcome::Return(c) if c == Error::PermissionDenied.code() as i64 => {
                self.explain_denial(pid, number, args)
            }
            _ => {}
        }
        if recorded {
            self.record_call(pid, number, args, mem, &outcome);
        }
        outcome
    }

    pub(crate) fn handle(&self, pid: Pid, raw: i64) -> Result<(Handle, Object, Rights), Error> {
        let p = self.procs.get(&pid).ok_or(Error::NotFound)?;
        let (h, e) = p.caps.get_raw(raw)?;
        Ok((h, e.object, e.rights))
    }

    pub(crate) fn channel_cap(&self, pid: Pid, raw: i64, need: Rights) -> Result<u32, Error> {
        match self.handle(pid, raw)? {
            (_, Object::Channel(id), r) if r.contains(need) => Ok(id),
            (_, Object::Channel(_), _) => Err(Error::PermissionDenied),
            _ => Err(Error::InvalidHandle),
        }
    }

    pub(crate) fn region_cap(&self, pid: Pid, raw: i64, need: Rights) -> Result<u32, Error> {
        match self.handle(pid, raw)? {
            (_, Object::Region(id), r) if r.contains(need) => Ok(id),
            (_, Object::Region(_), _) => Err(Error::PermissionDenied),
            _ => Err(Error::InvalidHandle),
        }
    }
}
