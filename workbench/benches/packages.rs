//! The resolve pipeline's cost, each figure beside its baseline measured in
//! the same run (issue 13):
//!
//! - verify on insert (the kernel's `deliver`: size checks, SHA-256 against
//!   the signed record, insert, event) against raw `sha2` over the same
//!   bytes; goal ≥ 0.9× (the hash is the work, the rest is bookkeeping);
//! - cold resolve (miss → fetch from a real `tidemark pkg serve` on loopback
//!   → verify → insert) and warm resolve (a cache hit), both beside a plain
//!   HTTP GET of the same bytes from the same server.
//!
//! `cargo bench -p tidemark --bench packages` (`TIDEMARK_BENCH_ROUNDS=N`,
//! default 5; `TIDEMARK_BENCH_PKG_KIB`, default 1024); `cargo test
//! --benches` runs it once, quickly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use sha2::Digest;
use tidemark_fetch::Fetcher;
use tidemark_kernel::catalog::{Entry, encode};
use tidemark_kernel::package::Hash;
use tidemark_kernel::resolve::Fetch;
use tidemark_kernel::{Config, KERNEL_PID, Kernel};

mod common;
use common::median;
#[path = "../tests/support/padded.rs"]
mod padded;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

fn clock() -> u64 {
    0
}

/// A kernel that trusts `key`, holds a catalog listing `bytes` as `pkg`,
/// and names `server`.
fn kernel(key: &SigningKey, bytes: &[u8], server: &str) -> (Kernel, Vec<u8>) {
    let entry = Entry {
        name: "pkg".into(),
        version: "1.0.0".into(),
        hash: Hash::of(bytes),
        size: bytes.len() as u32,
        system: false,
    };
    let catalog = encode(1, &[entry], key.verifying_key().to_bytes(), |m| key.sign(m).to_bytes()).unwrap();
    let mut k = Kernel::new(Config::default(), clock);
    k.trust(key.verifying_key().to_bytes()).unwrap();
    k.load_catalog(&catalog).unwrap();
    k.set_server(Some(server));
    k.take_effects();
    (k, catalog)
}

/// Resolves `pkg` on a miss: the URL the kernel asks for.
fn miss(k: &mut Kernel) -> String {
    k.resolve_package("pkg", KERNEL_PID).unwrap();
    match k.take_effects().fetch.pop() {
        Some(Fetch::Package { url, .. }) => url,
        other => panic!("a miss asks for a fetch, not {other:?}"),
    }
}

fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { common::rounds().max(3) };
    let kib: usize = std::env::var("TIDEMARK_BENCH_PKG_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bytes = padded::module(kib << 10);
    let key = SigningKey::from_bytes(&[42; 32]);
    let hash = Hash::of(&bytes);
    let mb = bytes.len() as f64 / 1e6;
    // Each round repeats the short operations to lift them above the clock.
    let reps = if quick { 2 } else { 20 };

    // Verify on insert vs raw sha2, in memory.
    let (mut k, catalog) = kernel(&key, &bytes, "http://127.0.0.1:9");
    let (mut insert, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut t = 0.0;
        for _ in 0..reps {
            miss(&mut k);
            let arc: Arc<[u8]> = Arc::from(&bytes[..]);
            let t0 = Instant::now();
            k.deliver(hash, Ok(arc)).unwrap();
            t += t0.elapsed().as_secs_f64();
            k.packages_mut().evict("pkg").unwrap();
        }
        insert.push(t / reps as f64);
        let t0 = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&bytes[..])));
        }
        raw.push(t0.elapsed().as_secs_f64() / reps as f64);
    }
    let (insert, raw) = (median(insert), median(raw));
    println!("package of {} KiB, {rounds} rounds of {reps}, medians", bytes.len() >> 10);
    println!(
        "verify on insert   {:>12}  ({:.0} MB/s)   raw sha2 {:>12}  ({:.0} MB/s)   ratio {:.2}x  (goal >= 0.9x)",
        ms(insert),
        mb / insert,
        ms(raw),
        mb / raw,
        raw / insert
    );

    // Cold and warm resolve beside a plain GET, against a real server.
    let dir = std::env::temp_dir().join(format!("tidemark-pkgbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("catalog.bin"), &catalog).unwrap();
    std::fs::write(dir.join("pkg").join(format!("{}.wasm", hash.hex())), &bytes).unwrap();
    let mut server = Command::new(BIN)
        .args(["pkg", "serve"])
        .arg(&dir)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim().to_string();
    let (mut k, _) = kernel(&key, &bytes, &url);
    let fetcher = Fetcher::new(std::time::Duration::from_secs(30));
    let (mut cold, mut warm, mut get) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (mut c, mut g) = (0.0, 0.0);
        for i in 0..reps {
            // Alternate which goes first, so neither always meets a warm
            // connection or page cache the other left.
            let plain = |at: &str| {
                let t0 = Instant::now();
                std::hint::black_box(fetcher.get(at, bytes.len()).unwrap());
                t0.elapsed().as_secs_f64()
            };
            let at = format!("{url}/pkg/{}.wasm", hash.hex());
            if i % 2 == 0 {
                g += plain(&at);
            }
            let t0 = Instant::now();
            let at = miss(&mut k);
            let got = fetcher.get(&at, bytes.len()).unwrap();
            k.deliver(hash, Ok(Arc::from(got))).unwrap();
            c += t0.elapsed().as_secs_f64();
            k.packages_mut().evict("pkg").unwrap();
            if i % 2 == 1 {
                g += plain(&at);
            }
        }
        cold.push(c / reps as f64);
        get.push(g / reps as f64);
        miss(&mut k);
        let at = format!("{url}/pkg/{}.wasm", hash.hex());
        k.deliver(hash, Ok(Arc::from(fetcher.get(&at, bytes.len()).unwrap()))).unwrap();
        let n = reps * 1000;
        let t0 = Instant::now();
        for _ in 0..n {
            std::hint::black_box(k.resolve_package(std::hint::black_box("pkg"), KERNEL_PID).unwrap());
        }
        warm.push(t0.elapsed().as_secs_f64() / n as f64);
        k.packages_mut().evict("pkg").unwrap();
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (cold, warm, get) = (median(cold), median(warm), median(get));
    println!(
        "cold resolve       {:>12}   plain GET {:>12}   ratio GET/cold {:.2}x (fetch+verify+insert over the GET alone: +{})",
        ms(cold),
        ms(get),
        get / cold,
        ms((cold - get).max(0.0))
    );
    println!(
        "warm resolve       {:>12}   plain GET {:>12}   GET/warm {:.0}x",
        format!("{:.0} ns", warm * 1e9),
        ms(get),
        get / warm
    );
}
