//! Driving the playground in headless Chromium over the DevTools protocol:
//! `tidemark serve-playground` and Chromium started as children (killed on
//! drop), a page session that evaluates script, types key by key and
//! reports the page's errors. Shared by `tests/playground.rs` and
//! `benches/wasm_js.rs`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// Kills a child when the test ends, however it ends.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DevTools session on one page.
pub struct Page {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    /// The page's uncaught exceptions and console errors, for failure reports.
    errors: Vec<String>,
}

impl Page {
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        if std::env::var_os("TIDEMARK_CDP_TRACE").is_some() {
            eprintln!("cdp> {msg}");
        }
        self.ws.send(Message::Text(msg.into())).unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if std::env::var_os("TIDEMARK_CDP_TRACE").is_some() {
                eprintln!("cdp< {}", &t[..t.len().min(300)]);
            }
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            match v["method"].as_str() {
                Some("Runtime.exceptionThrown") => self
                    .errors
                    .push(v["params"]["exceptionDetails"].to_string()),
                Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                    self.errors.push(v["params"]["args"].to_string())
                }
                Some("Log.entryAdded") => {
                    self.errors.push(v["params"]["entry"]["text"].to_string())
                }
                _ => {}
            }
        }
    }

    /// Evaluates `expr` in the page (awaiting a promise); its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy in the page.
    pub fn wait_for(&mut self, expr: &str, what: &str, within: Duration) -> Value {
        let end = Instant::now() + within;
        loop {
            let v = self.eval(expr);
            if !(v.is_null() || v == false) {
                return v;
            }
            if Instant::now() >= end {
                let shows = self.eval("(window.playground ? playground.transcript() : '') + '\\n[status] ' + document.getElementById('status')?.textContent");
                panic!(
                    "{what} within {within:?}; the page shows:\n{shows}\nerrors: {:#?}",
                    self.errors
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn key(&mut self, key: &str, text: &str, code: u32) {
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyDown", "key": key, "text": text, "unmodifiedText": text,
                    "windowsVirtualKeyCode": code }),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": key, "windowsVirtualKeyCode": code }),
        );
    }

    /// Types `line` and Enter into the terminal, key by key; waits for the
    /// next prompt and returns what the terminal showed for it.
    pub fn type_line(&mut self, line: &str) -> String {
        let before = self
            .eval("playground.transcript().length")
            .as_u64()
            .unwrap();
        for c in line.chars() {
            let s = c.to_string();
            // Windows virtual key codes match ASCII only for letters and
            // digits ('-' is 45, VK_INSERT): others go by their text alone.
            let code = if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase() as u32
            } else {
                0
            };
            self.key(&s, &s, code);
        }
        self.key("Enter", "\r", 13);
        let expr = format!(
            "(() => {{ const t = playground.transcript().slice({before}); \
               return t.includes('\\n') && t.endsWith('tms> ') ? t : null; }})()"
        );
        self.wait_for(
            &expr,
            &format!("an answer to `{line}`"),
            Duration::from_secs(30),
        )
        .as_str()
        .unwrap()
        .to_string()
    }
}

/// A GET to DevTools' HTTP endpoint (it keeps the connection open: read
/// the head, then Content-Length bytes).
fn get(addr: &str, path: &str) -> String {
    let mut s = BufReader::new(TcpStream::connect(addr).unwrap());
    write!(s.get_mut(), "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut len = 0;
    loop {
        let mut l = String::new();
        s.read_line(&mut l).unwrap();
        if l.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

/// A playground served and a Chromium page on it, both stopped on drop.
pub struct Playground {
    pub page: Page,
    /// What `serve-playground --json` said (url, kernel, kernel_bytes).
    pub served: Value,
    _chromium: Kill,
    _server: Kill,
    profile: PathBuf,
}

impl Drop for Playground {
    fn drop(&mut self) {
        // Chromium first: alive, it would write its profile back.
        let _ = self._chromium.0.kill();
        let _ = self._chromium.0.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Playground {
    /// Serves the playground with `bin`, opens it in headless Chromium and
    /// waits for the first prompt; `figures` is the page's
    /// (`bootMs`, `firstPromptMs`, `kernelBytes`).
    pub fn open(bin: &str) -> (Playground, Value) {
        let mut server = Kill(
            Command::new(bin)
                .args(["serve-playground", "--addr", "127.0.0.1:0", "--json"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut first = String::new();
        BufReader::new(server.0.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let served: Value =
            serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first:?}"));
        let url = served["url"].as_str().unwrap().to_string();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "tidemark-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut chromium = Kill(
            Command::new("chromium")
                .args([
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1200,860",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg("about:blank")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run chromium ({e}): run ./scripts/setup, which installs it")
                }),
        );
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let mut lines = BufReader::new(chromium.0.stderr.take().unwrap()).lines();
        let devtools = loop {
            let l = lines
                .next()
                .expect("chromium exited before DevTools listened")
                .unwrap();
            if let Some(u) = l.strip_prefix("DevTools listening on ") {
                break u.to_string();
            }
        };
        // Keep draining Chromium's stderr so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let host = devtools
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let targets: Value = serde_json::from_str(&get(&host, "/json/list")).unwrap();
        let page_ws = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let (ws, _) = tungstenite::connect(page_ws).unwrap();
        // A page that never answers fails the run instead of hanging it.
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        }
        let mut page = Page {
            ws,
            next: 0,
            errors: Vec::new(),
        };
        page.call("Page.enable", json!({}));
        page.call("Runtime.enable", json!({}));
        page.call("Log.enable", json!({}));
        page.call("Page.navigate", json!({ "url": url }));
        let figures = page.wait_for(
            "window.playground && playground.figures.firstPromptMs > 0 ? playground.figures : null",
            "the kernel booted and the shell attached",
            Duration::from_secs(60),
        );
        page.eval("document.querySelector('.xterm-helper-textarea').focus(), true");
        (
            Playground {
                page,
                served,
                _chromium: chromium,
                _server: server,
                profile,
            },
            figures,
        )
    }
}
