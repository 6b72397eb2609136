//! The kernel side: serving requests and pumping a connection.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use tidemark_abi::{Backpressure, Error, Handle, Rights};
use tidemark_kernel::arena::Purpose;
use tidemark_kernel::caps::Object;
use tidemark_kernel::{EventKind, Exit, Kernel, KERNEL_PID, Pid, ProcState, SpawnSpec, Wait};

use crate::frame::{Body, DecodeError, Decoder, encode};
use crate::proto::*;
use crate::PROTOCOL_VERSION;

/// A kernel instance the monitor can serve: the kernel core plus the engine
/// operations (spawn, kill) that need more than the core.
pub trait Target {
    /// Runs `f` on the kernel (and carries out the effects it produces).
    fn with_kernel(&self, f: &mut dyn FnMut(&mut Kernel));
    /// Spawns a process; the error is shown to the user.
    fn spawn(&self, spec: SpawnSpec) -> Result<Pid, String>;
    /// Kills a process.
    fn kill(&self, pid: Pid);
    /// Hot-reloads a process; returns the hash now running (hex) and how
    /// long it took. The error is shown to the user.
    fn reload(&self, pid: Pid, package: &str) -> Result<(String, ReloadTiming), String>;
    /// Board name (`hosted`, `qemu-riscv32`, ...).
    fn board(&self) -> String;
    /// Engine name (`wasmtime 48`, `wasmi 2`, ...).
    fn engine(&self) -> String;
    /// The machine's memory, on boards where the kernel owns it.
    fn memory(&self) -> Option<BoardMemory> {
        None
    }
}

fn kernel<T: Target + ?Sized, R>(t: &T, f: impl FnOnce(&mut Kernel) -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    t.with_kernel(&mut |k| out = Some((f.take().expect("called once"))(k)));
    out.expect("with_kernel runs its closure")
}

fn refused(e: Error) -> Response {
    Response::Error(ErrorReply { kind: ErrorKind::Refused, code: Some(e.code()), message: e.to_string() })
}

fn not_found(what: String) -> Response {
    Response::Error(ErrorReply { kind: ErrorKind::NotFound, code: None, message: what })
}

fn object(o: ObjectRef) -> Object {
    match o {
        ObjectRef::Channel(id) => Object::Channel(id),
        ObjectRef::Region(id) => Object::Region(id),
    }
}

/// Kernel identity as the monitor reports it.
pub fn info<T: Target + ?Sized>(t: &T) -> KernelInfo {
    KernelInfo {
        version: String::from(env!("CARGO_PKG_VERSION")),
        protocol: PROTOCOL_VERSION,
        abi: tidemark_abi::ABI_VERSION,
        board: t.board(),
        engine: t.engine(),
        uptime_ns: kernel(t, |k| k.now()),
        memory: t.memory(),
    }
}

fn state(s: &ProcState) -> (String, String) {
    let (a, b) = match s {
        ProcState::Starting => ("starting", String::new()),
        ProcState::Running => ("running", String::new()),
        ProcState::Blocked(Wait::Readable(c)) => ("blocked", format!("read chan {c}")),
        ProcState::Blocked(Wait::Writable(c)) => ("blocked", format!("write chan {c}")),
        ProcState::Blocked(Wait::Until(_)) => ("blocked", "sleep".into()),
        ProcState::Blocked(Wait::Yield) => ("running", String::new()),
        ProcState::Ended(Exit::Code(c)) => ("exited", format!("code {c}")),
        ProcState::Ended(Exit::Trap(r)) => ("trapped", r.clone()),
        ProcState::Ended(Exit::Killed) => ("killed", String::new()),
        ProcState::Ended(Exit::Failed(r)) => ("failed", r.clone()),
    };
    (a.into(), b)
}

