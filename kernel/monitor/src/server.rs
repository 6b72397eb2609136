//! The kernel side: serving typed requests and pumping a connection.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use tidemark_abi::{Error, Handle, Role};
use tidemark_kernel::channel::Parties;
use tidemark_kernel::lifecycle::{EngineError, ReloadReport};
use tidemark_kernel::package::Hash;
use tidemark_kernel::{KERNEL_PID, Kernel, Pid, SpawnSpec};
use tidemark_protocol::req::{self, *};
use tidemark_protocol::*;

/// A kernel instance the monitor can serve: the kernel core plus the engine
/// operations (spawn, kill, reload) that need more than the core.
pub trait Target {
    /// Runs `f` on the kernel (and carries out the effects it produces).
    fn with_kernel(&self, f: &mut dyn FnMut(&mut Kernel));
    /// Spawns a process.
    fn spawn(&self, spec: SpawnSpec) -> Result<Pid, EngineError>;
    /// Kills a process.
    fn kill(&self, pid: Pid);
    /// Hot-reloads a process (trial and rollback included).
    fn reload(&self, pid: Pid, package: &str) -> Result<ReloadReport, EngineError>;
    /// Board name (`hosted`, `qemu-riscv32`, ...).
    fn board(&self) -> String;
    /// Engine name (`wasmtime 48`, `wasmi 2`, ...).
    fn engine(&self) -> String;
    /// The machine's memory, on boards where the kernel owns it.
    fn memory(&self) -> Option<BoardMemory> {
        None
    }
    /// The board's monitor link, where the kernel drives it itself.
    fn link(&self) -> Option<LinkStats> {
        None
    }
    /// Whether the engine carries out the kernel's fetch effects itself.
    fn fetches(&self) -> bool {
        false
    }
    /// The linear memories of live processes `pids` (without a hosted
    /// process's channel windows), each read when the process is at a
    /// point where its memory stands still; why not, for each it could not
    /// read. Called without the kernel held.
    fn guest_memories(&self, pids: &[Pid]) -> Vec<(Pid, Result<Vec<u8>, String>)> {
        pids.iter()
            .map(|p| {
                (
                    *p,
                    Err(String::from("this engine does not read guest memories")),
                )
            })
            .collect()
    }
    /// As [`Target::guest_memories`], kept as dump pages, within `budget`
    /// bytes of pages in all where the link bounds a reply. An engine that
    /// can read memory in place overrides it so a memory is never copied
    /// whole.
    fn guest_memory_pages(&self, pids: &[Pid], budget: Option<usize>) -> Vec<GuestMemory> {
        let mut left = budget.unwrap_or(usize::MAX);
        self.guest_memories(pids)
            .into_iter()
            .map(|(pid, m)| match m {
                Ok(bytes) => within(GuestMemory::of(pid, &bytes), &mut left),
                Err(why) => GuestMemory::missing(pid, why),
            })
            .collect()
    }
    /// Up to `len` bytes at `offset` of a live process's memory, and its
    /// size. An engine that can read memory in place overrides it.
    fn peek_guest_memory(
        &self,
        pid: Pid,
        offset: u64,
        len: usize,
    ) -> Result<(u64, Vec<u8>), String> {
        let (_, mem) = self
            .guest_memories(&[pid])
            .pop()
            .ok_or_else(|| String::from("no such process"))?;
        let mem = mem?;
        let start = offset.min(mem.len() as u64) as usize;
        let end = start.saturating_add(len).min(mem.len());
        Ok((mem.len() as u64, mem[start..end].to_vec()))
    }
    /// Whether a `Panic` request panics this kernel: a board's, whose panic
    /// handler sends or keeps its last words and then stops or resets the
    /// machine; not a kernel inside the workbench's own process.
    fn panics(&self) -> bool {
        false
    }
    /// The largest reply the board's link can take (its transmit queue),
    /// where it has a bound: a bigger `Dump` or `Recorded` reply is
    /// refused with an error rather than dropped on the way.
    fn max_reply(&self) -> Option<usize> {
        self.link().map(|l| l.queue_bytes as usize)
    }
}

