//! The REPL under a real pseudo-terminal (util-linux `script` allocates it):
//! commands run, `chan tail` streams until Ctrl-C, and Ctrl-C returns to the
//! prompt instead of leaving the shell.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn wait_for(buf: &Arc<Mutex<Vec<u8>>>, needle: &str, from: usize) -> usize {
    let start = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&buf.lock().unwrap()).to_string();
        if let Some(i) = text[from.min(text.len())..].find(needle) {
            return from + i + needle.len();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never saw {needle:?}; screen so far:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_tail_and_the_shell_goes_on() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("util-linux `script` is needed to give the REPL a terminal");
    }
    let history = std::env::temp_dir().join(format!("tidemark-history-{}", std::process::id()));
    // `exec`: the terminal's foreground process must be tidemark itself. A
    // wrapping /bin/sh (dash) would also take the SIGINT and exit 130.
    let cmd = format!("exec {} shell", env!("CARGO_BIN_EXE_tidemark"));
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("TIDEMARK_HISTORY", &history)
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let screen = Arc::new(Mutex::new(Vec::new()));
    let s = screen.clone();
    std::thread::spawn(move || {
        let mut b = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut b) {
            if n == 0 {
                break;
            }
            s.lock().unwrap().extend_from_slice(&b[..n]);
        }
    });
    let mut at = wait_for(&screen, "tidemark> ", 0);
    stdin.write_all(b"chan new c\r").unwrap();
    at = wait_for(&screen, "created channel 1", at);
    stdin.write_all(b"chan send c hello\r").unwrap();
    at = wait_for(&screen, "sent 5 bytes", at);
    stdin.write_all(b"chan tail c\r").unwrap();
    at = wait_for(&screen, "\"hello\"", at);
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"\x03").unwrap(); // Ctrl-C while tailing
    at = wait_for(&screen, "(1 frames)", at);
    at = wait_for(&screen, "tidemark> ", at);
    stdin.write_all(b"info\r").unwrap();
    at = wait_for(&screen, "board     hosted", at);
    stdin.write_all(b"exit\r").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = at;
    let hist = std::fs::read_to_string(&history).unwrap_or_default();
    assert!(
        hist.contains("chan tail c") && hist.contains("info"),
        "history file: {hist:?}"
    );
    let _ = std::fs::remove_file(history);
}
