//! What the workbench's benchmarks share.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tidemark_protocol::req;
use tidemark_shell::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

/// `tidemark image ARGS --json`: a board's image, built if need be, and
/// its sections.
pub fn sections(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("image")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tidemark image {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Repetitions of each measurement (`TIDEMARK_BENCH_ROUNDS`, default 5).
pub fn rounds() -> usize {
    std::env::var("TIDEMARK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A booted board, stopped (and its socket removed) when dropped.
pub struct Booted {
    child: Child,
    socket: PathBuf,
}

impl Drop for Booted {
    fn drop(&mut self) {
        // SIGINT: `tidemark boot` stops QEMU and removes the socket on Ctrl-C.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Boots `board`; returns it, a client, and the time to the first `ps` answer.
pub fn boot(board: &str, n: u32) -> (Booted, Client, f64) {
    let socket = std::env::temp_dir().join(format!(
        "tidemark-bench-{board}-{}-{n}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&socket);
    let t0 = Instant::now();
    let child = Command::new(BIN)
        .args(["boot", board, "--listen"])
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let booted = Booted {
        child,
        socket: socket.clone(),
    };
    let deadline = t0 + Duration::from_secs(120);
    let mut client = loop {
        if let Ok(c) = Client::connect(&socket) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "{board} never listened on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(client.call(req::Ps {}).is_ok());
    (booted, client, t0.elapsed().as_secs_f64() * 1e3)
}

/// µs per `ps` round trip, median of `n`.
pub fn ps_round_trips(c: &mut Client, n: usize) -> f64 {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                assert!(c.call(req::Ps {}).is_ok());
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    )
}