fn kernel<T: Target + ?Sized, R>(t: &T, f: impl FnOnce(&mut Kernel) -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    t.with_kernel(&mut |k| out = Some((f.take().expect("called once"))(k)));
    out.expect("with_kernel runs its closure")
}

type Reply<T> = Result<T, ErrorReply>;

fn refused(e: Error) -> ErrorReply {
    ErrorReply::abi(e, format!("{e}"))
}

fn refused_with(e: Error, message: &str) -> ErrorReply {
    ErrorReply::abi(e, String::from(message))
}

fn parse_key(hex: &str) -> Reply<[u8; 32]> {
    Hash::parse_hex(hex)
        .map(|h| h.0)
        .ok_or_else(|| refused_with(Error::InvalidArgument, "a public key is 64 hex digits"))
}

fn process(k: &Kernel, r: &ProcRef) -> Reply<Pid> {
    k.resolve_process(r)
        .ok_or_else(|| ErrorReply::not_found(format!("no {r}")))
}

fn channel(k: &Kernel, r: &ChanRef) -> Reply<u32> {
    k.resolve_channel(r)
        .ok_or_else(|| ErrorReply::not_found(format!("no {r}")))
}

fn object(k: &mut Kernel, o: &ObjectRef) -> Reply<Object> {
    match o {
        ObjectRef::Channel(c) => channel(k, c).map(Object::Channel),
        ObjectRef::Region(id) => Ok(Object::Region(*id)),
        ObjectRef::Display => k
            .open_display()
            .map(|d| Object::Region(d.region))
            .map_err(no_display),
    }
}

fn no_display(e: Error) -> ErrorReply {
    match e {
        Error::NotFound => {
            ErrorReply::not_found("this board has no display (its manifest has no [display])")
        }
        e => refused_with(
            e,
            &format!("the display's framebuffer cannot be set up: {e}"),
        ),
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
        link: t.link(),
        fetches: t.fetches(),
    }
}

/// Events after `after`.
pub fn events(k: &Kernel, after: u64) -> Vec<Event> {
    k.events_since(after).cloned().collect()
}

