//! Packages on demand, end to end: `tidemark pkg keygen/build/publish`
//! write a signed package directory, real `tidemark pkg serve` processes
//! (and two misbehaving servers written here on raw TCP) serve it on
//! loopback, and scripted sessions on hosted and on qemu-riscv32 trust the
//! key, load the catalog, resolve, spawn, evict and pin, and meet every
//! kind of bad input the issue lists: each refused with an event, and the
//! cache unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

#[path = "support/padded.rs"]
mod padded;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

/// A guest the bundled examples do not have: exits with 7.
const EXTRA: &str = r#"(module
  (import "tidemark" "proc_exit" (func $exit (param i32) (result i32)))
  (func (export "tidemark_main") (drop (call $exit (i32.const 7)))))"#;

/// A guest that resolves `extra` through the `pkg_resolve` hostcall (parked
/// while it is fetched), spawns it, and exits 0; 100+errno if resolving
/// failed, 99 if spawning did.
const LAUNCHER: &str = r#"(module
  (import "tidemark" "pkg_resolve" (func $resolve (param i32 i32 i32) (result i32)))
  (import "tidemark" "proc_spawn" (func $spawn (param i32 i32 i32 i32) (result i32)))
  (import "tidemark" "proc_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "extra")
  (func (export "tidemark_main")
    (local $r i32)
    (local.set $r (call $resolve (i32.const 0) (i32.const 5) (i32.const 64)))
    (if (i32.lt_s (local.get $r) (i32.const 0))
      (then (drop (call $exit (i32.sub (i32.const 100) (local.get $r)))) (return)))
    (local.set $r (call $spawn (i32.const 0) (i32.const 5) (i32.const 0) (i32.const 0)))
    (drop (call $exit (select (i32.const 99) (i32.const 0) (i32.lt_s (local.get $r) (i32.const 0))))))
  (@custom "tidemark.manifest" "classes=process"))"#;

/// A second one, built as a system (pinned) package.
const SYS: &str = r#"(module
  (import "tidemark" "proc_exit" (func $exit (param i32) (result i32)))
  (func (export "tidemark_main") (drop (call $exit (i32.const 9)))))"#;

fn tidemark(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("TIDEMARK_FETCH_TIMEOUT_MS", "1500")
        .env_remove("TIDEMARK_JSON")
        .output()
        .unwrap()
}

