//! One monitor link shared by many clients.
//!
//! A serial line (QEMU's UART, a board's USB-serial) carries one monitor
//! connection, but a `tidemark dev` session wants several: the REPL, the
//! screen's collector, the reloader. The mux owns the link and hands out
//! local socket pairs; request ids are rewritten on the way in so each answer
//! goes back to whoever asked, and every event goes to every client.
//!
//! Each client has its own writer thread fed through a bounded queue: a
//! client that stops reading never delays another's answers, and an event
//! flood costs each client at most [`CLIENT_QUEUE`] frames (the oldest events
//! are dropped first and counted in a `Lost` event; answers are never
//! dropped). When the link drops, every client sees its stream close.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tidemark_protocol::{Body, Decoder, Event, EventKind, Frame, encode};

/// Frames queued for one client at most (answers beyond it still queue).
pub const CLIENT_QUEUE: usize = 1024;

/// What waits to be written to one client.
#[derive(Default)]
struct Outbox {
    frames: VecDeque<(bool, Vec<u8>)>,
    /// Events dropped since the last one written.
    lost: u64,
    /// Seq and time of the last event dropped (for the `Lost` event).
    last_dropped: (u64, u64),
    closed: bool,
}

/// One client's queue and the condition its writer waits on.
#[derive(Default)]
struct ClientQueue {
    outbox: Mutex<Outbox>,
    ready: Condvar,
}

impl ClientQueue {
    /// Queues an answer (never dropped: its asker waits for it).
    fn answer(&self, bytes: Vec<u8>) {
        let mut o = self.outbox.lock();
        o.frames.push_back((false, bytes));
        self.ready.notify_one();
    }

    /// Queues an event, dropping the oldest queued event when full.
    fn event(&self, e: &Event) {
        let mut o = self.outbox.lock();
        if o.frames.len() >= CLIENT_QUEUE {
            match o.frames.iter().position(|(event, _)| *event) {
                Some(i) => {
                    o.frames.remove(i);
                }
                // Only answers queued: drop this event instead.
                None => {
                    o.lost += 1;
                    o.last_dropped = (e.seq, e.time_ns);
                    return;
                }
            }
            o.lost += 1;
            o.last_dropped = (e.seq, e.time_ns);
        }
        o.frames
            .push_back((true, encode(0, &Body::Event(e.clone()))));
        self.ready.notify_one();
    }

    fn close(&self) {
        self.outbox.lock().closed = true;
        self.ready.notify_all();
    }

    /// Frames queued now (tests).
    fn len(&self) -> usize {
        self.outbox.lock().frames.len()
    }
}

struct Routes {
    next_id: u32,
    /// Link-side id → (client, the client's own id).
    pending: HashMap<u32, (usize, u32)>,
    clients: Vec<Option<Arc<ClientQueue>>>,
}

/// A shared link; [`Mux::connect`] gives a new client end.
pub struct Mux {
    link: Arc<Mutex<UnixStream>>,
    routes: Arc<Mutex<Routes>>,
}

impl Mux {
    /// Takes over `link` (already connected to a kernel's monitor).
    pub fn new(link: UnixStream) -> io::Result<Mux> {
        let reader = link.try_clone()?;
        let routes = Arc::new(Mutex::new(Routes {
            next_id: 1,
            pending: HashMap::new(),
            clients: Vec::new(),
        }));
        let r = routes.clone();
        std::thread::Builder::new()
            .name("monitor-mux".into())
            .spawn(move || from_kernel(reader, &r))?;
        Ok(Mux {
            link: Arc::new(Mutex::new(link)),
            routes,
        })
    }

    /// A new client end of the link.
    pub fn connect(&self) -> io::Result<UnixStream> {
        let (ours, theirs) = UnixStream::pair()?;
        let queue = Arc::new(ClientQueue::default());
        let index = {
            let mut r = self.routes.lock();
            r.clients.push(Some(queue.clone()));
            r.clients.len() - 1
        };
        let writer = ours.try_clone()?;
        std::thread::Builder::new()
            .name(format!("monitor-mux-out-{index}"))
            .spawn(move || to_client(writer, &queue))?;
        let (link, routes) = (self.link.clone(), self.routes.clone());
        std::thread::Builder::new()
            .name(format!("monitor-mux-{index}"))
            .spawn(move || from_client(index, ours, &link, &routes))?;
        Ok(theirs)
    }

    /// Frames queued for each client now (a test's view of memory held).
    pub fn queued(&self) -> Vec<usize> {
        self.routes
            .lock()
            .clients
            .iter()
            .map(|c| c.as_ref().map_or(0, |q| q.len()))
            .collect()
    }
}

/// Writes one client's queue to it; a slow client blocks only this thread.
fn to_client(mut stream: UnixStream, q: &ClientQueue) {
    loop {
        let (frame, lost) = {
            let mut o = q.outbox.lock();
            while o.frames.is_empty() && !o.closed {
                q.ready.wait(&mut o);
            }
            let Some((_, frame)) = o.frames.pop_front() else {
                break;
            };
            let lost = (o.lost > 0).then(|| (std::mem::take(&mut o.lost), o.last_dropped));
            (frame, lost)
        };
        if let Some((count, (seq, time_ns))) = lost {
            let e = Event {
                seq,
                time_ns,
                kind: EventKind::Lost { count },
            };
            if stream.write_all(&encode(0, &Body::Event(e))).is_err() {
                break;
            }
        }
        if stream.write_all(&frame).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Client → kernel: renumber requests, forward.
fn from_client(
    index: usize,
    mut stream: UnixStream,
    link: &Mutex<UnixStream>,
    routes: &Mutex<Routes>,
) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Some(frame) = decoder.next_frame() {
            // Garbage from a local client is dropped; the kernel never sees it.
            let Ok(frame) = frame else { continue };
            let id = {
                let mut r = routes.lock();
                let id = r.next_id;
                r.next_id = r.next_id.wrapping_add(1).max(1);
                r.pending.insert(id, (index, frame.id));
                id
            };
            if link.lock().write_all(&encode(id, &frame.body)).is_err() {
                return;
            }
        }
    }
    if let Some(q) = routes.lock().clients[index].take() {
        q.close();
    }
}