/// Serves one request. Never panics on any request.
pub fn handle<T: Target + ?Sized>(t: &T, r: Request) -> Response {
    fn answer<E: Endpoint>(r: Reply<E::Reply>) -> Response {
        r.map_or_else(Response::Error, E::respond)
    }
    match r {
        Request::Hello(r) => answer::<Hello>(hello(t, r)),
        Request::Info(_) => answer::<Info>(Ok(info(t))),
        Request::Snapshot(r) => answer::<req::Snapshot>(snapshot(t, r)),
        Request::Ps(_) => answer::<Ps>(Ok(kernel(t, |k| k.ps()))),
        Request::Process(r) => answer::<req::Process>(kernel(t, |k| {
            let pid = process(k, &r.process)?;
            k.ps()
                .into_iter()
                .find(|p| p.pid == pid)
                .ok_or_else(|| ErrorReply::not_found(format!("no {}", r.process)))
        })),
        Request::Caps(r) => answer::<Caps>(kernel(t, |k| {
            process(k, &r.process).map(|pid| k.caps(pid).unwrap_or_default())
        })),
        Request::Channels(_) => answer::<Channels>(Ok(kernel(t, |k| k.channel_views()))),
        Request::Channel(r) => answer::<req::Channel>(kernel(t, |k| {
            let id = channel(k, &r.channel)?;
            k.channel_info(id)
                .ok_or_else(|| ErrorReply::not_found(format!("no {}", r.channel)))
        })),
        Request::Arenas(_) => answer::<Arenas>(Ok(kernel(t, |k| k.arena_views()))),
        Request::Packages(_) => answer::<Packages>(Ok(kernel(t, |k| k.cache_view()))),
        Request::CreateChannel(r) => answer::<CreateChannel>(kernel(t, |k| {
            if k.channel_by_name(&r.name).is_some() {
                return Err(ErrorReply::abi(
                    Error::Exists,
                    format!("a channel `{}` already exists", r.name),
                ));
            }
            let id = k
                .create_channel_for(
                    &r.name,
                    r.data_bytes,
                    r.frames,
                    r.backpressure,
                    if r.single {
                        Parties::Single
                    } else {
                        Parties::Many
                    },
                    KERNEL_PID,
                )
                .map_err(refused)?;
            k.channel_info(id).ok_or_else(|| refused(Error::Closed))
        })),
        Request::DeleteChannel(r) => answer::<DeleteChannel>(kernel(t, |k| {
            let id = channel(k, &r.channel)?;
            k.delete_channel(id).map_err(refused)
        })),
        Request::CreateRegion(r) => answer::<CreateRegion>(kernel(t, |k| {
            k.region_with(KERNEL_PID, &r.bytes).map_err(refused)
        })),
        Request::Spawn(r) => answer::<Spawn>(spawn(t, r)),
        Request::Reload(r) => answer::<req::Reload>(reload(t, r)),
        Request::Kill(r) => answer::<Kill>(kill(t, r)),
        Request::Upload(r) => answer::<Upload>(kernel(t, |k| {
            k.install(&r.name, Arc::from(r.bytes), r.pin)
                .map_err(refused)?;
            k.packages()
                .peek(&r.name)
                .map(|p| p.info())
                .ok_or_else(|| ErrorReply::not_found(r.name.clone()))
        })),
        Request::Send(r) => answer::<req::Send>(kernel(t, |k| {
            let id = channel(k, &r.channel)?;
            k.send(id, &r.data)
                .map(|seq| Sent { channel: id, seq })
                .map_err(refused)
        })),
        Request::Tail(r) => answer::<Tail>(kernel(t, |k| {
            let id = channel(k, &r.channel)?;
            let mut frames = Vec::new();
            let mut buf = alloc::vec![0u8; k.config().max_frame];
            while frames.len() < r.max as usize {
                match k.recv(id, &mut buf).map_err(refused)? {
                    Some(m) => frames.push(FrameRecord {
                        seq: m.seq,
                        pid: m.pid,
                        writer: m.writer,
                        data: buf[..m.len as usize].to_vec(),
                    }),
                    None => break,
                }
            }
            Ok(frames)
        })),
        Request::Untail(r) => answer::<Untail>(kernel(t, |k| {
            let id = channel(k, &r.channel)?;
            k.detach_channel(KERNEL_PID, id, Some(Role::Reader));
            Ok(())
        })),
        Request::Grant(r) => answer::<Grant>(kernel(t, |k| {
            let pid = process(k, &r.process)?;
            let o = object(k, &r.object)?;
            k.grant(pid, &r.name, o, r.rights)
                .map(|h| h.to_raw())
                .map_err(refused)
        })),
        Request::Revoke(r) => answer::<Revoke>(kernel(t, |k| {
            let pid = process(k, &r.process)?;
            let h = Handle::from_raw(r.handle).ok_or_else(|| refused(Error::InvalidHandle))?;
            k.revoke(pid, h).map_err(refused)
        })),
        Request::Resolve(r) => answer::<Resolve>(kernel(t, |k| {
            k.resolve_package(&r.name, KERNEL_PID)
                .map_err(|e| ErrorReply::abi(e.code, e.message))
        })),
        Request::Trust(r) => answer::<Trust>(kernel(t, |k| {
            let key = parse_key(&r.key)?;
            k.trust(key).map_err(|e| {
                ErrorReply::abi(
                    e,
                    format!(
                        "the kernel trusts at most {} keys",
                        tidemark_kernel::resolve::MAX_KEYS
                    ),
                )
            })
        })),
        Request::PackageServer(r) => {
            answer::<PackageServer>(Ok(kernel(t, |k| k.set_server(r.url.as_deref()))))
        }
        Request::LoadCatalog(r) => answer::<LoadCatalog>(kernel(t, |k| {
            if let Some(why) = &r.failure {
                k.catalog_failed(why);
                return Err(ErrorReply::abi(
                    Error::Unavailable,
                    format!("catalog fetch failed: {why}"),
                ));
            }
            k.load_catalog(&r.bytes)
                .map_err(|e| ErrorReply::abi(Error::Unavailable, format!("catalog refused: {e}")))
        })),
        Request::Catalog(_) => answer::<Catalog>(Ok(kernel(t, |k| k.catalog_view()))),
        Request::Deliver(r) => answer::<Deliver>(kernel(t, |k| {
            let hash = Hash::parse_hex(&r.hash)
                .ok_or_else(|| refused_with(Error::InvalidArgument, "a hash is 64 hex digits"))?;
            let fetched = match &r.failure {
                Some(why) => Err(why.as_str()),
                None => Ok(Arc::from(r.bytes)),
            };
            k.deliver(hash, fetched)
                .map_err(|e| ErrorReply::abi(e.code, e.message))?;
            k.packages()
                .iter()
                .find(|p| p.hash == hash)
                .map(|p| p.info())
                .ok_or_else(|| refused(Error::NotFound))
        })),
        Request::Lock(r) => answer::<Lock>(kernel(t, |k| {
            let mut entries = Vec::new();
            for e in r.entries {
                let h = Hash::parse_hex(&e.hash).ok_or_else(|| {
                    refused_with(
                        Error::InvalidArgument,
                        &format!("lock entry `{}`: a hash is 64 hex digits", e.name),
                    )
                })?;
                entries.push((e.name, h));
            }
            k.set_lock(entries);
            Ok(())
        })),
        Request::Evict(r) => answer::<Evict>(
            kernel(t, |k| k.packages_mut().evict(&r.name).map(|_| ())).map_err(|e| match e {
                Error::NotFound => {
                    ErrorReply::not_found(format!("no package `{}` in the cache", r.name))
                }
                e => refused(e),
            }),
        ),
        Request::Pin(r) => answer::<Pin>(
            kernel(t, |k| k.packages_mut().pin(&r.name, r.pinned)).map_err(|_| {
                ErrorReply::not_found(format!("no package `{}` in the cache", r.name))
            }),
        ),
        Request::Events(r) => answer::<Events>(Ok(kernel(t, |k| events(k, r.after)))),
        Request::Panic(r) if t.panics() => panic!("asked by the monitor: {}", r.message),
        Request::Panic(_) => answer::<req::Panic>(Err(refused_with(
            Error::PermissionDenied,
            "this kernel runs inside the workbench: a panic would take the workbench down (a board's kernel panics)",
        ))),
        Request::Framebuffer(r) => answer::<req::Framebuffer>({
            // Leave room for the reply's own fields within the link's queue.
            let len = t
                .max_reply()
                .map_or(r.len, |m| r.len.min(m.saturating_sub(256) as u32));
            kernel(t, |k| {
                k.open_display().map_err(no_display)?;
                k.framebuffer_part(r.offset, len)
                    .ok_or_else(|| no_display(Error::NotFound))
            })
        }),
        Request::Dump(r) if r.crash => fits(t, answer::<req::Dump>(crash_dump(t, r.events))),
        Request::Dump(r) => fits(
            t,
            answer::<req::Dump>(Ok({
                let mut d = dump(t, "asked", r.events);
                if r.memories {
                    d.memories = memories(t, &d);
                }
                d
            })),
        ),
        Request::Peek(r) => fits(t, answer::<req::Peek>(peek(t, r))),
        Request::Recorded(r) => fits(
            t,
            answer::<Recorded>({
                let (board, engine) = (t.board(), t.engine());
                kernel(t, |k| {
                    let pid = process(k, &r.process)?;
                    k.recording(pid, &board, &engine).ok_or_else(|| {
                        refused_with(
                            Error::NotFound,
                            &format!("process {pid} is not recorded: spawn it with --record"),
                        )
                    })
                })
            }),
        ),
    }
}

