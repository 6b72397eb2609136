//! The monitor client: requests with ids over any byte stream, events
//! collected as they arrive.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::serial::{Address, LinkStatus};

use tidemark_protocol::{
    Body, DecodeError, Decoder, Endpoint, ErrorReply, Event, EventKind, Frame, KernelInfo,
    PROTOCOL_VERSION, Request, Response, encode, req,
};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The link failed or closed.
    #[error("monitor link: {0}")]
    Io(#[from] io::Error),
    /// No answer in time.
    #[error("the kernel did not answer within {0:?}")]
    Timeout(Duration),
    /// The kernel refused the session.
    #[error("attach refused: {0}")]
    Refused(String),
}

/// Why a typed call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer (link, timeout).
    #[error(transparent)]
    Link(#[from] ClientError),
    /// The kernel answered with an error.
    #[error("{0}")]
    Kernel(ErrorReply),
    /// The kernel answered another request's reply (a protocol bug).
    #[error("the kernel answered {got} to a {asked} request")]
    Unexpected {
        /// What was asked.
        asked: &'static str,
        /// What came back.
        got: &'static str,
    },
}

/// Events a client keeps while nobody takes them; older ones are dropped
/// and counted (the next [`Client::take_events`] starts with a `Lost` event).
pub const EVENT_QUEUE: usize = 4096;

/// How long a request that compiles a module ([`Request::compiles`]) may
/// take: a module of 20,000 functions takes wasmtime seconds in a debug
/// build, and the package cache's size cap bounds it.
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

/// The error for a frame of another protocol version.
fn version_mismatch(theirs: u16) -> ClientError {
    ClientError::Refused(format!(
        "the kernel speaks monitor protocol v{theirs}; this tidemark speaks v{PROTOCOL_VERSION}"
    ))
}

/// A client session attached to a kernel.
pub struct Client {
    stream: UnixStream,
    decoder: Decoder,
    next_id: u32,
    events: VecDeque<Event>,
    /// Events dropped from `events` since the last take.
    lost: u64,
    /// What the kernel said on attach.
    pub kernel: KernelInfo,
    /// How long a request may take.
    pub timeout: Duration,
    closed: bool,
    /// A bridged serial link's state, when the client is on one.
    link: Option<Arc<LinkStatus>>,
    /// The link generation this client said hello on.
    generation: u64,
    /// Whether this client has reported the link down already.
    told_down: bool,
    /// Link changes to tell the user ("link down", "reattached").
    notices: Vec<String>,
    /// When the kernel last answered hello (with `kernel.uptime_ns`).
    hello_at: Instant,
    /// The kernel rebooted under a reattach, and nobody asked yet.
    rebooted: bool,
    /// Fetches to serve for a board and package outcomes seen, noted from
    /// the events as they pass (the events themselves stay queued).
    pub packages: crate::fetch::Watch,
    /// Processes seen trapping, noted from the events as they pass, for
    /// [`crate::Session::save_crash_dumps`].
    pub trapped: Vec<u32>,
    /// The dump a kernel sent as it panicked (its last words), until taken.
    pub panic_dump: Option<tidemark_protocol::KernelDump>,
}

