//! `pkg serve DIR`: a package server on tiny_http. Two routes, `GET` or
//! `HEAD`: `/catalog.bin` and `/pkg/<sha256>.wasm` (64 lower-case hex
//! digits, so no path reaches outside DIR). A single `Range: bytes=` is
//! honoured within the file (206, or 416 when it lies outside); anything
//! else is served whole. Files over the size cap are refused (413). Each
//! request is logged on stderr.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// A running server.
pub struct Serving {
    server: Arc<Server>,
    /// Where it listens.
    pub addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving `dir` on `addr`; `log` says whether to log requests.
pub fn start(dir: &Path, addr: &str, max_bytes: u64, log: bool) -> Result<Serving, String> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    // tiny_http sends headers and body in separate writes; with Nagle on,
    // the body waited for the client's delayed ACK of the headers (40 ms a
    // GET). Accepted sockets inherit TCP_NODELAY from the listener.
    rustix::net::sockopt::set_tcp_nodelay(&listener, true).map_err(|e| format!("{addr}: TCP_NODELAY: {e}"))?;
    let server = Server::from_listener(listener, None).map_err(|e| format!("cannot serve on {addr}: {e}"))?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("{addr} is not an IP address"))?;
    let server = Arc::new(server);
    let (s, dir) = (server.clone(), dir.to_path_buf());
    let thread = std::thread::Builder::new()
        .name("pkg-serve".into())
        .spawn(move || {
            for rq in s.incoming_requests() {
                let dir = dir.clone();
                // One thread per request: a slow client holds up nobody.
                let _ = std::thread::Builder::new()
                    .name("pkg-request".into())
                    .spawn(move || answer(rq, &dir, max_bytes, log));
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Serving {
        server,
        addr: local,
        thread: Some(thread),
    })
}

/// The file a path names, if it names one.
fn route(dir: &Path, path: &str) -> Option<PathBuf> {
    if path == "/catalog.bin" {
        return Some(dir.join(super::dir::CATALOG));
    }
    let hash = path.strip_prefix("/pkg/")?.strip_suffix(".wasm")?;
    (hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| super::dir::module_path(dir, hash))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within `len`: `Some(Ok(range))`,
/// `Some(Err(()))` when unsatisfiable, `None` to serve the whole file.
fn range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
        (Ok(a), Err(_)) if b.is_empty() => (a, len.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        _ => return None,
    };
    Some(if len == 0 || r.0 >= len { Err(()) } else { Ok(r) })
}

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("ASCII header")
}

fn answer(rq: Request, dir: &Path, max: u64, log: bool) {
    let (method, path) = (rq.method().clone(), rq.url().to_string());
    let (status, sent) = respond(rq, dir, max);
    if log {
        eprintln!("pkg serve: {method} {path} {status} {sent} bytes");
    }
}

fn respond(rq: Request, dir: &Path, max: u64) -> (u16, u64) {
    let plain = |rq: Request, code: u16, text: &str| {
        let _ = rq.respond(Response::from_string(text).with_status_code(StatusCode(code)));
        (code, 0)
    };
    if !matches!(rq.method(), Method::Get | Method::Head) {
        return plain(rq, 405, "GET or HEAD only\n");
    }
    let Some(file) = route(dir, rq.url()) else {
        return plain(rq, 404, "not a package server path: /catalog.bin or /pkg/<sha256>.wasm\n");
    };
    let Ok(f) = std::fs::File::open(&file) else {
        return plain(rq, 404, "no such package\n");
    };
    let len = f.metadata().map_or(0, |m| m.len());
    if len > max {
        return plain(rq, 413, &format!("over this server's {max}-byte cap\n"));
    }
    let want = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .and_then(|h| range(h.value.as_str(), len));
    let head = *rq.method() == Method::Head;
    let (code, start, count) = match want {
        Some(Err(())) => {
            let r = Response::empty(StatusCode(416)).with_header(header("Content-Range", &format!("bytes */{len}")));
            let _ = rq.respond(r);
            return (416, 0);
        }
        Some(Ok((a, b))) => (206, a, b - a + 1),
        None => (200, 0, len),
    };
    let mut f = f;
    if start > 0 && std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start)).is_err() {
        return plain(rq, 500, "seek failed\n");
    }
    let body: Box<dyn Read + Send> = if head { Box::new(std::io::empty()) } else { Box::new(f.take(count)) };
    let mut r = Response::new(StatusCode(code), Vec::new(), body, Some(count as usize), None)
        .with_header(header("Content-Type", "application/octet-stream"))
        .with_header(header("Accept-Ranges", "bytes"))
        // Always a Content-Length, never chunked: the client learns the
        // size before the body.
        .with_chunked_threshold(usize::MAX);
    if code == 206 {
        r = r.with_header(header("Content-Range", &format!("bytes {start}-{}/{len}", start + count - 1)));
    }
    let _ = rq.respond(r);
    (code, if head { 0 } else { count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_inside_the_file() {
        assert_eq!(range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(range("bytes=90-200", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=50-", 100), Some(Ok((50, 99))));
        assert_eq!(range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-1000", 100), Some(Ok((0, 99))));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("bytes=18446744073709551615-", 100), Some(Err(())));
        assert_eq!(range("bytes=5-1", 100), None);
        assert_eq!(range("bytes=0-1,5-6", 100), None);
        assert_eq!(range("items=0-1", 100), None);
        assert_eq!(range("bytes=0-0", 0), Some(Err(())));
    }

    #[test]
    fn only_the_two_routes_reach_files() {
        let d = Path::new("/srv");
        assert_eq!(route(d, "/catalog.bin"), Some(d.join("catalog.bin")));
        let h = "a".repeat(64);
        assert_eq!(route(d, &format!("/pkg/{h}.wasm")), Some(d.join(format!("pkg/{h}.wasm"))));
        for bad in ["/pkg/../catalog.bin", "/pkg/ABC.wasm", "/index.toml", &format!("/pkg/{}.wasm", "A".repeat(64)), "/pkg/%2e%2e.wasm"] {
            assert_eq!(route(d, bad), None, "{bad}");
        }
    }
}