/// `r`, or an error when it is bigger than the board's link can take.
fn fits<T: Target + ?Sized>(t: &T, r: Response) -> Response {
    let Some(max) = t.max_reply() else {
        return r;
    };
    let len = postcard::experimental::serialized_size(&r).unwrap_or(usize::MAX);
    if len <= max {
        return r;
    }
    Response::Error(ErrorReply::abi(
        Error::LimitReached,
        format!(
            "the {} reply ({len} bytes) does not fit this board's link queue ({max} bytes): ask for less (`dump --no-events`)",
            r.name()
        ),
    ))
}

/// The kernel's whole inspectable state, taken under one hold of the
/// kernel so its parts agree ([`Kernel::dump`]), with the board's fields;
/// `reason` says why it was taken.
pub fn dump<T: Target + ?Sized>(t: &T, reason: &str, with_events: bool) -> KernelDump {
    let info = info(t);
    with_board(info, kernel(t, |k| k.dump(reason, with_events)))
}

/// The memories of the processes `d` shows live, read just after it,
/// within what the link's queue takes.
fn memories<T: Target + ?Sized>(t: &T, d: &KernelDump) -> Vec<GuestMemory> {
    let live: Vec<Pid> =
        d.ps.iter()
            .filter(|p| !matches!(p.state, ProcState::Ended(_)))
            .map(|p| p.pid)
            .collect();
    t.guest_memory_pages(&live, t.max_reply())
}