/// Kernel → clients: answers to their askers, events to all; never blocks
/// on a client (each has its own writer).
fn from_kernel(mut link: UnixStream, routes: &Mutex<Routes>) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match link.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Some(frame) = decoder.next_frame() {
            let Ok(Frame { id, body }) = frame else {
                continue;
            };
            let mut r = routes.lock();
            match body {
                Body::Event(e) => {
                    for c in r.clients.iter().flatten() {
                        c.event(&e);
                    }
                }
                // A kernel's last words go to everyone.
                body @ Body::Dump(_) => {
                    let frame = encode(0, &body);
                    for c in r.clients.iter().flatten() {
                        c.answer(frame.clone());
                    }
                }
                body => {
                    if let Some((index, their_id)) = r.pending.remove(&id) {
                        if let Some(Some(c)) = r.clients.get(index) {
                            c.answer(encode(their_id, &body));
                        }
                    }
                }
            }
        }
    }
    // The link is gone: close every client so each sees it.
    for c in routes.lock().clients.iter_mut() {
        if let Some(q) = c.take() {
            q.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_protocol::{Request, Response, req};

    /// A stand-in kernel end: answers `n` requests with `Done` under their
    /// own ids, then hangs up (a dropped serial link).
    fn kernel(mut end: UnixStream, mut n: usize) {
        let mut decoder = Decoder::new();
        let mut buf = [0u8; 4096];
        while n > 0 {
            let Ok(got) = end.read(&mut buf) else { return };
            if got == 0 {
                return;
            }
            decoder.push(&buf[..got]);
            while let Some(Ok(f)) = decoder.next_frame() {
                let _ = end.write_all(&encode(f.id, &Body::Response(Response::Untail(()))));
                n -= 1;
            }
        }
    }

    fn read_frame(s: &mut UnixStream) -> Option<Frame> {
        let mut d = Decoder::new();
        let mut buf = [0u8; 256];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                return None;
            }
            d.push(&buf[..n]);
            if let Some(f) = d.next_frame() {
                return Some(f.unwrap());
            }
        }
    }

    #[test]
    fn answers_go_to_whoever_asked_and_a_dropped_link_closes_every_client() {
        let (link, end) = UnixStream::pair().unwrap();
        std::thread::spawn(move || kernel(end, 2));
        let mux = Mux::new(link).unwrap();
        let mut a = mux.connect().unwrap();
        let mut b = mux.connect().unwrap();
        // Both clients use id 7: each gets its own answer, under its own id.
        a.write_all(&encode(7, &Body::Request(Request::Ps(req::Ps {}))))
            .unwrap();
        let fa = read_frame(&mut a).unwrap();
        b.write_all(&encode(7, &Body::Request(Request::Info(req::Info {}))))
            .unwrap();
        let fb = read_frame(&mut b).unwrap();
        for f in [fa, fb] {
            assert_eq!(f.id, 7);
            assert!(matches!(f.body, Body::Response(Response::Untail(()))));
        }
        // The kernel hung up after two answers: both clients see the link close.
        assert!(read_frame(&mut a).is_none());
        assert!(read_frame(&mut b).is_none());
    }

    fn event(seq: u64) -> Vec<u8> {
        let e = Event {
            seq,
            time_ns: seq,
            kind: EventKind::Log {
                pid: 1,
                level: tidemark_abi::Level::Info,
                text: "flood".into(),
            },
        };
        encode(0, &Body::Event(e))
    }

    /// A client that never reads its socket does not hold up another's
    /// answer, and what the mux holds for it stays within its queue while
    /// the kernel floods events (the old mux wrote every event to every
    /// client, blocking, under one lock: the second client waited forever).
    #[test]
    fn a_client_that_never_reads_holds_up_no_one() {
        let (link, end) = UnixStream::pair().unwrap();
        let mux = Mux::new(link).unwrap();
        let _slow = mux.connect().unwrap();
        let mut fast = mux.connect().unwrap();
        let mut flood = end.try_clone().unwrap();
        // Far more than a socket buffer holds for the client that never reads.
        let flooder = std::thread::spawn(move || {
            for seq in 1..=50_000 {
                if flood.write_all(&event(seq)).is_err() {
                    return;
                }
            }
        });
        std::thread::spawn(move || kernel(end, 1));
        flooder.join().unwrap();
        fast.write_all(&encode(9, &Body::Request(Request::Ps(req::Ps {}))))
            .unwrap();
        fast.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut d = Decoder::new();
        let mut buf = [0u8; 64 * 1024];
        let answer = loop {
            let n = fast
                .read(&mut buf)
                .expect("the answer comes, whatever the other client does");
            assert!(n > 0, "link closed before the answer");
            d.push(&buf[..n]);
            let mut got = None;
            while let Some(f) = d.next_frame() {
                if let Body::Response(_) = f.as_ref().unwrap().body {
                    got = Some(f.unwrap());
                }
            }
            if let Some(f) = got {
                break f;
            }
        };
        assert_eq!(answer.id, 9);
        let queued = mux.queued();
        assert!(
            queued.iter().all(|q| *q <= CLIENT_QUEUE),
            "queues bounded: {queued:?}"
        );
    }
}