fn ok_json(cwd: &Path, args: &[&str]) -> Value {
    let out = tidemark(cwd, args);
    assert!(
        out.status.success(),
        "tidemark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("tidemark-packages-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A published package directory: a key, `extra` and `sys` (system), and
/// the catalog signed at version 1 (kept as `catalog.v1`) and then 2.
struct Published {
    key: String,
    dir: PathBuf,
    extra: String,
    extra_size: u64,
}

fn publish(root: &Path, big: Option<usize>) -> Published {
    let proj = root.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("extra.wat"), EXTRA).unwrap();
    std::fs::write(proj.join("sys.wat"), SYS).unwrap();
    std::fs::write(proj.join("launcher.wat"), LAUNCHER).unwrap();
    let mut manifest = "[project]\nname = \"pkgs\"\n".to_string();
    for g in ["extra", "sys", "launcher"] {
        manifest.push_str(&format!("\n[[guest]]\nname = \"{g}\"\npath = \"{g}.wat\"\n"));
    }
    if let Some(n) = big {
        std::fs::write(proj.join("big.wasm"), padded::module(n)).unwrap();
        manifest.push_str("\n[[guest]]\nname = \"big\"\npath = \"big.wasm\"\n");
    }
    std::fs::write(proj.join("Tidemark.toml"), manifest).unwrap();
    let key_file = root.join("signing.key");
    let key = ok_json(root, &["pkg", "keygen", "--key", key_file.to_str().unwrap(), "--json"]);
    let dir = root.join("pkgs");
    let (d, k) = (dir.to_str().unwrap(), key_file.to_str().unwrap());
    let built = ok_json(root, &["pkg", "build", "--project", "proj", "--out", d, "--system", "sys", "--json"]);
    let extra = built["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "extra")
        .unwrap()
        .clone();
    let v1 = ok_json(root, &["pkg", "publish", d, "--key", k, "--json"]);
    assert_eq!(v1["version"], 1);
    std::fs::copy(dir.join("catalog.bin"), root.join("catalog.v1")).unwrap();
    let v2 = ok_json(root, &["pkg", "publish", d, "--key", k, "--json"]);
    assert_eq!(v2["version"], 2);
    let verified = tidemark(root, &["pkg", "verify", d, "--key", key["public"].as_str().unwrap()]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
    Published {
        key: key["public"].as_str().unwrap().into(),
        dir,
        extra: extra["sha256"].as_str().unwrap().into(),
        extra_size: extra["size"].as_u64().unwrap(),
    }
}

/// A copy of the package directory, changed by `edit`.
fn variant(p: &Published, root: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let to = root.join(name);
    copy_dir(&p.dir, &to);
    edit(&to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn module_file(dir: &Path, hash: &str) -> PathBuf {
    dir.join("pkg").join(format!("{hash}.wasm"))
}

/// A `tidemark pkg serve` process, killed when dropped; its request log.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["pkg", "serve"])
            .arg(dir)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
        let url = url.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "pkg serve printed {url:?}");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, url, log }
    }

    /// Requests logged for paths containing `what`.
    fn requests(&self, what: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains("GET") && l.contains(what)).count()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a hand-written server misbehaves on `GET /pkg/…`.
#[derive(Clone, Copy)]
enum Misbehave {
    /// Promises the whole body, sends half, then holds the connection.
    Stall,
    /// No length, and twice the record's bytes before closing.
    Flood,
}

/// A server on raw TCP that serves `catalog` faithfully and module bytes
/// badly; runs until the test process ends.
fn raw_server(catalog: Vec<u8>, module: Vec<u8>, how: Misbehave) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let (catalog, module) = (catalog.clone(), module.clone());
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    req.push(b[0]);
                }
                let head = String::from_utf8_lossy(&req).to_string();
                if head.starts_with("GET /catalog.bin") {
                    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", catalog.len());
                    let _ = s.write_all(&catalog);
                    return;
                }
                match how {
                    Misbehave::Stall => {
                        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", module.len());
                        let _ = s.write_all(&module[..module.len() / 2]);
                        let _ = s.flush();
                        std::thread::sleep(Duration::from_secs(30));
                    }
                    Misbehave::Flood => {
                        let _ = write!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                        let _ = s.write_all(&module);
                        let _ = s.write_all(&module);
                    }
                }
            });
        }
    });
    url
}

/// Runs `script` with `tidemark run --json` on `board` in `cwd`; the
/// outputs by line, and whether the script passed.
fn session(cwd: &Path, board: &str, script: &str) -> (bool, Vec<Value>, String) {
    let path = cwd.join(format!("session-{board}.tms"));
    std::fs::write(&path, script).unwrap();
    let out = tidemark(cwd, &["run", "--json", "--board", board, path.to_str().unwrap()]);
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("command").is_some())
        .collect();
    (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).into())
}

/// The outputs of every line whose command is `cmd`, in order.
fn outputs<'a>(lines: &'a [Value], cmd: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["command"] == cmd).map(|l| &l["output"]).collect()
}