/// `m`, or why not when its pages would overrun what is `left` of a
/// budget (which they then take from).
pub fn within(m: GuestMemory, left: &mut usize) -> GuestMemory {
    let bytes: usize = m.pages.iter().map(|p| p.bytes.len()).sum();
    match left.checked_sub(bytes) {
        Some(rest) => {
            *left = rest;
            m
        }
        None => GuestMemory::missing(
            m.pid,
            format!("its {bytes} bytes of pages would not fit this board's link queue"),
        ),
    }
}

/// Most bytes one `Peek` answers.
pub const MAX_PEEK: u32 = 64 << 10;

fn peek<T: Target + ?Sized>(t: &T, r: Peek) -> Reply<Peeked> {
    let pid = kernel(t, |k| {
        let pid = process(k, &r.process)?;
        match k.process(pid).map(|p| &p.state) {
            Some(ProcState::Ended(_)) => Err(refused_with(
                Error::Closed,
                &format!("process {pid} has ended: its memory is gone"),
            )),
            _ => Ok(pid),
        }
    })?;
    // Within the link's queue too, as `Framebuffer`.
    let most = t
        .max_reply()
        .map_or(MAX_PEEK, |m| MAX_PEEK.min(m.saturating_sub(256) as u32));
    let (size, bytes) = t
        .peek_guest_memory(pid, r.offset, r.len.min(most) as usize)
        .map_err(|why| refused_with(Error::Busy, &why))?;
    Ok(Peeked {
        pid,
        size,
        offset: r.offset.min(size),
        bytes,
    })
}

/// `d` with the board's fields of `info` (its own uptime kept: when taken).
fn with_board(info: KernelInfo, d: KernelDump) -> KernelDump {
    KernelDump {
        info: KernelInfo {
            uptime_ns: d.info.uptime_ns,
            ..info
        },
        ..d
    }
}

/// The dump the kernel took when a process last trapped, with the
/// board's fields (its uptime is the trap's).
fn crash_dump<T: Target + ?Sized>(t: &T, with_events: bool) -> Reply<KernelDump> {
    let info = info(t);
    let d = kernel(t, |k| k.crash_dump().cloned())
        .ok_or_else(|| ErrorReply::not_found("no process has trapped since the kernel booted"))?;
    let mut d = with_board(info, d);
    if !with_events {
        d.events.clear();
    }
    Ok(d)
}