impl Client {
    /// Attaches over `stream`: says hello and checks the protocol version.
    pub fn attach(stream: UnixStream) -> Result<Client, ClientError> {
        let placeholder = KernelInfo {
            version: String::new(),
            protocol: 0,
            abi: 0,
            board: String::new(),
            engine: String::new(),
            uptime_ns: 0,
            memory: None,
            link: None,
            fetches: false,
        };
        let mut c = Client {
            stream,
            decoder: Decoder::new(),
            // Ids start anywhere: a reply left on a serial line for an
            // earlier host is then unlikely to carry an id asked again.
            next_id: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.subsec_nanos() | 1),
            events: VecDeque::new(),
            lost: 0,
            kernel: placeholder,
            timeout: Duration::from_millis(250),
            closed: false,
            link: None,
            generation: 0,
            told_down: false,
            notices: Vec::new(),
            hello_at: Instant::now(),
            rebooted: false,
            packages: Default::default(),
            trapped: Vec::new(),
            panic_dump: None,
        };
        let answer = c.hello();
        c.timeout = Duration::from_secs(10);
        match answer? {
            Response::Hello(info) => {
                c.kernel = info;
                c.hello_at = Instant::now();
                Ok(c)
            }
            Response::Error(e) => Err(ClientError::Refused(e.message)),
            other => Err(ClientError::Refused(format!(
                "unexpected answer to hello: {other:?}"
            ))),
        }
    }

    /// Says hello. A machine still booting may lose the first bytes (a
    /// UART resetting its FIFO), and a board whose host went away drops
    /// what it cannot send until it sees the new one (QEMU's pty notices a
    /// reader only once a second): say it again after 100, 200 and 400 ms,
    /// then once a second for 10 s. Each retry first drops what the decoder
    /// holds: bytes left on a serial line by a host that went away can start
    /// with what reads as a header announcing a long frame, and a decoder
    /// waiting for it would take every answer for its payload.
    fn hello(&mut self) -> Result<Response, ClientError> {
        let hello = || {
            Request::Hello(req::Hello {
                version: PROTOCOL_VERSION,
                client: "tidemark".into(),
            })
        };
        let mut answer = Err(ClientError::Timeout(Duration::ZERO));
        for (i, wait) in [100, 200, 400].into_iter().chain([1_000; 10]).enumerate() {
            if i > 0 {
                self.decoder = Decoder::new();
            }
            answer = self.exchange(hello(), Duration::from_millis(wait));
            if !matches!(answer, Err(ClientError::Timeout(_))) {
                break;
            }
        }
        answer
    }

    /// Attaches to a Unix socket.
    pub fn connect(path: &std::path::Path) -> Result<Client, ClientError> {
        Client::attach(UnixStream::connect(path)?)
    }

    /// Attaches over a bridged link whose state `status` tracks (a serial
    /// line): when the bridge reaches the board again after a loss, the
    /// next request first says hello again, and the change is noted.
    pub fn attach_on(
        stream: UnixStream,
        status: Option<Arc<LinkStatus>>,
    ) -> Result<Client, ClientError> {
        let generation = status.as_ref().map_or(0, |s| s.generation());
        let mut c = Client::attach(stream)?;
        c.link = status;
        c.generation = generation;
        Ok(c)
    }

    /// Attaches to `addr` (a socket, or a serial line through a bridge).
    pub fn open(addr: &Address) -> Result<Client, ClientError> {
        let (stream, status) = addr.open()?;
        Client::attach_on(stream, status)
    }

    /// Link changes since the last call, for the REPL and the screen to show.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// Whether the kernel rebooted under a reattach since the last call
    /// (event sequence numbers start again).
    pub fn take_rebooted(&mut self) -> bool {
        std::mem::take(&mut self.rebooted)
    }

    /// Why the link is down, while it is.
    pub fn link_down(&self) -> Option<String> {
        let (since, why) = self.link.as_ref()?.down()?;
        Some(format!(
            "link down for {:.1} s: {why}",
            since.elapsed().as_secs_f64()
        ))
    }

    /// On a bridged link: waits (within `timeout`) for a link that is down
    /// to come back, and after a reattach says hello again so events flow
    /// from the (possibly rebooted) kernel.
    fn follow_link(&mut self, timeout: Duration) -> Result<(), ClientError> {
        let Some(link) = self.link.clone() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        while let Some((_, why)) = link.down() {
            if !self.told_down {
                self.told_down = true;
                self.notices
                    .push(format!("link down: {why}; finding the board again"));
            }
            if link.gone() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if link.gone() {
            self.closed = true;
            return Err(ClientError::Io(io::Error::new(
                ErrorKind::NotConnected,
                "the board did not come back (the link is gone)",
            )));
        }
        let generation = link.generation();
        if generation != self.generation {
            self.generation = generation;
            self.told_down = false;
            self.decoder = Decoder::new();
            let took = link.reattach_times().last().copied().unwrap_or_default();
            // Right after a reset the board may still be booting.
            if let Response::Hello(info) = self.hello()? {
                // A kernel that kept running is older now by the time since
                // the last hello; a rebooted one is younger than that.
                let expected = self.kernel.uptime_ns + self.hello_at.elapsed().as_nanos() as u64;
                let rebooted = info.uptime_ns + 500_000_000 < expected;
                self.kernel = info;
                self.hello_at = Instant::now();
                self.rebooted |= rebooted;
                self.notices.push(format!(
                    "reattached after {:.2} s{}",
                    took.as_secs_f64(),
                    if rebooted {
                        " (the kernel rebooted)"
                    } else {
                        ""
                    }
                ));
            }
        }
        Ok(())
    }

    /// Sends a typed request and waits for its typed reply.
    pub fn call<E: Endpoint>(&mut self, r: E) -> Result<E::Reply, CallError> {
        match self.request(r.into())? {
            Response::Error(e) => Err(CallError::Kernel(e)),
            other => E::reply(other).map_err(|got| CallError::Unexpected {
                asked: E::NAME,
                got: got.name(),
            }),
        }
    }

    /// Sends a request and waits for its response (events arriving meanwhile are kept).
    pub fn request(&mut self, req: Request) -> Result<Response, ClientError> {
        let timeout = if req.compiles() {
            self.timeout.max(COMPILE_TIMEOUT)
        } else {
            self.timeout
        };
        self.follow_link(self.timeout)?;
        let r = self.exchange(req, timeout);
        if let (Err(ClientError::Timeout(t)), Some(down)) = (&r, self.link_down()) {
            return Err(ClientError::Io(io::Error::new(
                ErrorKind::TimedOut,
                format!("no answer within {t:?}: {down}"),
            )));
        }
        r
    }

    fn exchange(&mut self, req: Request, timeout: Duration) -> Result<Response, ClientError> {
        let asked = req.name();
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if let Err(e) = self.stream.write_all(&encode(id, &Body::Request(req))) {
            self.closed = true;
            return Err(e.into());
        }
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(f) = self.decoder.next_frame() {
                match f {
                    Ok(f) => match f.body {
                        // Of the right kind too: on a serial line, replies
                        // meant for a host that went away may still arrive.
                        Body::Response(r)
                            if f.id == id
                                && matches!(r.name(), n if n == asked || n == "Error") =>
                        {
                            return Ok(r);
                        }
                        Body::Event(e) => self.keep(e),
                        Body::Dump(d) => self.last_words(*d),
                        _ => {} // a late answer to an abandoned request
                    },
                    // A kernel of another protocol version: nothing it says
                    // can be understood, so waiting for an answer is futile.
                    Err(DecodeError::Version { version, .. }) => {
                        return Err(version_mismatch(version));
                    }
                    Err(_) => {} // garbage on the link: skipped by the decoder
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(timeout));
            }
            // The board was lost and found again while we waited: the answer
            // is not coming (the request went to a link that was down, or to
            // a kernel that has since rebooted). Say so now, not at timeout.
            if self
                .link
                .as_ref()
                .is_some_and(|l| l.generation() != self.generation)
            {
                return Err(ClientError::Io(io::Error::new(
                    ErrorKind::Interrupted,
                    "the link dropped and was reattached before the answer came: the request may not have run",
                )));
            }
            // On a bridged link, wake now and then to see that.
            let wait = if self.link.is_some() {
                left.min(Duration::from_millis(100))
            } else {
                left
            };
            self.fill(wait)?;
        }
    }

    fn fill(&mut self, wait: Duration) -> Result<(), ClientError> {
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                Err(ClientError::Io(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the kernel closed the link",
                )))
            }
            Ok(n) => {
                self.decoder.push(&buf[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(())
            }
            Err(e) => {
                self.closed = true;
                Err(e.into())
            }
        }
    }

    /// Whether the link is gone (the kernel hung up, or the machine died).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn keep(&mut self, e: Event) {
        self.packages.note(&e.kind, self.kernel.fetches);
        if let EventKind::Ended {
            pid,
            exit: tidemark_protocol::Exit::Trap(_),
        } = &e.kind
        {
            // Only whether one trapped matters (the kernel keeps its latest
            // crash dump): a few pids are enough to say which.
            if self.trapped.len() == 16 {
                self.trapped.remove(0);
            }
            self.trapped.push(*pid);
        }
        if self.events.len() >= EVENT_QUEUE {
            self.events.pop_front();
            self.lost += 1;
        }
        self.events.push_back(e);
    }

    /// A kernel that panicked sent its dump: kept for
    /// [`crate::Session::save_crash_dumps`], and said.
    fn last_words(&mut self, d: tidemark_protocol::KernelDump) {
        self.notices.push(format!("the kernel panicked: {}", d.reason));
        self.panic_dump = Some(d);
    }

    /// Events received so far (and any that arrive within `wait`), after a
    /// `Lost` event when some were dropped for want of reading.
    pub fn take_events(&mut self, wait: Duration) -> Result<Vec<Event>, ClientError> {
        if self.events.is_empty() && !wait.is_zero() {
            self.pump(wait)?;
        }
        let mut out = Vec::with_capacity(self.events.len() + 1);
        if self.lost > 0 {
            let (seq, time_ns) = self
                .events
                .front()
                .map_or((0, 0), |e| (e.seq.saturating_sub(1), e.time_ns));
            out.push(Event {
                seq,
                time_ns,
                kind: EventKind::Lost {
                    count: std::mem::take(&mut self.lost),
                },
            });
        }
        out.extend(self.events.drain(..));
        Ok(out)
    }

    /// Reads what arrives within `wait` and keeps its events (for
    /// [`Client::take_events`]; package outcomes also go to
    /// [`Client::packages`]).
    pub fn pump(&mut self, wait: Duration) -> Result<(), ClientError> {
        // What arrived before a link closed is read first: a kernel that
        // panicked sends its dump and then its machine stops.
        let filled = self.fill(wait);
        while let Some(f) = self.decoder.next_frame() {
            match f {
                Ok(Frame {
                    body: Body::Event(e),
                    ..
                }) => self.keep(e),
                Ok(Frame {
                    body: Body::Dump(d),
                    ..
                }) => self.last_words(*d),
                _ => {}
            }
        }
        filled
    }

    /// Events held now.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake kernel of another protocol version answers the hello: the
    /// client reports the mismatch instead of waiting for a timeout.
    #[test]
    fn attach_reports_protocol_version_mismatch() {
        let (client_end, mut kernel_end) = UnixStream::pair().unwrap();
        let theirs = PROTOCOL_VERSION + 1;
        let fake = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let n = kernel_end.read(&mut buf).unwrap();
            assert!(n >= 12 && buf[..2] == *b"TM", "a hello frame");
            let id = u32::from_le_bytes(buf[4..8].try_into().unwrap());
            let info = KernelInfo {
                version: "9.9.9".into(),
                protocol: theirs,
                ..fake_info()
            };
            let mut frame = encode(id, &Body::Response(Response::Hello(info)));
            frame[2..4].copy_from_slice(&theirs.to_le_bytes());
            kernel_end.write_all(&frame).unwrap();
            // Keep the link open until the client is done with it.
            let _ = kernel_end.read(&mut buf);
        });
        let err = match Client::attach(client_end) {
            Ok(_) => panic!("attach to a kernel of another protocol version succeeded"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(matches!(err, ClientError::Refused(_)), "got {err:?}");
        assert!(msg.contains(&format!("the kernel speaks monitor protocol v{theirs}; this tidemark speaks v{PROTOCOL_VERSION}")), "{msg}");
        fake.join().unwrap();
    }

    /// Events that arrive while nobody takes them are kept up to
    /// `EVENT_QUEUE`; the rest are dropped oldest first and counted in the
    /// `Lost` event the next take starts with.
    #[test]
    fn events_nobody_takes_are_bounded_and_counted() {
        let (client_end, mut kernel_end) = UnixStream::pair().unwrap();
        let fake = std::thread::spawn(move || {
            let mut d = Decoder::new();
            let mut buf = [0u8; 4096];
            let mut answered = 0;
            while answered < 2 {
                let n = kernel_end.read(&mut buf).unwrap();
                d.push(&buf[..n]);
                while let Some(Ok(f)) = d.next_frame() {
                    if answered == 1 {
                        // Between the hello and this answer: a flood.
                        for seq in 1..=5000u64 {
                            let e = Event {
                                seq,
                                time_ns: seq,
                                kind: EventKind::Lost { count: 0 },
                            };
                            kernel_end.write_all(&encode(0, &Body::Event(e))).unwrap();
                        }
                    }
                    let info = fake_info();
                    let r = if answered == 0 {
                        Response::Hello(info)
                    } else {
                        Response::Info(info)
                    };
                    kernel_end
                        .write_all(&encode(f.id, &Body::Response(r)))
                        .unwrap();
                    answered += 1;
                }
            }
            let _ = kernel_end.read(&mut buf);
        });
        let mut c = Client::attach(client_end).unwrap();
        c.call(req::Info {}).unwrap();
        assert_eq!(
            c.queued_events(),
            EVENT_QUEUE,
            "kept no more than the queue"
        );
        let evs = c.take_events(Duration::ZERO).unwrap();
        assert!(
            matches!(evs[0].kind, EventKind::Lost { count } if count == 5000 - EVENT_QUEUE as u64),
            "{:?}",
            evs[0]
        );
        assert_eq!(
            (evs.len(), evs[1].seq, evs.last().unwrap().seq),
            (EVENT_QUEUE + 1, 5001 - EVENT_QUEUE as u64, 5000),
            "the newest are kept"
        );
        drop(c);
        fake.join().unwrap();
    }

    /// What the fake kernels of these tests say about themselves.
    fn fake_info() -> KernelInfo {
        KernelInfo {
            version: "t".into(),
            protocol: PROTOCOL_VERSION,
            abi: 0,
            board: "fake".into(),
            engine: "none".into(),
            uptime_ns: 0,
            memory: None,
            link: None,
            fetches: false,
        }
    }

    /// A kernel's last words (its dump, sent as it panicked) are kept for
    /// the session and said, whatever the client was waiting for.
    #[test]
    fn a_panicking_kernel_s_dump_is_kept_and_said() {
        let (client_end, mut kernel_end) = UnixStream::pair().unwrap();
        let fake = std::thread::spawn(move || {
            let mut d = Decoder::new();
            let mut buf = [0u8; 4096];
            let n = kernel_end.read(&mut buf).unwrap();
            d.push(&buf[..n]);
            let f = d.next_frame().unwrap().unwrap();
            let info = fake_info();
            kernel_end
                .write_all(&encode(f.id, &Body::Response(Response::Hello(info.clone()))))
                .unwrap();
            let dump = tidemark_protocol::KernelDump {
                reason: "kernel panic: boom".into(),
                info,
                ps: vec![],
                caps: vec![],
                channels: vec![],
                arenas: vec![],
                packages: Default::default(),
                catalog: Default::default(),
                events: vec![],
                memories: vec![],
            };
            kernel_end
                .write_all(&encode(0, &Body::Dump(Box::new(dump))))
                .unwrap();
        });
        let mut c = Client::attach(client_end).unwrap();
        fake.join().unwrap();
        // The link closes after the last words; they are kept all the same.
        let _ = c.pump(Duration::from_millis(200));
        assert_eq!(c.panic_dump.as_ref().map(|d| d.reason.as_str()), Some("kernel panic: boom"));
        assert_eq!(c.take_notices(), ["the kernel panicked: kernel panic: boom"]);
    }
}
