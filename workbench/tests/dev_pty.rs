//! `tidemark dev` end to end under a real pseudo-terminal (util-linux
//! `script`): scaffold a project, open the screen, edit a guest and see the
//! new hash running under the same pid while the client's traffic goes on;
//! then an edit that does not compile, and the old guest keeps serving.
//! The screen is read through its F2 text dump. Runs on both boards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

struct Dev {
    child: Child,
    stdin: ChildStdin,
    dir: PathBuf,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    /// Presses F2 and returns the newest dump.
    fn dump(&mut self) -> String {
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("tidemark-dump-")
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        self.stdin.write_all(b"\x1bOQ").unwrap();
        self.stdin.flush().unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with("tidemark-dump-")
                {
                    std::thread::sleep(Duration::from_millis(50));
                    return std::fs::read_to_string(e.path()).unwrap_or_default();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        String::new()
    }

    /// Dumps until `pred` holds on the log section.
    fn until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < Duration::from_secs(180) {
            last = self.dump();
            if pred(&last) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("never saw {what}; last dump:\n{last}");
    }
}

fn log_of(dump: &str) -> &str {
    dump.split("== log\n")
        .nth(1)
        .and_then(|l| l.split("\n== status").next())
        .unwrap_or("")
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn edit_save_and_watch_it_swap_hosted() {
    edit_save_and_watch_it_swap("hosted");
}

/// The same on QEMU: modules uploaded and swapped over the emulated UART.
#[test]
fn edit_save_and_watch_it_swap_qemu_riscv32() {
    edit_save_and_watch_it_swap("qemu-riscv32");
}

fn edit_save_and_watch_it_swap(board: &str) {
    let base = std::env::temp_dir().join(format!("tidemark-devpty-{board}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join("hello");
    assert!(
        Command::new(BIN)
            .arg("new")
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    let cmd = format!("stty cols 120 rows 40; exec {BIN} dev . --board {board}");
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(&dir)
        .env("TERM", "xterm")
        // The screen's REPL line shares the shell's history file: keep the user's out of it.
        .env("TIDEMARK_HISTORY", base.join("history"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux `script` gives the screen a terminal");
    let stdin = child.stdin.take().unwrap();
    let mut dev = Dev {
        child,
        stdin,
        dir: dir.clone(),
    };

    let d = dev.until("the client's first answer", |d| {
        log_of(d).contains("client: answer 1: hello, client")
    });
    assert!(d.contains("1    service"), "{d}");
    assert!(d.contains(&format!("board {board}")), "{d}");

    // Edit the service and save.
    let src = dir.join("service/src/lib.rs");
    let text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(&src, text.replace("b\"hello, \"", "b\"hi, \"")).unwrap();
    let d = dev.until("the reload and the new greeting", |d| {
        let log = log_of(d);
        log.split_once("reloaded service (pid 1)")
            .is_some_and(|(_, after)| after.contains("hi, client"))
    });
    let built = sha256(&dir.join("target/wasm32-unknown-unknown/release/service.wasm"));
    assert!(
        log_of(&d).contains(&format!("reloaded service (pid 1) sha256:{}", &built[..16])),
        "the hash running is the hash built:\n{d}"
    );
    assert!(
        d.contains("1    service") && d.contains("2    client"),
        "same pids:\n{d}"
    );
    assert!(d.contains("last reload: service"), "{d}");

    // An edit that does not compile: the old service keeps answering.
    let good = std::fs::read_to_string(&src).unwrap();
    assert!(good.contains("served += 1;"));
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(&src, good.replace("served += 1;", "served += ;")).unwrap();
    let d = dev.until("the refused rebuild and more answers after it", |d| {
        let log = log_of(d);
        log.split_once("service: not reloaded")
            .is_some_and(|(_, after)| after.contains("error") && after.contains("hi, client"))
    });
    assert_eq!(
        log_of(&d).matches("reloaded service (pid 1)").count(),
        1,
        "the broken build was not swapped in:\n{d}"
    );
    // The failure sticks: named in the status line, its first error (with
    // file:line) in the panel, however much the client logs after it.
    let status = d.split("== status\n").nth(1).unwrap_or("");
    assert!(
        status.contains("service: build failed, old version running"),
        "sticky status:\n{d}"
    );
    let first = d
        .split("== first error\n")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or("");
    assert!(
        first.starts_with("service: ") && first.contains("src/lib.rs:") && first.contains("error"),
        "first error with file:line:\n{d}"
    );
    assert!(
        !d.contains("unstable feature specified"),
        "the known-noise warning is filtered:\n{d}"
    );

    dev.stdin.write_all(b"\x03").unwrap(); // Ctrl-C leaves
    let start = Instant::now();
    loop {
        if let Some(status) = dev.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the screen did not quit on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&base);
}