fn hello<T: Target + ?Sized>(t: &T, r: Hello) -> Reply<KernelInfo> {
    if r.version != PROTOCOL_VERSION {
        return Err(ErrorReply::new(
            ErrorKind::Version,
            format!(
                "kernel speaks monitor protocol v{PROTOCOL_VERSION}, client v{}",
                r.version
            ),
        ));
    }
    Ok(info(t))
}

fn snapshot<T: Target + ?Sized>(t: &T, r: req::Snapshot) -> Reply<KernelSnapshot> {
    let info = info(t);
    Ok(kernel(t, |k| KernelSnapshot {
        info,
        ps: k.ps(),
        caps: r
            .caps_of
            .as_ref()
            .and_then(|p| k.resolve_process(p))
            .and_then(|pid| k.caps(pid))
            .unwrap_or_default(),
        channels: k.channel_views(),
        arenas: k.arena_views(),
        packages: k.cache_view(),
        events: events(k, r.events_after),
    }))
}

fn spawn<T: Target + ?Sized>(t: &T, r: Spawn) -> Reply<u32> {
    let mut spec = SpawnSpec::new(&r.package).args(&r.args);
    spec.name = r.name;
    spec.memory_limit = r.memory_limit.map(|m| m as usize);
    spec.record = r.record;
    for g in &r.grants {
        let o = kernel(t, |k| object(k, &g.object))?;
        spec = spec.grant(&g.name, o, g.rights);
    }
    t.spawn(spec).map_err(|e| ErrorReply::from(&e))
}

fn reload<T: Target + ?Sized>(t: &T, r: req::Reload) -> Reply<Reloaded> {
    let pid = kernel(t, |k| process(k, &r.process))?;
    let rep = t
        .reload(pid, &r.package)
        .map_err(|e| ErrorReply::from(&e))?;
    let timing = ReloadTiming {
        prepare_ns: rep.prepare.as_nanos() as u64,
        swap_ns: rep.swap.as_nanos() as u64,
    };
    Ok(Reloaded {
        pid: rep.pid,
        hash: rep.hash.hex(),
        timing,
    })
}

fn kill<T: Target + ?Sized>(t: &T, r: Kill) -> Reply<u32> {
    let pid = kernel(t, |k| process(k, &r.process))?;
    if !kernel(t, |k| k.process(pid).is_some_and(|p| p.state.is_live())) {
        return Err(ErrorReply::abi(
            Error::Closed,
            format!("process {pid} has already ended"),
        ));
    }
    t.kill(pid);
    if r.tree {
        // Marked in one kernel step, carried out by the engine after it.
        kernel(t, |k| k.kill_descendants(pid));
    }
    Ok(pid)
}

/// Events a connection holds for its client at most; older ones are
/// dropped and counted (a [`EventKind::Lost`] event says how many).
pub const EVENT_QUEUE: usize = 1024;

/// One monitor session over any byte stream: feed it received bytes, send
/// what it returns. Events are pushed as they happen (see
/// [`Connection::poll_events`]), at most [`EVENT_QUEUE`] per poll.
pub struct Connection {
    decoder: Decoder,
    last_event: u64,
    /// Whether the peer said hello (events are pushed only after it did).
    pub attached: bool,
    /// Events this client missed (queue overflow or the kernel's log
    /// wrapping between polls).
    pub lost: u64,
    /// Hellos answered: a board's transmitter treats one after a stall as
    /// a host come back.
    pub hellos: u64,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new()
    }
}

impl Connection {
    /// A fresh session that pushes events from now on.
    pub fn new() -> Connection {
        Connection {
            decoder: Decoder::new(),
            last_event: 0,
            attached: false,
            lost: 0,
            hellos: 0,
        }
    }

