//! `tidemark inspect`: a dump served as a read-only kernel.
//!
//! The dump answers every read-only request from what it holds, over the
//! same monitor protocol a live kernel speaks, so every command that only
//! reads (and the screen) runs on it unchanged; a request that would change
//! a kernel is refused with an error that says this is a dump.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use tidemark_abi::Error;
use tidemark_protocol::req::*;
use tidemark_protocol::*;

use crate::client::{Client, ClientError};

/// The process a request names, as a kernel would resolve it: a pid, or
/// the newest live process of that name (else the newest of that name).
pub fn resolve_process(d: &KernelDump, r: &ProcRef) -> Option<u32> {
    match r {
        ProcRef::Pid(p) => d.ps.iter().any(|x| x.pid == *p).then_some(*p),
        ProcRef::Name(n) => {
            let named = || d.ps.iter().rev().filter(|p| p.name == *n);
            named()
                .find(|p| p.state.is_live())
                .or_else(|| named().next())
                .map(|p| p.pid)
        }
    }
}

/// The channel a request names (the oldest of that name).
pub fn resolve_channel<'a>(d: &'a KernelDump, r: &ChanRef) -> Option<&'a ChannelInfo> {
    match r {
        ChanRef::Id(id) => d.channels.iter().find(|c| c.id == *id),
        ChanRef::Name(n) => d.channels.iter().find(|c| c.name == *n),
    }
}

fn not_found(what: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::not_found(format!("no {what} in the dump"))
}

/// Answers one request from the dump.
pub fn answer(d: &KernelDump, r: Request) -> Response {
    fn reply<E: Endpoint>(r: Result<E::Reply, ErrorReply>) -> Response {
        r.map_or_else(Response::Error, E::respond)
    }
    let process = |p: &ProcRef| resolve_process(d, p).ok_or_else(|| not_found(p));
    match r {
        Request::Hello(h) if h.version != PROTOCOL_VERSION => Response::Error(ErrorReply::new(
            ErrorKind::Version,
            format!(
                "this dump is served as monitor protocol v{PROTOCOL_VERSION}, client v{}",
                h.version
            ),
        )),
        Request::Hello(_) => reply::<Hello>(Ok(d.info.clone())),
        Request::Info(_) => reply::<Info>(Ok(d.info.clone())),
        Request::Snapshot(r) => reply::<Snapshot>(Ok(KernelSnapshot {
            info: d.info.clone(),
            ps: d.ps.clone(),
            caps: r
                .caps_of
                .as_ref()
                .and_then(|p| resolve_process(d, p))
                .map(|pid| d.caps_of(pid).to_vec())
                .unwrap_or_default(),
            channels: d.channels.clone(),
            arenas: d.arenas.clone(),
            packages: d.packages.clone(),
            events: events_after(d, r.events_after),
        })),
        Request::Ps(_) => reply::<Ps>(Ok(d.ps.clone())),
        Request::Process(r) => reply::<Process>(process(&r.process).map(|pid| {
            d.ps.iter()
                .find(|p| p.pid == pid)
                .cloned()
                .expect("resolved")
        })),
        Request::Caps(r) => reply::<Caps>(process(&r.process).map(|pid| d.caps_of(pid).to_vec())),
        Request::Channels(_) => reply::<Channels>(Ok(d.channels.clone())),
        Request::Channel(r) => reply::<Channel>(
            resolve_channel(d, &r.channel)
                .cloned()
                .ok_or_else(|| not_found(&r.channel)),
        ),
        Request::Arenas(_) => reply::<Arenas>(Ok(d.arenas.clone())),
        Request::Packages(_) => reply::<Packages>(Ok(d.packages.clone())),
        Request::Catalog(_) => reply::<Catalog>(Ok(d.catalog.clone())),
        Request::Events(r) => reply::<Events>(Ok(events_after(d, r.after))),
        Request::Dump(r) if r.crash => Response::Error(ErrorReply::not_found(
            "a dump file holds one state: inspect the crash dump's own file",
        )),
        Request::Dump(r) => reply::<Dump>(Ok(KernelDump {
            events: if r.events {
                d.events.clone()
            } else {
                Vec::new()
            },
            memories: if r.memories {
                d.memories.clone()
            } else {
                Vec::new()
            },
            ..d.clone()
        })),
        Request::Peek(r) => reply::<Peek>(process(&r.process).and_then(|pid| {
            let m = d.memory_of(pid).ok_or_else(|| {
                ErrorReply::not_found(format!(
                    "the dump holds no memory of process {pid} (take it with `dump --memories`)"
                ))
            })?;
            match &m.missing {
                Some(why) => Err(ErrorReply::not_found(format!(
                    "the dump holds no memory of process {pid}: {why}"
                ))),
                None => Ok(Peeked {
                    pid,
                    size: m.size,
                    offset: r.offset.min(m.size),
                    bytes: m.read(r.offset, r.len.min(tidemark_monitor_max_peek())),
                }),
            }
        })),
        other => Response::Error(ErrorReply::abi(
            Error::PermissionDenied,
            format!(
                "this is a dump, read-only: `{}` would change the kernel (taken on {} at {:.3} s uptime)",
                other.name(),
                d.info.board,
                d.info.uptime_ns as f64 / 1e9
            ),
        )),
    }
}

/// As the kernel's monitor: at most 64 KiB a `Peek`.
const fn tidemark_monitor_max_peek() -> u32 {
    64 << 10
}

fn events_after(d: &KernelDump, after: u64) -> Vec<Event> {
    d.events.iter().filter(|e| e.seq > after).cloned().collect()
}

/// Serves `dump` on one end of a socket pair and attaches a client to the
/// other: the client works as on a live kernel that never changes.
pub fn attach(dump: KernelDump) -> Result<Client, ClientError> {
    let (ours, theirs) = UnixStream::pair()?;
    std::thread::Builder::new()
        .name("tidemark-dump".into())
        .spawn(move || serve(&dump, theirs))?;
    Client::attach(ours)
}

/// Answers requests on `stream` until the client goes.
fn serve(dump: &KernelDump, mut stream: UnixStream) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        let mut out = Vec::new();
        while let Some(next) = decoder.next_frame() {
            let (id, resp) = match next {
                Ok(Frame {
                    id,
                    body: Body::Request(r),
                }) => (id, answer(dump, r)),
                Ok(f) => (
                    f.id,
                    Response::Error(ErrorReply::new(ErrorKind::Malformed, "expected a request")),
                ),
                Err(e) => (
                    e.id(),
                    Response::Error(ErrorReply::new(ErrorKind::Malformed, format!("{e:?}"))),
                ),
            };
            out.extend(encode(id, &Body::Response(resp)));
        }
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// Reads a dump file, saying which file and what is wrong with it.
pub fn load(path: &std::path::Path) -> Result<KernelDump, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    dump_from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}