fn names(ls: &Value) -> Vec<String> {
    ls["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

fn resolve_spawn_evict_and_resolve_again_on(board: &str) {
    let root = Scratch::new(&format!("life-{board}"));
    let p = publish(&root.0, None);
    let server = Server::start(&p.dir);
    // What a fresh kernel of this board holds, to know which one is least
    // recently used once the cache is full.
    let (ok, first, err) = session(&root.0, board, "pkg ls\n");
    assert!(ok, "{err}");
    let ls = first[0]["output"].clone();
    let held = names(&ls);
    let slots = ls["slots"].as_u64().unwrap() as usize;
    assert!(held.len() < slots, "{board} boots with a full cache: {held:?}");
    // Fill the cache to one short of full with the oldest untouched, then
    // touch every held package but the oldest.
    let mut script = format!("pkg trust {}\npkg server {}\npkg catalog\n", p.key, server.url);
    script.push_str("pkg resolve sys\n! pkg evict sys\n");
    for n in &held[1..] {
        script.push_str(&format!("pkg resolve {n}\n"));
    }
    script.push_str("pkg resolve extra\nspawn extra\nexpect event /exit.*7|7.*exit/\npkg ls\n");
    script.push_str("pkg evict extra\npkg resolve extra\npkg resolve extra\npkg ls\nlog --events\n");
    let (ok, lines, err) = session(&root.0, board, &script);
    assert!(ok, "{board}: {err}\n{lines:#?}");

    let catalog = outputs(&lines, "pkg catalog")[0];
    assert_eq!(catalog["version"], 2);
    assert_eq!(catalog["signer"], p.key.as_str());
    let resolved = outputs(&lines, "pkg resolve extra");
    let fetched: Vec<_> = resolved.iter().map(|r| r["fetched"].as_bool().unwrap()).collect();
    assert_eq!(fetched, [true, true, false], "a miss, a miss after evicting, then a hit");
    assert_eq!(resolved[0]["package"]["hash"], p.extra.as_str());
    assert_eq!(resolved[0]["package"]["size"], p.extra_size);
    let sys = outputs(&lines, "pkg resolve sys")[0];
    assert_eq!(sys["package"]["pinned"], true, "a system package is pinned once cached");
    assert!(outputs(&lines, "pkg evict sys")[0]["error"].is_object(), "a pinned package is not evicted");

    // Two fetches of extra reached the server, one of sys, one catalog.
    assert_eq!(server.requests(&format!("/pkg/{}.wasm", p.extra)), 2);
    assert_eq!(server.requests("/catalog.bin"), 1);

    let after = outputs(&lines, "pkg ls");
    let full = names(after[0]);
    let expected_full = held.len() + 2 > slots;
    if expected_full {
        assert!(!full.contains(&held[0]), "{board}: the least recently used ({}) went first: {full:?}", held[0]);
    }
    for n in held.iter().skip(1).chain(["sys".to_string(), "extra".to_string()].iter()) {
        assert!(full.contains(n), "{board}: {n} was evicted out of order: {full:?}");
    }
    assert!(full.contains(&"sys".to_string()));
    let last = after[1];
    assert!(last["hits"].as_u64().unwrap() >= 1 + (held.len() as u64 - 1));
    assert_eq!(last["verify_failures"], 0);
    let events = serde_json::to_string(outputs(&lines, "log --events")[0]).unwrap();
    for kind in ["fetch", "catalog_loaded", "package_installed"] {
        assert!(events.contains(&format!("\"{kind}\"")), "{board}: no {kind} event in {events}");
    }
}

#[test]
fn resolve_spawn_evict_and_resolve_again_on_hosted() {
    resolve_spawn_evict_and_resolve_again_on("hosted");
}

#[test]
fn resolve_spawn_evict_and_resolve_again_on_qemu_riscv32() {
    resolve_spawn_evict_and_resolve_again_on("qemu-riscv32");
}

/// A guest resolves a package that is not cached through the hostcall,
/// parks while the kernel (hosted) or the workbench (a board) fetches and
/// verifies it, then spawns it by name.
fn a_guest_resolves_and_spawns_on(board: &str) {
    let root = Scratch::new(&format!("guest-{board}"));
    let p = publish(&root.0, None);
    let server = Server::start(&p.dir);
    let s = format!(
        "pkg trust {}\npkg server {}\npkg resolve launcher\nspawn launcher\nexpect event /code 7/\nps\nlog --events\n",
        p.key, server.url
    );
    let (ok, lines, err) = session(&root.0, board, &s);
    assert!(ok, "{board}: {err}\n{lines:#?}");
    let events = outputs(&lines, "log --events")[0].as_array().unwrap().clone();
    let kinds: Vec<&Value> = events.iter().map(|e| &e["kind"]).collect();
    let launcher = kinds
        .iter()
        .find(|k| k["spawned"]["package"] == "launcher")
        .map(|k| k["spawned"]["pid"].clone())
        .unwrap();
    assert!(
        kinds.iter().any(|k| k["fetch"]["package"] == "extra"),
        "{board}: the guest's miss fetched extra: {kinds:#?}"
    );
    assert!(kinds.iter().any(|k| k["spawned"]["package"] == "extra"), "{board}: {kinds:#?}");
    assert!(
        kinds.iter().any(|k| k["ended"]["pid"] == launcher && k["ended"]["exit"]["code"] == 0),
        "{board}: the launcher resolved and spawned: {kinds:#?}"
    );
    assert_eq!(server.requests(&format!("/pkg/{}.wasm", p.extra)), 1);
}

#[test]
fn a_guest_resolves_and_spawns_on_hosted() {
    a_guest_resolves_and_spawns_on("hosted");
}

#[test]
fn a_guest_resolves_and_spawns_on_qemu_riscv32() {
    a_guest_resolves_and_spawns_on("qemu-riscv32");
}

/// Every bad input, one server each, in one session: each is refused with
/// a reason and an event, and the cache and the catalog held are as before.
fn tamper_matrix_on(board: &str) {
    let root = Scratch::new(&format!("tamper-{board}"));
    let p = publish(&root.0, None);
    let good = Server::start(&p.dir);
    let extra = std::fs::read(module_file(&p.dir, &p.extra)).unwrap();
    let module_case = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let d = variant(&p, &root.0, name, |d| {
            let f = module_file(d, &p.extra);
            let mut b = std::fs::read(&f).unwrap();
            edit(&mut b);
            std::fs::write(f, b).unwrap();
        });
        Server::start(&d)
    };
    let catalog_case = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let d = variant(&p, &root.0, name, |d| {
            let f = d.join("catalog.bin");
            let mut b = std::fs::read(&f).unwrap();
            edit(&mut b);
            std::fs::write(f, b).unwrap();
        });
        Server::start(&d)
    };
    let flipped = module_case("flipped", &|b| {
        let at = b.len() / 2;
        b[at] ^= 0x01;
    });
    let truncated = module_case("truncated", &|b| b.truncate(b.len() - 3));
    let appended = module_case("appended", &|b| b.extend_from_slice(b"more"));
    let bad_sig = catalog_case("badsig", &|b| {
        let n = b.len();
        b[n - 1] ^= 0x80;
    });
    let short_catalog = catalog_case("shortcat", &|b| b.truncate(b.len() - 70));
    let lying_count = catalog_case("lyingcount", &|b| b[20] = b[20].wrapping_add(1));
    let replay = variant(&p, &root.0, "replay", |d| {
        std::fs::copy(root.0.join("catalog.v1"), d.join("catalog.bin")).unwrap();
    });
    let replay = Server::start(&replay);
    let mut down = Server::start(&variant(&p, &root.0, "down", |_| {}));
    let catalog = std::fs::read(p.dir.join("catalog.bin")).unwrap();
    let stall = raw_server(catalog.clone(), extra.clone(), Misbehave::Stall);
    let flood = raw_server(catalog, extra, Misbehave::Flood);

    // A key nobody trusts signs a catalog of the same modules.
    let other = Scratch::new(&format!("tamper-other-{board}"));
    let untrusted = Server::start(&publish(&other.0, None).dir);

    let mut s = format!("pkg trust {}\npkg ls\n", p.key);
    s.push_str(&format!("! pkg server {}\n", untrusted.url));
    s.push_str(&format!("pkg server {}\n", good.url));
    for (srv, _) in [(&bad_sig, "signature"), (&short_catalog, "truncated"), (&lying_count, "count")] {
        s.push_str(&format!("! pkg server {}\n", srv.url));
    }
    s.push_str(&format!("! pkg server {}\n", replay.url));
    for srv in [&flipped, &truncated, &appended] {
        s.push_str(&format!("pkg server {}\n! pkg resolve extra\n", srv.url));
    }
    for url in [&stall, &flood] {
        s.push_str(&format!("pkg server {url}\n! pkg resolve extra\n"));
    }
    s.push_str("pkg ls\npkg catalog\nlog --events\n");
    // The server goes away after its catalog loaded: the catalog held
    // stays, and a fetch from the server now named fails and says so.
    down.stop();
    let s2 = format!(
        "pkg trust {}\npkg server {}\n! pkg server {}\n! pkg resolve extra\npkg ls\npkg catalog\n",
        p.key, good.url, down.url
    );
    let (ok, lines, err) = session(&root.0, board, &s);
    assert!(ok, "{board}: {err}\n{lines:#?}");

    let errors: Vec<String> = lines
        .iter()
        .filter_map(|l| l["output"]["error"]["message"].as_str().map(|m| format!("{}: {m}", l["command"])))
        .collect();
    let want = [
        "untrusted key",
        "signature",
        "truncated catalog",
        "count lies",
        "replay",
        "SHA-256",
        "truncated",
        "more than the record",
        "stalled",
        "more than the record",
    ];
    assert_eq!(errors.len(), want.len(), "{board}: {errors:#?}");
    for (e, w) in errors.iter().zip(want) {
        assert!(e.to_lowercase().contains(&w.to_lowercase()), "{board}: expected `{w}` in `{e}`; all: {errors:#?}");
    }
    let ls = outputs(&lines, "pkg ls");
    assert_eq!(names(ls[0]), names(ls[1]), "{board}: the cache is unchanged");
    assert!(!names(ls[1]).contains(&"extra".to_string()));
    // Flipped, truncated, appended, flooded; the stall is not a verdict on bytes.
    assert_eq!(ls[1]["verify_failures"], 4, "{board}: {}", ls[1]);
    let held = outputs(&lines, "pkg catalog")[0];
    assert_eq!(held["version"], 2, "the good catalog is still held");
    let events = serde_json::to_string(outputs(&lines, "log --events")[0]).unwrap();
    assert_eq!(events.matches("\"catalog_rejected\"").count(), 5, "{events}");
    assert_eq!(events.matches("\"package_rejected\"").count(), 5, "{events}");
    assert_eq!(good.requests("/pkg/"), 0, "nothing fetched from the good server");

    let (ok, lines, err) = session(&root.0, board, &s2);
    assert!(ok, "{board}: {err}\n{lines:#?}");
    let e = serde_json::to_string(&lines).unwrap();
    assert!(e.contains("connection refused"), "{board}: {e}");
}

