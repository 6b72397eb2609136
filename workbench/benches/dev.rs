//! Save-to-running latency of `tidemark dev`, against the bare incremental
//! `cargo build` of the same guest measured in the same run.
//!
//! A project is scaffolded from the default template; `tidemark dev` runs on
//! it (line mode, hosted); the service's source is edited N times, each edit a
//! real change, and the reload reports are read from its stderr. Then, with
//! the session gone, the same kind of edit is followed by the bare cargo
//! command, N times. Goal: save-to-running ≤ build + 150 ms on hosted
//! (issue 4), ≤ build + 250 ms on qemu-riscv32 (`TIDEMARK_BOARD`, issue 15:
//! the module crosses the UART).
//!
//! `cargo bench -p tidemark --bench dev` (`TIDEMARK_BENCH_ROUNDS=N` edits,
//! default 10); `cargo test --benches` runs it once, quickly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

mod common;
use common::median;

/// One reload as `tidemark dev` reported it, in ms.
struct Report {
    build: f64,
    prepare: f64,
    swap: f64,
    save_to_running: f64,
}

/// Parses `reloaded service (pid 1) sha256:…: build 0.352s, prepare 30.1ms,
/// swap 0.21ms, save-to-running 0.541s`.
fn parse(line: &str) -> Option<Report> {
    let field = |name: &str| -> Option<f64> {
        let rest = &line[line.find(&format!("{name} "))? + name.len() + 1..];
        let num: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let v: f64 = num.parse().ok()?;
        let unit = &rest[num.len()..];
        Some(if unit.starts_with("ms") { v } else { v * 1e3 })
    };
    Some(Report {
        build: field("build")?,
        prepare: field("prepare")?,
        swap: field("swap")?,
        save_to_running: field("save-to-running")?,
    })
}

/// Rewrites the service's greeting to a new one: a real source change.
fn edit(src: &Path, i: usize) {
    let text = std::fs::read_to_string(src).unwrap();
    let start = text.find("b\"h").expect("the template's greeting");
    let end = start
        + text[start..]
            .find(", \"")
            .expect("greeting ends with `, \"`");
    let next = format!("{}b\"h{i}{}", &text[..start], &text[end..]);
    std::fs::write(src, next).unwrap();
}

fn wait_for(lines: &Receiver<String>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if pred(&l) => return l,
            Ok(_) => {}
            Err(_) => panic!("tidemark dev never said {what}"),
        }
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        2
    } else {
        std::env::var("TIDEMARK_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10)
    };
    let base = std::env::temp_dir().join(format!("tidemark-devbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join("bench");
    assert!(
        Command::new(BIN)
            .arg("new")
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    let src = dir.join("service/src/lib.rs");

    let mut dev = Command::new(BIN)
        .args(["dev", "--no-tui"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let stderr = dev.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    wait_for(&lines, "that the client runs", |l| {
        l.contains("spawned client")
    });
    let mut reports = Vec::new();
    for i in 0..n {
        // Let the watcher's debounce window close between edits.
        std::thread::sleep(Duration::from_millis(300));
        edit(&src, i);
        let l = wait_for(&lines, "a reload report", |l| {
            l.contains("reloaded service") || l.contains("not reloaded")
        });
        reports.push(parse(&l).unwrap_or_else(|| panic!("not a reload report: {l}")));
    }
    drop(dev.stdin.take()); // end of input: the session ends
    let _ = dev.wait();

    let mut bare = Vec::new();
    for i in 0..n {
        edit(&src, n + i);
        let t0 = Instant::now();
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-unknown-unknown",
                "--manifest-path",
            ])
            .arg(dir.join("service/Cargo.toml"))
            .arg("--target-dir")
            .arg(dir.join("target"))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bare.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_dir_all(&base);

    // The goal's allowance over the build: in process on hosted (issue 4);
    // over a UART link on qemu-riscv32 (issue 15).
    let board = std::env::var("TIDEMARK_BOARD").unwrap_or_else(|_| "hosted".into());
    let allowance = if board == "hosted" { 150 } else { 250 };
    let s2r = median(reports.iter().map(|r| r.save_to_running).collect());
    let build = median(bare);
    let in_dev_build = median(reports.iter().map(|r| r.build).collect());
    let prepare = median(reports.iter().map(|r| r.prepare).collect());
    let swap = median(reports.iter().map(|r| r.swap).collect());
    println!();
    println!(
        "{:<34} {:>10} {:>10} {:>7}  {:<28} goal",
        "benchmark", "tidemark", "baseline", "ratio", "baseline is"
    );
    let row = |name: &str, ours: f64, base: f64, baseline: &str, goal: &str| {
        println!(
            "{name:<34} {ours:>7.1} ms {base:>7.1} ms {:>6.2}x  {baseline:<28} {goal}",
            ours / base
        );
    };
    row(
        "save to running (service)",
        s2r,
        build,
        "bare incremental cargo build",
        &format!("<= build + {allowance} ms: {:+.0} ms over", s2r - build),
    );
    row(
        "  of which: build inside dev",
        in_dev_build,
        build,
        "bare incremental cargo build",
        "(breakdown)",
    );
    row(
        "  of which: prepare (compile)",
        prepare,
        s2r,
        "save to running",
        "(breakdown)",
    );
    row(
        "  of which: swap",
        swap,
        s2r,
        "save to running",
        "(breakdown)",
    );
    println!(
        "(edits: {n}; medians; the rest of save-to-running is the watcher's debounce, upload and hash check)"
    );
}
