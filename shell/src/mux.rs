//! One monitor link shared by many clients.
//!
//! A serial line (QEMU's UART, a board's USB-serial) carries one monitor
//! connection, but a `tidemark dev` session wants several: the REPL, the
//! screen's collector, the reloader. The mux owns the link and hands out
//! local socket pairs; request ids are rewritten on the way in so each answer
//! goes back to whoever asked, and every event goes to every client. When the
//! link drops, every client sees its stream close.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use parking_lot::Mutex;
use tidemark_monitor::{Body, Decoder, encode};

struct Routes {
    next_id: u32,
    /// Link-side id → (client, the client's own id).
    pending: HashMap<u32, (usize, u32)>,
    clients: Vec<Option<UnixStream>>,
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
        let routes = Arc::new(Mutex::new(Routes { next_id: 1, pending: HashMap::new(), clients: Vec::new() }));
        let r = routes.clone();
        std::thread::Builder::new().name("monitor-mux".into()).spawn(move || from_kernel(reader, &r))?;
        Ok(Mux { link: Arc::new(Mutex::new(link)), routes })
    }

    /// A new client end of the link.
    pub fn connect(&self) -> io::Result<UnixStream> {
        let (ours, theirs) = UnixStream::pair()?;
        let index = {
            let mut r = self.routes.lock();
            r.clients.push(Some(ours.try_clone()?));
            r.clients.len() - 1
        };
        let (link, routes) = (self.link.clone(), self.routes.clone());
        std::thread::Builder::new().name(format!("monitor-mux-{index}")).spawn(move || from_client(index, ours, &link, &routes))?;
        Ok(theirs)
    }
}

/// Client → kernel: renumber requests, forward.
fn from_client(index: usize, mut stream: UnixStream, link: &Mutex<UnixStream>, routes: &Mutex<Routes>) {
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
    routes.lock().clients[index] = None;
}

/// Kernel → clients: answers to their askers, events to all.
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
            let Ok(frame) = frame else { continue };
            let mut r = routes.lock();
            match &frame.body {
                Body::Event(_) => {
                    let bytes = encode(0, &frame.body);
                    for c in r.clients.iter_mut().flatten() {
                        let _ = c.write_all(&bytes);
                    }
                }
                _ => {
                    if let Some((index, id)) = r.pending.remove(&frame.id) {
                        if let Some(Some(c)) = r.clients.get_mut(index) {
                            let _ = c.write_all(&encode(id, &frame.body));
                        }
                    }
                }
            }
        }
    }
    // The link is gone: close every client so each sees it.
    for c in routes.lock().clients.iter_mut() {
        if let Some(s) = c.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_monitor::{Request, Response};

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
                let _ = end.write_all(&encode(f.id, &Body::Response(Response::Done)));
                n -= 1;
            }
        }
    }

    fn read_frame(s: &mut UnixStream) -> Option<tidemark_monitor::Frame> {
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
        a.write_all(&encode(7, &Body::Request(Request::Ps))).unwrap();
        let fa = read_frame(&mut a).unwrap();
        b.write_all(&encode(7, &Body::Request(Request::Info))).unwrap();
        let fb = read_frame(&mut b).unwrap();
        for f in [fa, fb] {
            assert_eq!(f.id, 7);
            assert!(matches!(f.body, Body::Response(Response::Done)));
        }
        // The kernel hung up after two answers: both clients see the link close.
        assert!(read_frame(&mut a).is_none());
        assert!(read_frame(&mut b).is_none());
    }
}
