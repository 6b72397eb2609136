//! `tidemark serve-playground`: a page that runs the wasm-js kernel in the
//! visitor's browser (the JS runtime, in a worker) with a REPL in xterm.js.
//!
//! The kernel runs in the page; the shell does not: each page opens a
//! WebSocket back to this server, which attaches the shell's own client and
//! command parser to the kernel through it. Monitor bytes travel as binary
//! messages (page ⇄ kernel worker on one side, shell client on the other),
//! REPL lines and their output as text messages. So the page speaks the
//! same monitor protocol as every board, and no command or kernel semantics
//! are written a second time in JS.
//!
//! One listener serves both: a request asking to upgrade to a WebSocket is
//! handed to tungstenite, anything else is a `GET` of the page's files (the
//! page, the runtime's modules, xterm.js, the kernel image with the example
//! guests as its boot bundle).
//!
//! xterm.js is npm's package as Debian ships it (`node-xterm`: its CommonJS
//! modules; Debian's browser build in `libjs-xterm` is an empty stub), so
//! the server bundles those modules for the browser once, at start, behind
//! a few lines of `require`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;
use tungstenite::{Message, WebSocket};

/// Where xterm.js's CommonJS modules are looked for: `$TIDEMARK_XTERM_DIR`
/// (npm's `xterm` package's `lib/`, 3.x), else Debian's `node-xterm`.
fn xterm_dir() -> PathBuf {
    std::env::var_os("TIDEMARK_XTERM_DIR").map_or_else(
        || PathBuf::from("/usr/share/nodejs/xterm/lib"),
        PathBuf::from,
    )
}

/// xterm.js's modules under `dir` as one browser script that defines
/// `window.Terminal`: each module wrapped in a function of `module`,
/// `exports` and a `require` that resolves paths relative to it. The
/// package's tests are left out.
fn bundle_xterm(dir: &std::path::Path) -> std::io::Result<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "js")
                && !p.to_string_lossy().ends_with(".test.js")
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    if !files.iter().any(|f| f.ends_with("public/Terminal.js")) {
        return Err(std::io::Error::other("no public/Terminal.js"));
    }
    let mut js = String::from("(function () {\n\"use strict\";\nconst defs = {\n");
    for f in &files {
        let id = f.strip_prefix(dir).unwrap_or(f).with_extension("");
        let src = std::fs::read_to_string(f)?;
        js.push_str(&format!(
            "{:?}: function (module, exports, require) {{\n{src}\n}},\n",
            id.to_string_lossy()
        ));
    }
    js.push_str(XTERM_LOADER);
    Ok(js)
}

/// The bundle's `require`: relative paths from the requiring module, as Node
/// resolves them among the bundled files.
const XTERM_LOADER: &str = r#"};
const cache = {};
function resolve(from, spec) {
  const parts = from.split("/");
  parts.pop();
  for (const seg of spec.replace(/\.js$/, "").split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== ".") parts.push(seg);
  }
  const id = parts.join("/");
  if (id in defs) return id;
  if (id + "/index" in defs) return id + "/index";
  throw new Error("xterm bundle: cannot resolve " + spec + " from " + from);
}
function load(id) {
  if (!cache[id]) {
    const module = { exports: {} };
    cache[id] = module;
    defs[id](module, module.exports, (spec) => load(resolve(id, spec)));
  }
  return cache[id].exports;
}
window.Terminal = load("public/Terminal").Terminal;
})();
"#;

/// The page's own files, compiled in so an installed binary serves them.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html",
        include_str!("../../boards/wasm-js/playground/index.html"),
    ),
    (
        "/app.js",
        "text/javascript",
        include_str!("../../boards/wasm-js/playground/app.js"),
    ),
    (
        "/style.css",
        "text/css",
        include_str!("../../boards/wasm-js/playground/style.css"),
    ),
    (
        "/runtime/index.js",
        "text/javascript",
        include_str!("../../boards/wasm-js/runtime/src/index.js"),
    ),
    (
        "/runtime/host.js",
        "text/javascript",
        include_str!("../../boards/wasm-js/runtime/src/host.js"),
    ),
    (
        "/runtime/kernel.js",
        "text/javascript",
        include_str!("../../boards/wasm-js/runtime/src/kernel.js"),
    ),
    (
        "/runtime/worker.js",
        "text/javascript",
        include_str!("../../boards/wasm-js/runtime/src/worker.js"),
    ),
];

/// What the server serves, read once at start.
struct Site {
    kernel: Vec<u8>,
    xterm_js: Vec<u8>,
    xterm_css: Vec<u8>,
    guests: String,
}

/// What `serve-playground` says when it is up (human or `--json`).
#[derive(Serialize, schemars::JsonSchema)]
pub struct Listening {
    /// The page's address.
    pub url: String,
    /// The kernel image served to the page.
    pub kernel: PathBuf,
    /// Its size in bytes.
    pub kernel_bytes: u64,
}