/// The event stream as records.
pub fn events(k: &Kernel, after: u64) -> Vec<EventRecord> {
    k.events_since(after)
        .map(|e| {
            let (kind, pid, level, text) = match &e.kind {
                EventKind::Log { pid, level, text } => ("log", *pid, Some(level.name().into()), text.clone()),
                EventKind::Spawned { pid, package } => ("spawned", *pid, None, package.clone()),
                EventKind::Ended { pid, exit } => {
                    let (s, d) = state(&ProcState::Ended(exit.clone()));
                    return EventRecord { seq: e.seq, time_ns: e.time_ns, kind: s, pid: *pid, level: None, text: d };
                }
                EventKind::Denied { pid, hostcall } => ("denied", *pid, None, String::from(*hostcall)),
                EventKind::Reloaded { pid, package, hash } => ("reloaded", *pid, None, format!("{package} sha256:{hash}")),
                EventKind::RolledBack { pid, package, hash, reason } => {
                    ("rolled-back", *pid, None, format!("{package} sha256:{hash}: the new module failed: {reason}"))
                }
                EventKind::Corrupt { channel, what } => ("corrupt", 0, None, format!("chan {channel}: {what}")),
            };
            EventRecord { seq: e.seq, time_ns: e.time_ns, kind: kind.into(), pid, level, text }
        })
        .collect()
}

fn package_info(p: &tidemark_kernel::package::Package) -> PackageInfo {
    PackageInfo { name: p.name.clone(), hash: p.hash.hex(), size: p.bytes.len() as u64, pinned: p.pinned }
}

