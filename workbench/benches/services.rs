//! The system services measured from a guest (issue 14): `svcbench` runs
//! under init beside `pong`, with connections to kv, vfs and bus, and
//! times each operation beside a bare channel round trip through `pong`
//! in the same run:
//!
//! - bus publish → deliver (a request, a reply and a delivery through the
//!   bus) against a bare 64 B round trip (two channel hops);
//! - kv set and get, as operations per second, against the same round trip
//!   (a kv call is one too, plus the service's work; a set also appends
//!   to kv's log in vfs, a second round trip);
//! - vfs 4 KiB handle writes and reads as MB/s, against a bare 4 KiB round
//!   trip's.
//!
//! `cargo bench -p tidemark --bench services` (`TIDEMARK_BENCH_ROUNDS=N`,
//! default 5, each of `TIDEMARK_BENCH_OPS` operations, default 2000;
//! `TIDEMARK_BOARD=qemu-riscv32` for the board); `cargo test --benches`
//! runs it once, quickly.

use std::collections::HashMap;
use std::process::Command;

mod common;
use common::median;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

const FIGURES: [&str; 7] = ["bare_rt_64", "bare_rt_4k", "bus_deliver", "kv_set", "kv_get", "fs_write_4k", "fs_read_4k"];

/// A project running svcbench (with `ops` operations a figure) and pong.
fn project(ops: u32) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tidemark-svcbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for g in ["svcbench", "pong"] {
        std::fs::write(dir.join(format!("{g}.wasm")), tidemark_guest_artifacts::get(g)).unwrap();
    }
    let manifest = format!(
        "[project]\nname = \"svcbench\"\n\n[services]\n\n\
         [[channel]]\nname = \"to-pong\"\nbytes = 16384\n\n[[channel]]\nname = \"from-pong\"\nbytes = 16384\n\n\
         [[guest]]\nname = \"pong\"\npath = \"pong.wasm\"\ncaps = [\"in=to-pong:r\", \"out=from-pong:w\"]\n\n\
         [[guest]]\nname = \"svcbench\"\npath = \"svcbench.wasm\"\nargs = \"{ops}\"\n\
         caps = [\"out=to-pong:w\", \"in=from-pong:r\"]\n\
         [guest.uses]\nkv = {{}}\nfs = {{ root = \"/bench\" }}\nbus = {{ publish = [\"bench/#\"], subscribe = [\"bench/#\"] }}\n"
    );
    std::fs::write(dir.join("Tidemark.toml"), manifest).unwrap();
    std::fs::write(dir.join("bench.tms"), "expect event /svcbench: done/ within 600s\nlog\n").unwrap();
    dir
}

/// One run: ns per operation of each figure.
fn once(dir: &std::path::Path) -> HashMap<String, f64> {
    let out = Command::new(BIN).arg("dev").arg(dir).arg("--script").arg(dir.join("bench.tms")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "svcbench failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut got = HashMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.split("svcbench: ").nth(1) else { continue };
        let mut w = rest.split_whitespace();
        if let (Some(name), Some(ns)) = (w.next(), w.next().and_then(|n| n.parse::<f64>().ok())) {
            got.insert(name.to_string(), ns);
        }
    }
    for f in FIGURES {
        assert!(got.contains_key(f), "no {f} in:\n{stdout}");
    }
    got
}

fn us(ns: f64) -> String {
    format!("{:.1} µs", ns / 1e3)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { common::rounds() };
    let ops: u32 = if quick { 20 } else { std::env::var("TIDEMARK_BENCH_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000) };
    let dir = project(ops);
    let runs: Vec<HashMap<String, f64>> = (0..rounds).map(|_| once(&dir)).collect();
    let m = |f: &str| median(runs.iter().map(|r| r[f]).collect());
    let board = std::env::var("TIDEMARK_BOARD").unwrap_or_else(|_| "hosted".into());
    println!("system services on {board}, from a guest: {rounds} rounds of {ops} operations, medians");
    let (rt64, rt4k) = (m("bare_rt_64"), m("bare_rt_4k"));
    println!("bare round trip 64 B   {:>10}   4 KiB {:>10}  ({:.0} MB/s each way)", us(rt64), us(rt4k), 4096.0 / rt4k * 1e3);
    let bus = m("bus_deliver");
    println!("bus publish -> deliver {:>10}   vs bare round trip {:.2}x", us(bus), bus / rt64);
    for f in ["kv_set", "kv_get"] {
        let v = m(f);
        println!("{f:<22} {:>10}   {:>8.0} ops/s   vs bare round trip {:.2}x", us(v), 1e9 / v, v / rt64);
    }
    for f in ["fs_write_4k", "fs_read_4k"] {
        let v = m(f);
        println!("{f:<22} {:>10}   {:>8.1} MB/s   vs bare 4 KiB round trip {:.2}x", us(v), 4096.0 / v * 1e3, v / rt4k);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