/// `tidemark serve-playground`.
pub fn run(addr: SocketAddr, json: bool) -> Result<ExitCode, String> {
    let dir = xterm_dir();
    let missing = |e: std::io::Error| {
        format!(
            "xterm.js not found in {} ({e}): install Debian's node-xterm (./scripts/setup does), or set TIDEMARK_XTERM_DIR to npm's xterm 3.x package's lib/",
            dir.display()
        )
    };
    let xterm_js = bundle_xterm(&dir).map_err(missing)?.into_bytes();
    let xterm_css = std::fs::read(dir.join("xterm.css")).map_err(missing)?;
    let board = crate::Board::get("wasm-js").ok_or("the wasm-js board is not compiled in")?;
    let path = crate::firmware::image(board)?;
    let kernel = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let guests = serde_json::to_string(
        &tidemark_guest_artifacts::ALL
            .iter()
            .filter(|g| g.source == "rust")
            .map(|g| g.name)
            .collect::<Vec<_>>(),
    )
    .map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let up = Listening {
        url: format!("http://{local}/"),
        kernel: path,
        kernel_bytes: kernel.len() as u64,
    };
    if json {
        println!("{}", serde_json::to_string(&up).map_err(|e| e.to_string())?);
    } else {
        println!(
            "playground at {} (kernel {}, {})",
            up.url,
            up.kernel.display(),
            tidemark_shell::output::size(up.kernel_bytes)
        );
    }
    let _ = std::io::stdout().flush();
    let site: &'static Site = Box::leak(Box::new(Site {
        kernel,
        xterm_js,
        xterm_css,
        guests,
    }));
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || {
                    if let Err(e) = serve(stream, site) {
                        eprintln!("tidemark: playground: {e}");
                    }
                });
            }
            // Out of file descriptors, say: do not spin on it.
            Err(e) => {
                eprintln!("tidemark: playground: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One connection: a WebSocket for a page's REPL, or one `GET`.
fn serve(stream: TcpStream, site: &Site) -> Result<(), String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    // Look at the request line without taking it: tungstenite reads the
    // head itself.
    let mut head = [0u8; 4096];
    let n = stream.peek(&mut head).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    if text.starts_with("get /ws ") || text.starts_with("get /ws?") {
        let ws =
            tungstenite::accept_hdr(stream, same_origin).map_err(|e| format!("websocket: {e}"))?;
        return relay(ws);
    }
    let path = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("get "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    let (status, kind, body): (&str, &str, &[u8]) = match path.as_str() {
        "/kernel.wasm" => ("200 OK", "application/wasm", &site.kernel),
        "/xterm/xterm.js" => ("200 OK", "text/javascript", &site.xterm_js),
        "/xterm/xterm.css" => ("200 OK", "text/css", &site.xterm_css),
        "/guests.json" => ("200 OK", "application/json", site.guests.as_bytes()),
        p => match FILES.iter().find(|(f, _, _)| *f == p) {
            Some((_, kind, body)) => ("200 OK", kind, body.as_bytes()),
            None => ("404 Not Found", "text/plain", b"not found\n"),
        },
    };
    let mut stream = stream;
    // Read (and drop) the request so closing does not reset the connection.
    let _ = stream.read(&mut head);
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .and_then(|()| stream.write_all(body))
    .map_err(|e| e.to_string())
}

/// Refuses a WebSocket opened by a page from another site: any page a
/// browser shows may open `ws://127.0.0.1:…`, and this socket drives a
/// shell. Only the page this server served (its `Origin` is the `Host` it
/// asked) gets one.
#[allow(clippy::result_large_err)]
fn same_origin(
    req: &tungstenite::handshake::server::Request,
    resp: tungstenite::handshake::server::Response,
) -> Result<tungstenite::handshake::server::Response, tungstenite::handshake::server::ErrorResponse>
{
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) if origin == format!("http://{host}") => Ok(resp),
        _ => {
            let mut refused = tungstenite::handshake::server::ErrorResponse::new(Some(
                "the playground's shell is for the page it served\n".into(),
            ));
            *refused.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
            Err(refused)
        }
    }
}

/// Commands the playground's shell refuses: they read or write files on
/// the server's machine, and the kernel answering them runs in a page.
fn touches_host_files(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["pkg", "upload", ..] | ["dump", ..] | ["record", ..] => true,
        ["fs", "commit", rest @ ..] => rest.iter().any(|w| w.starts_with("--save")),
        _ => false,
    }
}

/// Text messages to the page.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ToPage {
    /// The shell attached: the prompt may be shown.
    Ready,
    /// A line's output (`ok` false: an error).
    Output { text: String, ok: bool },
    /// The shell could not attach, or the link went away.
    Error { text: String },
}