/// Serves one request. Never panics on any request.
pub fn handle<T: Target + ?Sized>(t: &T, req: Request) -> Response {
    match req {
        Request::Hello { version, .. } if version != PROTOCOL_VERSION => Response::Error(ErrorReply {
            kind: ErrorKind::Version,
            code: None,
            message: format!("kernel speaks monitor protocol v{PROTOCOL_VERSION}, client v{version}"),
        }),
        Request::Hello { .. } => Response::Hello(info(t)),
        Request::Info => Response::Info(info(t)),
        Request::Ps => Response::Ps(kernel(t, |k| {
            k.ps()
                .into_iter()
                .map(|p| {
                    let (state, detail) = state(&p.state);
                    ProcessInfo {
                        pid: p.pid,
                        name: p.name,
                        package: p.package,
                        hash: p.hash,
                        state,
                        detail,
                        classes: p.classes.iter().map(|c| c.name().into()).collect(),
                        caps: p.caps as u32,
                        memory: p.memory.0 as u64,
                        memory_limit: p.memory.1 as u64,
                        parent: p.parent,
                        hostcalls: p.counters.hostcalls,
                        denials: p.counters.denials,
                        frames_out: p.counters.frames_out,
                        frames_in: p.counters.frames_in,
                    }
                })
                .collect()
        })),
        Request::Caps { pid } => match kernel(t, |k| k.caps(pid)) {
            None => not_found(format!("no process {pid}")),
            Some(caps) => Response::Caps(
                caps.into_iter()
                    .map(|c| CapRow {
                        handle: c.handle,
                        index: c.index,
                        generation: c.generation,
                        kind: c.object.kind().name().into(),
                        object: c.object.id(),
                        rights: c.rights.to_string(),
                        name: c.name,
                        parent: c.parent,
                        children: c.children as u32,
                    })
                    .collect(),
            ),
        },
        Request::Channels => Response::Channels(kernel(t, |k| {
            k.channel_views()
                .into_iter()
                .map(|c| ChannelInfo {
                    id: c.id,
                    name: c.name,
                    backpressure: c.backpressure.into(),
                    data_cap: c.data_cap,
                    frame_cap: c.frame_cap,
                    bytes_in_flight: c.stats.bytes_in_flight,
                    frames_in_flight: c.stats.frames_in_flight,
                    head_seq: c.stats.head_seq,
                    drops: c.stats.drops,
                    readers: c.readers.iter().map(|r| ReaderInfo { pid: r.0, slot: r.1, seq: r.2, lag: r.3 }).collect(),
                    writers: c.writers.iter().map(|w| WriterInfo { pid: w.0, id: w.1, frames: w.2 }).collect(),
                    parked_readers: c.parked.0,
                    parked_writers: c.parked.1,
                    corrupt: c.corrupt.map(String::from),
                })
                .collect()
        })),
        Request::Arenas => Response::Arenas(kernel(t, |k| {
            k.arena_views()
                .into_iter()
                .map(|a| ArenaInfo {
                    id: a.id,
                    size: a.size as u64,
                    used: a.used as u64,
                    free: (a.size - a.used) as u64,
                    high_water: a.high_water as u64,
                    fragmentation: a.fragmentation,
                    regions: a
                        .regions
                        .iter()
                        .map(|r| RegionInfo {
                            id: r.0,
                            offset: r.1 as u64,
                            len: r.2 as u64,
                            owner: r.3,
                            purpose: match r.4 {
                                Purpose::Shm => "shm".into(),
                                Purpose::Channel(c) => format!("chan {c}"),
                            },
                        })
                        .collect(),
                })
                .collect()
        })),
        Request::Packages => Response::Packages(kernel(t, |k| {
            let c = k.packages();
            CacheInfo {
                slots: c.slots() as u32,
                hits: c.counters().hits,
                misses: c.counters().misses,
                evictions: c.counters().evictions,
                packages: c.iter().map(package_info).collect(),
            }
        })),
        Request::CreateChannel { name, data_bytes, frames, drop } => {
            let bp = if drop { Backpressure::Drop } else { Backpressure::Park };
            match kernel(t, |k| {
                if k.channel_by_name(&name).is_some() {
                    return Err(Error::Exists);
                }
                k.create_channel(&name, data_bytes, frames, bp, KERNEL_PID)
            }) {
                Ok(id) => Response::ChannelCreated { id },
                Err(e) => refused(e),
            }
        }
        Request::DeleteChannel { id } => match kernel(t, |k| k.delete_channel(id)) {
            Ok(()) => Response::Done,
            Err(_) => not_found(format!("no channel {id}")),
        },
        Request::Spawn { package, name, args, grants, memory_limit } => {
            let mut spec = SpawnSpec::new(&package).args(&args);
            spec.name = name;
            spec.memory_limit = memory_limit.map(|m| m as usize);
            for g in grants {
                spec = spec.grant(&g.name, object(g.object), Rights(g.rights));
            }
            match t.spawn(spec) {
                Ok(pid) => Response::Spawned { pid },
                Err(message) => Response::Error(ErrorReply { kind: ErrorKind::Refused, code: None, message }),
            }
        }
        Request::Reload { pid, package } => match t.reload(pid, &package) {
            Ok((hash, timing)) => Response::Reloaded { pid, hash, timing },
            Err(message) => Response::Error(ErrorReply { kind: ErrorKind::Refused, code: None, message }),
        },
        Request::Kill { pid } => match kernel(t, |k| k.process(pid).map(|p| matches!(p.state, ProcState::Ended(_)))) {
            None => not_found(format!("no process {pid}")),
            Some(true) => refused(Error::Closed),
            Some(false) => {
                t.kill(pid);
                Response::Done
            }
        },
        Request::Upload { name, bytes, pin } => {
            match kernel(t, |k| k.install(&name, Arc::from(bytes), pin).map(|_| k.packages().peek(&name).map(package_info))) {
                Ok(Some(p)) => Response::Uploaded(p),
                Ok(None) => not_found(name),
                Err(e) => refused(e),
            }
        }
        Request::Send { channel, data } => match kernel(t, |k| k.send(channel, &data)) {
            Ok(seq) => Response::Sent { seq },
            Err(e) => refused(e),
        },
        Request::Tail { channel, max } => {
            let r = kernel(t, |k| {
                let mut frames = Vec::new();
                let mut buf = alloc::vec![0u8; k.config().max_frame];
                while frames.len() < max as usize {
                    match k.recv(channel, &mut buf)? {
                        Some(m) => frames.push(FrameRecord { seq: m.seq, pid: m.pid, writer: m.writer, data: buf[..m.len as usize].to_vec() }),
                        None => break,
                    }
                }
                Ok(frames)
            });
            match r {
                Ok(f) => Response::Frames(f),
                Err(e) => refused(e),
            }
        }
        Request::Untail { channel } => {
            kernel(t, |k| k.detach_channel(KERNEL_PID, channel, Some(tidemark_abi::Role::Reader)));
            Response::Done
        }
        Request::Grant { pid, name, object: o, rights } => match kernel(t, |k| k.grant(pid, &name, object(o), Rights(rights))) {
            Ok(h) => Response::Granted { handle: h.to_raw() },
            Err(e) => refused(e),
        },
        Request::Revoke { pid, handle } => {
            let Some(h) = Handle::from_raw(handle) else { return refused(Error::InvalidHandle) };
            match kernel(t, |k| k.revoke(pid, h)) {
                Ok(()) => Response::Done,
                Err(e) => refused(e),
            }
        }
        Request::Resolve { name } => match kernel(t, |k| k.packages_mut().resolve(&name).map(package_info)) {
            Some(p) => Response::Resolved(p),
            None => not_found(format!("no package `{name}` in the cache")),
        },
        Request::Evict { name } => match kernel(t, |k| k.packages_mut().evict(&name).map(|_| ())) {
            Ok(()) => Response::Done,
            Err(Error::NotFound) => not_found(format!("no package `{name}` in the cache")),
            Err(e) => refused(e),
        },
        Request::Pin { name, pinned } => match kernel(t, |k| k.packages_mut().pin(&name, pinned)) {
            Ok(()) => Response::Done,
            Err(_) => not_found(format!("no package `{name}` in the cache")),
        },
        Request::Events { after } => Response::Events(kernel(t, |k| events(k, after))),
    }
}