    /// Handles received bytes; returns the bytes to send back.
    pub fn on_bytes<T: Target + ?Sized>(&mut self, t: &T, bytes: &[u8]) -> Vec<u8> {
        self.decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(next) = self.decoder.next_frame() {
            let (id, resp) = match next {
                Ok(frame) => match frame.body {
                    Body::Request(req) => {
                        let hello = matches!(req, Request::Hello(_));
                        let resp = handle(t, req);
                        if hello && matches!(resp, Response::Hello(_)) {
                            self.attached = true;
                            self.hellos += 1;
                            // Push only what happens after attaching.
                            self.last_event =
                                kernel(t, |k| k.events_since(0).last().map_or(0, |e| e.seq));
                        }
                        (frame.id, resp)
                    }
                    _ => (
                        frame.id,
                        Response::Error(ErrorReply::new(
                            ErrorKind::Malformed,
                            "expected a request",
                        )),
                    ),
                },
                Err(e) => (e.id(), Response::Error(decode_error(&e))),
            };
            out.extend(encode(id, &Body::Response(resp)));
        }
        out
    }

    /// Encoded event frames for everything since the last call: the newest
    /// [`EVENT_QUEUE`] at most, after a `Lost` event counting any missed.
    pub fn poll_events<T: Target + ?Sized>(&mut self, t: &T) -> Vec<u8> {
        self.poll_events_at_most(t, EVENT_QUEUE)
    }

    /// As [`Connection::poll_events`], but sends at most `max` events and
    /// keeps the rest for the next call: on a link shared by replies and
    /// events (a UART), the caller sends replies first and a bounded slice
    /// of events after them, so a reply never waits behind a flood. Events
    /// past [`EVENT_QUEUE`] behind are still dropped and counted.
    pub fn poll_events_at_most<T: Target + ?Sized>(&mut self, t: &T, max: usize) -> Vec<u8> {
        if !self.attached {
            return Vec::new();
        }
        let after = self.last_event;
        let max = max.clamp(1, EVENT_QUEUE);
        let (evs, skipped, time_ns) = kernel(t, |k| {
            let all: Vec<&Event> = k.events_since(after).collect();
            let first = all.first().map_or(after + 1, |e| e.seq);
            // Events the kernel's own log let go of before this poll.
            let wrapped = first.saturating_sub(after + 1);
            let keep = all.len().min(EVENT_QUEUE);
            let dropped = (all.len() - keep) as u64;
            let from = all.len() - keep;
            (
                all[from..(from + max).min(all.len())]
                    .iter()
                    .map(|e| (*e).clone())
                    .collect::<Vec<_>>(),
                wrapped + dropped,
                k.now(),
            )
        });
        let mut out = Vec::new();
        if skipped > 0 {
            self.lost += skipped;
            let seq = evs.first().map_or(after, |e| e.seq.saturating_sub(1));
            out.extend(encode(
                0,
                &Body::Event(Event {
                    seq,
                    time_ns,
                    kind: EventKind::Lost { count: skipped },
                }),
            ));
        }
        for e in evs {
            self.last_event = e.seq;
            out.extend(encode(0, &Body::Event(e)));
        }
        out
    }
}

fn decode_error(e: &DecodeError) -> ErrorReply {
    match e {
        DecodeError::Garbage { skipped } => ErrorReply::new(
            ErrorKind::Malformed,
            format!("skipped {skipped} bytes that were not a frame"),
        ),
        DecodeError::Version { version, .. } => ErrorReply::new(
            ErrorKind::Version,
            format!("frame of protocol v{version}; this kernel speaks v{PROTOCOL_VERSION}"),
        ),
        DecodeError::Oversized { len, .. } => ErrorReply::new(
            ErrorKind::Oversized,
            format!(
                "frame of {len} bytes exceeds the {} byte limit",
                tidemark_protocol::frame::MAX_PAYLOAD
            ),
        ),
        DecodeError::Malformed { .. } => ErrorReply::new(
            ErrorKind::Malformed,
            "payload does not decode as a monitor request",
        ),
    }
}