/// Moves a page's traffic: its binary messages (the kernel's monitor bytes)
/// to the shell's client and back, its text messages (REPL lines) to the
/// shell, the shell's output to it. One thread, woken by `poll` when the
/// page sends or when the other side has something (a byte on `wake`), so
/// nothing waits on a timer.
fn relay(mut ws: WebSocket<TcpStream>) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    ws.get_ref().set_nodelay(true).map_err(io)?;
    ws.get_ref().set_nonblocking(true).map_err(io)?;
    let (client_end, mut link) = UnixStream::pair().map_err(io)?;
    let (wake_tx, mut wake) = UnixStream::pair().map_err(io)?;
    wake.set_nonblocking(true).map_err(io)?;
    let mut from_client = link.try_clone().map_err(io)?;
    let (bytes_tx, bytes_rx) = mpsc::channel::<Vec<u8>>();
    let mut waker = wake_tx.try_clone().map_err(io)?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = from_client.read(&mut buf) {
            if n == 0 || bytes_tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
            let _ = waker.write_all(&[1]);
        }
    });
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let (out_tx, out_rx) = mpsc::channel::<ToPage>();
    std::thread::spawn(move || shell(client_end, &lines_rx, &out_tx, wake_tx));
    let r = pump_page(&mut ws, &mut link, &mut wake, &lines_tx, &bytes_rx, &out_rx);
    // Ends the shell's client and the reader thread.
    let _ = link.shutdown(std::net::Shutdown::Both);
    r
}

/// The relay's loop, until the page goes.
fn pump_page(
    ws: &mut WebSocket<TcpStream>,
    link: &mut UnixStream,
    wake: &mut UnixStream,
    lines_tx: &mpsc::Sender<String>,
    bytes_rx: &mpsc::Receiver<Vec<u8>>,
    out_rx: &mpsc::Receiver<ToPage>,
) -> Result<(), String> {
    use rustix::event::{PollFd, PollFlags, poll};
    let io = |e: std::io::Error| e.to_string();
    let would_block = |e: &tungstenite::Error| matches!(e, tungstenite::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    loop {
        loop {
            match ws.read() {
                Ok(Message::Binary(b)) => link.write_all(&b).map_err(io)?,
                Ok(Message::Text(line)) => {
                    if lines_tx.send(line.to_string()).is_err() {
                        return Ok(());
                    }
                }
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                // A page closed or reloaded.
                Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
        let _ = wake.read(&mut [0u8; 256]);
        let mut queue = |m: Message| match ws.write(m) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        while let Ok(b) = bytes_rx.try_recv() {
            queue(Message::Binary(b.into()))?;
        }
        while let Ok(m) = out_rx.try_recv() {
            let text = serde_json::to_string(&m).map_err(|e| e.to_string())?;
            queue(Message::Text(text.into()))?;
        }
        let unsent = match ws.flush() {
            Ok(()) => false,
            Err(e) if would_block(&e) => true,
            Err(e) => return Err(e.to_string()),
        };
        let out = if unsent {
            PollFlags::IN | PollFlags::OUT
        } else {
            PollFlags::IN
        };
        let mut fds = [
            PollFd::new(ws.get_ref(), out),
            PollFd::new(&*wake, PollFlags::IN),
        ];
        poll(&mut fds, None).map_err(|e| e.to_string())?;
        if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR) && !unsent {
            return Ok(());
        }
    }
}

/// The shell's side: the same client, parser and output as `tidemark shell`.
/// Each message to the page is followed by a byte on `wake` for the relay.
fn shell(
    link: UnixStream,
    lines: &mpsc::Receiver<String>,
    out: &mpsc::Sender<ToPage>,
    mut wake: UnixStream,
) {
    let mut send = |m: ToPage| out.send(m).is_ok() && wake.write_all(&[1]).is_ok();
    let client = match tidemark_shell::Client::attach(link) {
        Ok(c) => c,
        Err(e) => {
            send(ToPage::Error {
                text: format!("cannot attach to the kernel in the page: {e}"),
            });
            return;
        }
    };
    let mut session = tidemark_shell::Session::new(client);
    // The kernel is in a page: it cannot have the server fetch for it.
    session.client.packages.set_courier(false);
    if !send(ToPage::Ready) {
        return;
    }
    loop {
        // Between lines, keep reading the link: a chatty guest's events
        // would otherwise fill it and stall the relay's writes.
        let line = match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if session.client.pump(Duration::ZERO).is_err() || session.client.is_closed() {
                    break;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if touches_host_files(&line) {
            let text =
                "error: the playground runs no command that reads or writes the server's files"
                    .to_string();
            if !send(ToPage::Output { text, ok: false }) {
                break;
            }
            continue;
        }
        let json = tidemark_shell::wants_json(&line);
        let m = match tidemark_shell::execute(&mut session, &line, false) {
            Ok(text) => ToPage::Output { text, ok: true },
            Err(e) => ToPage::Output {
                text: tidemark_shell::render_error(&e, json),
                ok: false,
            },
        };
        if !send(m) || session.client.is_closed() {
            break;
        }
    }
}