/// One monitor session over any byte stream: feed it received bytes, send
/// what it returns. Events are pushed as they happen (see [`Connection::poll_events`]).
pub struct Connection {
    decoder: Decoder,
    last_event: u64,
    /// Whether the peer said hello (events are pushed only after it did).
    pub attached: bool,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new()
    }
}

impl Connection {
    /// A fresh session that pushes events from now on.
    pub fn new() -> Connection {
        Connection { decoder: Decoder::new(), last_event: 0, attached: false }
    }

    /// Handles received bytes; returns the bytes to send back.
    pub fn on_bytes<T: Target + ?Sized>(&mut self, t: &T, bytes: &[u8]) -> Vec<u8> {
        self.decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(next) = self.decoder.next_frame() {
            let (id, resp) = match next {
                Ok(frame) => match frame.body {
                    Body::Request(req) => {
                        let hello = matches!(req, Request::Hello { .. });
                        let resp = handle(t, req);
                        if hello && matches!(resp, Response::Hello(_)) {
                            self.attached = true;
                            // Push only what happens after attaching.
                            self.last_event = kernel(t, |k| k.events_since(0).last().map_or(0, |e| e.seq));
                        }
                        (frame.id, resp)
                    }
                    _ => (frame.id, malformed("expected a request".into())),
                },
                Err(e) => (e.id(), decode_error(&e)),
            };
            out.extend(encode(id, &Body::Response(resp)));
        }
        out
    }

    /// Encoded event frames for everything since the last call.
    pub fn poll_events<T: Target + ?Sized>(&mut self, t: &T) -> Vec<u8> {
        if !self.attached {
            return Vec::new();
        }
        let after = self.last_event;
        let evs = kernel(t, |k| events(k, after));
        let mut out = Vec::new();
        for e in evs {
            self.last_event = e.seq;
            out.extend(encode(0, &Body::Event(e)));
        }
        out
    }
}

fn malformed(message: String) -> Response {
    Response::Error(ErrorReply { kind: ErrorKind::Malformed, code: None, message })
}

fn decode_error(e: &DecodeError) -> Response {
    match e {
        DecodeError::Garbage { skipped } => malformed(format!("skipped {skipped} bytes that were not a frame")),
        DecodeError::Version { version, .. } => Response::Error(ErrorReply {
            kind: ErrorKind::Version,
            code: None,
            message: format!("frame of protocol v{version}; this kernel speaks v{PROTOCOL_VERSION}"),
        }),
        DecodeError::Oversized { len, .. } => Response::Error(ErrorReply {
            kind: ErrorKind::Oversized,
            code: None,
            message: format!("frame of {len} bytes exceeds the {} byte limit", crate::frame::MAX_PAYLOAD),
        }),
        DecodeError::Malformed { .. } => malformed("payload does not decode as a monitor request".into()),
    }
}