#[test]
fn every_bad_input_is_refused_and_the_cache_unchanged_on_hosted() {
    tamper_matrix_on("hosted");
}

#[test]
fn every_bad_input_is_refused_and_the_cache_unchanged_on_qemu_riscv32() {
    tamper_matrix_on("qemu-riscv32");
}

/// A record larger than the board's cap is refused before a byte is fetched.
#[test]
fn an_oversized_package_is_refused_before_fetching() {
    let root = Scratch::new("oversize");
    // qemu-riscv32 caps packages at 1 MiB; hosted at 16 MiB.
    let p = publish(&root.0, Some(17 << 20));
    let server = Server::start(&p.dir);
    for board in ["hosted", "qemu-riscv32"] {
        let s = format!("pkg trust {}\npkg server {}\n! pkg resolve big\npkg ls\nlog --events\n", p.key, server.url);
        let (ok, lines, err) = session(&root.0, board, &s);
        assert!(ok, "{board}: {err}\n{lines:#?}");
        let e = outputs(&lines, "pkg resolve big")[0]["error"]["message"].as_str().unwrap().to_string();
        assert!(e.contains("caches packages of at most"), "{board}: {e}");
        let events = serde_json::to_string(outputs(&lines, "log --events")[0]).unwrap();
        assert!(events.contains("\"package_rejected\""), "{board}: no event for the refusal: {events}");
        assert!(!names(outputs(&lines, "pkg ls")[0]).contains(&"big".to_string()));
    }
    assert_eq!(server.requests("/pkg/"), 0, "nothing was fetched");
}
