//! Kernel benchmarks: each row is measured against a baseline in the same run
//! and printed as a ratio. Run with `cargo bench -p tidemark-hosted`
//! (`TIDEMARK_BENCH_ROUNDS=N` to change the repetitions; the median is kept).
//!
//! * hostcall: a capability-checked no-op (`cap_check`) vs a bare wasmtime
//!   host function, both called 2,000,000 times from the same guest loop.
//! * spawn: `spawn` from the package cache to the guest's first instruction
//!   vs `InstancePre::instantiate` of the same module to its first instruction.
//! * reload: hot swap of a `counter` blocked on its channel (the old instance
//!   asked to stop → the new one running, state handed over) vs spawning
//!   the same, already compiled module until its instance is ready; and the
//!   reload's prepare step (compile, link, instantiate a new module) vs a
//!   bare `Module::new` of the same bytes.
//! * preemption: a compute-bound guest (`compute`, no hostcalls) run as a
//!   process (epoch interruption armed, 10 ms slices) vs the same module in a
//!   bare wasmtime store whose engine has epoch interruption off.
//! * latency: one-way latency of 64 B frames, ping-pong between two guests
//!   (half a round trip), vs the same ping-pong over crossbeam between two
//!   threads and vs a bare core-to-core atomic round trip.
//! * channel: 8 B to 64 KiB frames, one writer guest and one reader guest,
//!   zero-copy (the ring mapped into both, run in place) and copying (every
//!   frame a hostcall, as on boards) vs crossbeam-channel between two native
//!   threads and a Unix socket pair, same frames; 64 KiB also vs a memcpy.
//!   `(single)` rows run on a channel created with the one-writer,
//!   one-reader hint (the ring without its writer lock), as do the
//!   `(single)` latency rows.
//!   `(in place)` rows write each frame where it lies in the ring
//!   (`write_in_place`: a fill and the frame number) and read it there
//!   (`read_in_place`: one byte of every cache line), with no copy.
//! * idle: heap and resident memory per idle guest (`idle`, parked in a
//!   sleep) with 10,000 of them in one kernel, vs wasmtime's own cost of as
//!   many instances of the same module, each in a store of its own. These
//!   rows run first, before the others have left freed memory behind.
//! * fan: 4 writer guests and 4 reader guests on one zero-copy channel (every
//!   reader sees every frame) vs crossbeam MPMC with 4 senders and 4
//!   receivers (each frame to one receiver), and vs a crossbeam broadcast
//!   (a channel per receiver, every frame sent down each: the delivery ours
//!   gives): frames written per unit time.
//!
//! `TIDEMARK_BENCH_FRAMES=8,64` keeps only those channel frame sizes;
//! `TIDEMARK_WASM_PROFILE=perfmap` lets `perf record` name guest functions.
//!
//! Every guest row runs on a zero-copy kernel unless it says `(copying)`,
//! which runs on a second kernel with mapping off.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use std::time::{Duration, Instant};

#[path = "kernel/record.rs"]
mod record;

use tidemark_abi::{Backpressure, Rights};
use tidemark_hosted::kernel::caps::Object;
use tidemark_hosted::kernel::channel::Parties;
use tidemark_hosted::kernel::{Config, Exit, KERNEL_PID, SpawnSpec};
use tidemark_hosted::{Hosted, Options};
use wasmtime::{Caller, Linker, Module, Store};

/// The system allocator, counting the bytes live (the idle rows' heap figure).
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap KiB and resident KiB of this process.
fn memory_kib() -> (f64, f64) {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (LIVE.load(Ordering::Relaxed) as f64 / 1024.0, pages * 4.0)
}

fn rounds() -> usize {
    std::env::var("TIDEMARK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn boot(zero_copy: bool) -> Hosted {
    // Every guest installed, a cache slot each, and one for the reload
    // row's `counter-next` (else it evicts a guest a later row spawns).
    let h = Hosted::boot_with(
        Config {
            package_slots: tidemark_guest_artifacts::ALL.len() + 1,
            ..Config::default()
        },
        Options {
            zero_copy,
            ..Default::default()
        },
    );
    for g in tidemark_guest_artifacts::ALL {
        h.install(g.name, g.bytes);
    }
    h
}

struct Row {
    name: String,
    ours: f64,
    base: f64,
    unit: &'static str,
    baseline: &'static str,
    goal: &'static str,
}

fn exit_code(e: Option<Exit>) -> i32 {
    match e {
        Some(Exit::Code(c)) => c,
        other => panic!("benchmark guest ended with {other:?}"),
    }
}

/// ns per `cap_check` through the kernel, from the guest's own clock.
fn hostcall_ours(h: &Hosted) -> f64 {
    let c = h
        .kernel()
        .create_channel("nop", 64, 2, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let pid = h
        .spawn(SpawnSpec::new("nop").grant("c", Object::Channel(c), Rights::ALL))
        .unwrap();
    exit_code(h.wait(pid, Duration::from_secs(120))) as f64 * 1000.0 / 2_000_000.0
}

/// ns per call of a bare `Func::wrap` host function, same module, same engine config.
fn hostcall_bare(h: &Hosted) -> f64 {
    let engine = h.engine();
    let module = Module::new(engine, tidemark_guest_artifacts::get("nop")).unwrap();
    let exit = Arc::new(AtomicI32::new(0));
    let mut linker: Linker<()> = Linker::new(engine);
    let start = Instant::now();
    linker
        .func_wrap("tidemark", "cap_lookup", |_: i32, _: i32| -> i32 { 1 })
        .unwrap();
    linker
        .func_wrap("tidemark", "cap_check", |_: i32, _: i32| -> i32 { 0 })
        .unwrap();
    linker
        .func_wrap("tidemark", "time_now", move || -> i64 {
            start.elapsed().as_nanos() as i64
        })
        .unwrap();
    let e = exit.clone();
    linker
        .func_wrap(
            "tidemark",
            "proc_exit",
            move |_: Caller<'_, ()>, code: i32| -> wasmtime::Result<i32> {
                e.store(code, Ordering::Relaxed);
                Err(wasmtime::Error::msg("exit"))
            },
        )
        .unwrap();
    let mut store = Store::new(engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let main = instance
        .get_typed_func::<(), ()>(&mut store, "tidemark_main")
        .unwrap();
    let _ = main.call(&mut store, ());
    exit.load(Ordering::Relaxed) as f64 * 1000.0 / 2_000_000.0
}

/// µs from `spawn` to the guest's first instruction (the guest reports the
/// time), and µs until `spawn` returned with the instance ready.
fn spawn_ours(h: &Hosted) -> (f64, f64) {
    let (mut first_v, mut ready_v) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let t0 = h.kernel().now();
        let pid = h.spawn(SpawnSpec::new("first")).unwrap();
        let ready = h.kernel().now() - t0;
        let first = exit_code(h.wait(pid, Duration::from_secs(10))) as u64;
        first_v.push(((first.wrapping_sub(t0)) & 0x7fff_ffff) as f64 / 1000.0);
        ready_v.push(ready as f64 / 1000.0);
    }
    (median(first_v), median(ready_v))
}

/// µs from `InstancePre::instantiate` to the guest's first instruction
/// (the bare `time_now` records when the guest first called it); with
/// `thread`, the instance is created and run on a freshly spawned thread, as
/// the hosted engine runs every process.
fn spawn_bare(h: &Hosted, thread: bool) -> f64 {
    let engine = h.engine();
    let module = Module::new(engine, tidemark_guest_artifacts::get("first")).unwrap();
    let mut linker: Linker<(Instant, Duration)> = Linker::new(engine);
    linker
        .func_wrap(
            "tidemark",
            "time_now",
            |mut c: Caller<'_, (Instant, Duration)>| -> i64 {
                let d = c.data().0.elapsed();
                c.data_mut().1 = d;
                d.as_nanos() as i64
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "tidemark",
            "proc_exit",
            |_: Caller<'_, (Instant, Duration)>, _: i32| -> wasmtime::Result<i32> {
                Err(wasmtime::Error::msg("exit"))
            },
        )
        .unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    let mut v = Vec::new();
    for _ in 0..200 {
        let t0 = Instant::now();
        let (engine, pre) = (engine.clone(), pre.clone());
        let run = move || {
            let mut store = Store::new(&engine, (t0, Duration::ZERO));
            store.set_epoch_deadline(u64::MAX / 2);
            let instance = pre.instantiate(&mut store).unwrap();
            let main = instance
                .get_typed_func::<(), ()>(&mut store, "tidemark_main")
                .unwrap();
            let _ = main.call(&mut store, ());
            store.data().1
        };
        let first = if thread {
            std::thread::spawn(run).join().unwrap()
        } else {
            run()
        };
        v.push(first.as_nanos() as f64 / 1000.0);
    }
    median(v)
}

/// Heap and resident KiB per idle guest with `n` of them parked in one
/// fresh kernel, and µs per spawn.
fn idle_ours(n: usize) -> ((f64, f64), f64) {
    let mut config = Config::default();
    config.limits.processes = n as u32 + 16;
    let h = Hosted::boot_with(config, Options::default());
    h.install("idle", tidemark_guest_artifacts::get("idle"));
    // One first, so what every kernel allocates once is not counted.
    let first = h.spawn(SpawnSpec::new("idle")).unwrap();
    let before = memory_kib();
    let t0 = Instant::now();
    let pids: Vec<_> = (0..n)
        .map(|_| h.spawn(SpawnSpec::new("idle")).unwrap())
        .collect();
    let spawn_us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    let after = memory_kib();
    let per = (
        (after.0 - before.0) / n as f64,
        (after.1 - before.1) / n as f64,
    );
    for pid in pids.iter().chain([&first]) {
        h.kill(*pid);
    }
    for pid in &pids {
        h.wait(*pid, Duration::from_secs(60));
    }
    (per, spawn_us)
}

/// Heap KiB the kernel keeps per guest that ran and ended, over `n`
/// spawned one after another into one fresh kernel (each waited for).
fn churn_ours(n: usize) -> f64 {
    let h = Hosted::boot_with(Config::default(), Options::default());
    h.install("first", tidemark_guest_artifacts::get("first"));
    let run = || {
        let pid = h.spawn(SpawnSpec::new("first")).unwrap();
        exit_code(h.wait(pid, Duration::from_secs(10)));
    };
    // As many first as the kernel lists, so what it keeps is at its bound.
    for _ in 0..Config::default().ended_kept {
        run();
    }
    let before = memory_kib().0;
    for _ in 0..n {
        run();
    }
    (memory_kib().0 - before) / n as f64
}

/// Heap and resident KiB per instance of `idle` and its store, `n` kept
/// alive, on a kernel's engine (the same memory creator): wasmtime's own cost.
fn idle_bare(h: &Hosted, n: usize) -> (f64, f64) {
    let engine = h.engine();
    let module = Module::new(engine, tidemark_guest_artifacts::get("idle")).unwrap();
    let mut linker: Linker<()> = Linker::new(engine);
    linker
        .func_wrap("tidemark", "sleep", |_: Caller<'_, ()>, _: i64| -> i32 {
            0
        })
        .unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    let keep = |pre: &wasmtime::InstancePre<()>| {
        let mut store = Store::new(engine, ());
        let i = pre.instantiate(&mut store).unwrap();
        (store, i)
    };
    let _first = keep(&pre);
    let before = memory_kib();
    let all: Vec<_> = (0..n).map(|_| keep(&pre)).collect();
    let after = memory_kib();
    drop(all);
    (
        (after.0 - before.0) / n as f64,
        (after.1 - before.1) / n as f64,
    )
}

/// ns per frame, writer guest → reader guest.
fn channel_ours(h: &Hosted, size: usize, n: u32) -> f64 {
    channel_run(h, size, n, false, Parties::Many)
}

/// ns per frame, writer guest → reader guest, each frame written and read
/// where it lies in the ring (`write_in_place` / `read_in_place`).
fn channel_loans(h: &Hosted, size: usize, n: u32) -> f64 {
    channel_run(h, size, n, true, Parties::Many)
}

/// ns per frame, writer guest → reader guest, on a single channel (one
/// writer, one reader: the ring without its writer lock).
fn channel_single(h: &Hosted, size: usize, n: u32) -> f64 {
    channel_run(h, size, n, false, Parties::Single)
}

fn channel_run(h: &Hosted, size: usize, n: u32, loans: bool, parties: Parties) -> f64 {
    let (sink, stream) = if loans {
        ("take", "loan")
    } else {
        ("sink", "stream")
    };
    let data = h
        .kernel()
        .create_channel_for("bench", 1 << 18, 256, Backpressure::Park, parties, KERNEL_PID)
        .unwrap();
    let ctl = h
        .kernel()
        .create_channel("bench-ctl", 64, 2, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let start = Instant::now();
    let reader = h
        .spawn(
            SpawnSpec::new("pong")
                .args(format!("{sink} {n}").as_bytes())
                .grant("in", Object::Channel(data), Rights::READ),
        )
        .unwrap();
    let writer = h
        .spawn(
            SpawnSpec::new("ping")
                .args(format!("{stream} {n} {size}").as_bytes())
                .grant("out", Object::Channel(data), Rights::WRITE)
                .grant("ctl", Object::Channel(ctl), Rights::WRITE),
        )
        .unwrap();
    assert_eq!(
        exit_code(h.wait(reader, Duration::from_secs(300))),
        n as i32
    );
    assert_eq!(exit_code(h.wait(writer, Duration::from_secs(300))), 0);
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    if std::env::var_os("TIDEMARK_BENCH_HOSTCALLS").is_some() {
        let k = h.kernel();
        let calls = |pid| k.process(pid).unwrap().counters.hostcalls as f64 / n as f64;
        eprintln!(
            "{size} B, zero-copy {}: hostcalls per frame: writer {:.3}, reader {:.3}",
            h.zero_copy(),
            calls(writer),
            calls(reader)
        );
    }
    h.with_kernel(|k| {
        k.delete_channel(data).unwrap();
        k.delete_channel(ctl).unwrap();
    });
    ns
}

/// ms for `compute` as a process (epoch preemption on), checking its result.
fn compute_ours(h: &Hosted) -> (f64, i32) {
    let t0 = Instant::now();
    let pid = h.spawn(SpawnSpec::new("compute")).unwrap();
    let code = exit_code(h.wait(pid, Duration::from_secs(600)));
    (t0.elapsed().as_secs_f64() * 1e3, code)
}

/// ms for the same module in a bare store, epoch interruption off.
fn compute_bare() -> (f64, i32) {
    let mut config = tidemark_hosted::engine_config();
    config.epoch_interruption(false);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = Module::new(&engine, tidemark_guest_artifacts::get("compute")).unwrap();
    let code = Arc::new(AtomicI32::new(0));
    let mut linker: Linker<()> = Linker::new(&engine);
    let c = code.clone();
    linker
        .func_wrap(
            "tidemark",
            "proc_exit",
            move |_: Caller<'_, ()>, v: i32| -> wasmtime::Result<i32> {
                c.store(v, Ordering::Relaxed);
                Err(wasmtime::Error::msg("exit"))
            },
        )
        .unwrap();
    let t0 = Instant::now();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let main = instance
        .get_typed_func::<(), ()>(&mut store, "tidemark_main")
        .unwrap();
    let _ = main.call(&mut store, ());
    (
        t0.elapsed().as_secs_f64() * 1e3,
        code.load(Ordering::Relaxed),
    )
}

static TAGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// (µs swap, µs prepare) per hot reload of a blocked `counter`, medians of
/// `n` reloads, each to a module with a new hash.
fn reload_ours(h: &Hosted, n: usize) -> (f64, f64) {
    let req = h
        .kernel()
        .create_channel("req", 1024, 16, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let resp = h
        .kernel()
        .create_channel("resp", 1024, 16, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let spec = SpawnSpec::new("counter")
        .grant("req", Object::Channel(req), Rights::READ)
        .grant("resp", Object::Channel(resp), Rights::WRITE);
    let pid = h.spawn(spec).unwrap();
    let (mut swap, mut prepare) = (Vec::new(), Vec::new());
    for _ in 0..n {
        // A tag never used before: a new hash, so nothing is cached.
        let tag = format!("r{}", TAGS.fetch_add(1, Ordering::Relaxed));
        let hash = h.install(
            "counter-next",
            &tidemark_guest_artifacts::variant(tidemark_guest_artifacts::get("counter"), &tag),
        );
        let r = h.reload(pid, &hash.hex()).unwrap();
        swap.push(r.swap.as_nanos() as f64 / 1000.0);
        prepare.push(r.prepare.as_nanos() as f64 / 1000.0);
    }
    h.kill(pid);
    h.wait(pid, Duration::from_secs(10));
    for c in [req, resp] {
        let _ = h.kernel().delete_channel(c);
    }
    (median(swap), median(prepare))
}

/// µs until `spawn` of the compiled `counter` returned with its instance ready.
fn spawn_counter(h: &Hosted, n: usize) -> f64 {
    let req = h
        .kernel()
        .create_channel("req", 1024, 16, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let mut v = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        let pid = h
            .spawn(SpawnSpec::new("counter").grant("req", Object::Channel(req), Rights::READ))
            .unwrap();
        v.push(t0.elapsed().as_nanos() as f64 / 1000.0);
        h.kill(pid);
        h.wait(pid, Duration::from_secs(10));
    }
    let _ = h.kernel().delete_channel(req);
    median(v)
}

/// µs for a bare `Module::new` of a fresh variant of `counter`.
fn compile_bare(h: &Hosted, n: usize) -> f64 {
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let bytes = tidemark_guest_artifacts::variant(
                tidemark_guest_artifacts::get("counter"),
                &format!("c{i}"),
            );
            let t0 = Instant::now();
            Module::new(h.engine(), &bytes).unwrap();
            t0.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    median(v)
}

fn crossbeam_frames<const N: usize>(n: u32) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; N]>(256);
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        let mut frame = [0u8; N];
        for i in 0..n as u64 {
            frame[..8].copy_from_slice(&i.to_le_bytes());
            tx.send(frame).unwrap();
        }
    });
    let mut sum = 0u64;
    for _ in 0..n {
        let f = rx.recv().unwrap();
        sum = sum.wrapping_add(f[0] as u64);
    }
    t.join().unwrap();
    std::hint::black_box(sum);
    start.elapsed().as_nanos() as f64 / n as f64
}

/// ns per frame of `size` bytes written by one thread into a Unix socket
/// pair and read whole by another (the kernel-mediated IPC baseline).
fn unix_socket_frames(size: usize, n: u32) -> f64 {
    use std::io::{Read, Write};
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        let mut frame = vec![0u8; size];
        for i in 0..n as u64 {
            frame[..8].copy_from_slice(&i.to_le_bytes());
            a.write_all(&frame).unwrap();
        }
    });
    let mut frame = vec![0u8; size];
    let mut sum = 0u64;
    for _ in 0..n {
        b.read_exact(&mut frame).unwrap();
        sum = sum.wrapping_add(frame[0] as u64);
    }
    t.join().unwrap();
    std::hint::black_box(sum);
    start.elapsed().as_nanos() as f64 / n as f64
}

/// ns one way (half a round trip) for 64 B frames between two guests, on
/// two channels for `parties`.
fn latency_ours(h: &Hosted, n: u32, parties: Parties) -> f64 {
    let there = h
        .kernel()
        .create_channel_for("lat-there", 4096, 16, Backpressure::Park, parties, KERNEL_PID)
        .unwrap();
    let back = h
        .kernel()
        .create_channel_for("lat-back", 4096, 16, Backpressure::Park, parties, KERNEL_PID)
        .unwrap();
    let pong = h
        .spawn(
            SpawnSpec::new("pong")
                .args(b"echo")
                .grant("in", Object::Channel(there), Rights::READ)
                .grant("out", Object::Channel(back), Rights::WRITE),
        )
        .unwrap();
    let t0 = Instant::now();
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .args(format!("rr {n} 64").as_bytes())
                .grant("out", Object::Channel(there), Rights::WRITE)
                .grant("in", Object::Channel(back), Rights::READ),
        )
        .unwrap();
    assert_eq!(exit_code(h.wait(ping, Duration::from_secs(300))), 0);
    let ns = t0.elapsed().as_nanos() as f64 / n as f64 / 2.0;
    assert_eq!(exit_code(h.wait(pong, Duration::from_secs(60))), n as i32);
    h.with_kernel(|k| {
        k.delete_channel(there).unwrap();
        k.delete_channel(back).unwrap();
    });
    ns
}

/// ns per frame written, `writers` x `n` frames of 8 B into one channel
/// that `readers` guests each read in full.
fn fan_ours(h: &Hosted, writers: u32, readers: u32, n: u32) -> f64 {
    let data = h
        .kernel()
        .create_channel("fan", 1 << 16, 1024, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let ctl = h
        .kernel()
        .create_channel("fan-ctl", 4096, 64, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let total = writers * n;
    let sinks: Vec<_> = (0..readers)
        .map(|_| {
            h.spawn(
                SpawnSpec::new("pong")
                    .args(format!("sink {total}").as_bytes())
                    .grant("in", Object::Channel(data), Rights::READ),
            )
            .unwrap()
        })
        .collect();
    // Every reader must hold a cursor before the first frame, or it misses some.
    let deadline = Instant::now() + Duration::from_secs(60);
    while h
        .kernel()
        .channel_views()
        .iter()
        .find(|c| c.id == data)
        .unwrap()
        .readers
        .len()
        < readers as usize
    {
        assert!(Instant::now() < deadline, "readers never attached");
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let sources: Vec<_> = (0..writers)
        .map(|_| {
            h.spawn(
                SpawnSpec::new("ping")
                    .args(format!("stream {n} 8").as_bytes())
                    .grant("out", Object::Channel(data), Rights::WRITE)
                    .grant("ctl", Object::Channel(ctl), Rights::WRITE),
            )
            .unwrap()
        })
        .collect();
    for pid in sinks {
        assert_eq!(
            exit_code(h.wait(pid, Duration::from_secs(300))),
            total as i32
        );
    }
    let ns = start.elapsed().as_nanos() as f64 / total as f64;
    for pid in sources {
        assert_eq!(exit_code(h.wait(pid, Duration::from_secs(60))), 0);
    }
    h.with_kernel(|k| {
        k.delete_channel(data).unwrap();
        k.delete_channel(ctl).unwrap();
    });
    ns
}

/// ns per frame sent over crossbeam: `senders` x `n` frames of 8 B, taken
/// by `receivers` threads. MPMC (`broadcast` false): one bounded channel,
/// each frame to one receiver. Broadcast: a bounded channel per receiver,
/// each sender sending every frame down all of them, so every receiver sees
/// every frame (the delivery our many-reader rings give).
fn fan_crossbeam(senders: u32, receivers: u32, n: u32, broadcast: bool) -> f64 {
    let routes: Vec<_> = (0..if broadcast { receivers } else { 1 })
        .map(|_| crossbeam_channel::bounded::<[u8; 8]>(1024))
        .collect();
    let txs: Vec<_> = routes.iter().map(|(tx, _)| tx.clone()).collect();
    let start = Instant::now();
    let sending: Vec<_> = (0..senders)
        .map(|_| {
            let txs = txs.clone();
            std::thread::spawn(move || {
                for i in 0..n as u64 {
                    for tx in &txs {
                        tx.send(i.to_le_bytes()).unwrap();
                    }
                }
            })
        })
        .collect();
    let receiving: Vec<_> = (0..receivers as usize)
        .map(|k| {
            let rx = routes[k % routes.len()].1.clone();
            std::thread::spawn(move || {
                let mut got = 0u64;
                while let Ok(f) = rx.recv() {
                    std::hint::black_box(f);
                    got += 1;
                }
                got
            })
        })
        .collect();
    drop((txs, routes));
    for t in sending {
        t.join().unwrap();
    }
    let got: u64 = receiving.into_iter().map(|t| t.join().unwrap()).sum();
    let copies = if broadcast { receivers } else { 1 };
    assert_eq!(got, u64::from(senders * n * copies), "frames delivered");
    start.elapsed().as_nanos() as f64 / (senders * n) as f64
}

/// ns one way for the same ping-pong of 64 B frames over crossbeam.
fn latency_crossbeam(n: u32) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; 64]>(1);
    let (btx, brx) = crossbeam_channel::bounded::<[u8; 64]>(1);
    let echo = std::thread::spawn(move || {
        while let Ok(f) = rx.recv() {
            if btx.send(f).is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    let mut frame = [0u8; 64];
    for i in 0..n as u64 {
        frame[..8].copy_from_slice(&i.to_le_bytes());
        tx.send(frame).unwrap();
        let r = brx.recv().unwrap();
        assert_eq!(r[..8], i.to_le_bytes());
    }
    let ns = t0.elapsed().as_nanos() as f64 / n as f64 / 2.0;
    drop(tx);
    echo.join().unwrap();
    ns
}

/// ns one way for a bare core-to-core round trip on one atomic word.
fn latency_atomic(n: u32) -> f64 {
    let word = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let w = word.clone();
    let n = u64::from(n);
    let peer = std::thread::spawn(move || {
        for i in 0..n {
            while w.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            w.store(2 * i + 2, Ordering::Release);
        }
    });
    let t0 = Instant::now();
    for i in 0..n {
        word.store(2 * i + 1, Ordering::Release);
        while word.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let ns = t0.elapsed().as_nanos() as f64 / n as f64 / 2.0;
    peer.join().unwrap();
    ns
}

fn crossbeam_sized(size: usize, n: u32) -> f64 {
    match size {
        8 => crossbeam_frames::<8>(n),
        64 => crossbeam_frames::<64>(n),
        4096 => crossbeam_frames::<4096>(n),
        _ => crossbeam_frames::<65536>(n),
    }
}

/// ns to copy `size` bytes between two buffers on one thread (the memory
/// bandwidth a zero-copy channel is measured against).
fn memcpy_ns(size: usize) -> f64 {
    let src = vec![7u8; size];
    let mut dst = vec![0u8; size];
    let rounds = (256 << 20) / size;
    let start = Instant::now();
    for i in 0..rounds {
        dst.copy_from_slice(std::hint::black_box(&src));
        dst[i % size] ^= 1;
    }
    std::hint::black_box(&dst);
    start.elapsed().as_nanos() as f64 / rounds as f64
}

/// Runs an idle measurement (`ours` or `bare`) in a fresh process of this
/// binary, so neither sees pages the other, or an earlier row, freed:
/// returns its heap and resident KiB per guest, and µs per spawn (ours).
fn idle_apart(which: &str, n: usize) -> (f64, f64, f64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(IDLE_CHILD, format!("{which} {n}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        out.status.success() && v.len() == 3,
        "idle {which}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (v[0], v[1], v[2])
}

/// Set in the child [`idle_apart`] starts: which measurement, and `n`.
const IDLE_CHILD: &str = "TIDEMARK_BENCH_IDLE_CHILD";

/// The child's side of [`idle_apart`].
fn idle_child(spec: &str) {
    let (which, n) = spec.split_once(' ').expect("which n");
    let n: usize = n.parse().expect("n");
    let ((heap, rss), spawn) = match which {
        "ours" => idle_ours(n),
        _ => (idle_bare(&Hosted::boot(Config::default()), n), 0.0),
    };
    println!("{heap} {rss} {spawn}");
}

fn main() {
    if let Ok(spec) = std::env::var(IDLE_CHILD) {
        return idle_child(&spec);
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run quickly then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let r = if quick { 1 } else { rounds() };
    // The first free argument filters benchmarks by name, as with libtest.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let want = |name: &str| name.contains(filter.as_str());
    let h = boot(true);
    // The same kernel with every frame through the copying hostcalls.
    let hc = boot(false);
    let mut rows = Vec::new();

    if want("idle") {
        let n = if quick { 200 } else { 10_000 };
        let (heap, rss, spawn_us) = idle_apart("ours", n);
        let (bare_heap, bare_rss, _) = idle_apart("bare", n);
        rows.push(Row {
            name: format!("idle guest heap, {n} of them"),
            ours: heap,
            base: bare_heap,
            unit: "KiB",
            baseline: "bare instance + store",
            goal: "report",
        });
        rows.push(Row {
            name: format!("idle guest resident, {n}"),
            ours: rss,
            base: bare_rss,
            unit: "KiB",
            baseline: "bare instance + store",
            goal: "report",
        });
        rows.push(Row {
            name: format!("heap kept per ended guest, {n}"),
            ours: churn_ours(n),
            base: heap,
            unit: "KiB",
            baseline: "a live idle guest's heap",
            goal: "report",
        });
        rows.push(Row {
            name: format!("spawn of the {n} idle guests"),
            ours: spawn_us,
            base: median((0..r).map(|_| spawn_bare(&h, false)).collect()),
            unit: "us",
            baseline: "InstancePre::instantiate",
            goal: "report",
        });
    }

    if want("hostcall") {
        let ours = median((0..r).map(|_| hostcall_ours(&h)).collect());
        let base = median((0..r).map(|_| hostcall_bare(&h)).collect());
        rows.push(Row {
            name: "cap-checked no-op hostcall".into(),
            ours,
            base,
            unit: "ns",
            baseline: "bare Func::wrap",
            goal: "<= 1.5x",
        });
    }

    if want("record") {
        let live = median((0..r).map(|_| hostcall_ours(&h)).collect());
        rows.extend(record::rows(r, live));
    }

    if want("spawn") {
        let runs: Vec<(f64, f64)> = (0..r).map(|_| spawn_ours(&h)).collect();
        let base = median((0..r).map(|_| spawn_bare(&h, false)).collect());
        let base_thread = median((0..r).map(|_| spawn_bare(&h, true)).collect());
        let ours = median(runs.iter().map(|r| r.0).collect());
        rows.push(Row {
            name: "spawn to first instruction".into(),
            ours,
            base,
            unit: "us",
            baseline: "InstancePre::instantiate",
            goal: "<= 1.5x",
        });
        let ours = median(runs.iter().map(|r| r.1).collect());
        rows.push(Row {
            name: "spawn until instance ready".into(),
            ours,
            base,
            unit: "us",
            baseline: "InstancePre::instantiate",
            goal: "(breakdown)",
        });
        let ours = median(runs.iter().map(|r| r.0).collect());
        rows.push(Row {
            name: "spawn to first instruction".into(),
            ours,
            base: base_thread,
            unit: "us",
            baseline: "instantiate on new thread",
            goal: "(breakdown)",
        });
    }

    if want("reload") {
        let n = if quick { 5 } else { 50 };
        let runs: Vec<(f64, f64)> = (0..r).map(|_| reload_ours(&h, n)).collect();
        let ours = median(runs.iter().map(|r| r.0).collect());
        let base = median((0..r).map(|_| spawn_counter(&h, n)).collect());
        rows.push(Row {
            name: "hot swap (blocked counter)".into(),
            ours,
            base,
            unit: "us",
            baseline: "spawn until ready",
            goal: "report",
        });
        let ours = median(runs.iter().map(|r| r.1).collect());
        let base = median((0..r).map(|_| compile_bare(&h, n)).collect());
        rows.push(Row {
            name: "reload prepare".into(),
            ours,
            base,
            unit: "us",
            baseline: "bare Module::new",
            goal: "report",
        });
    }

    if want("preemption") {
        let runs: Vec<((f64, i32), (f64, i32))> =
            (0..r).map(|_| (compute_ours(&h), compute_bare())).collect();
        assert!(
            runs.iter().all(|(a, b)| a.1 == b.1),
            "the guest computed different results"
        );
        let ours = median(runs.iter().map(|r| r.0.0).collect());
        let base = median(runs.iter().map(|r| r.1.0).collect());
        rows.push(Row {
            name: "compute-bound guest, epoch on".into(),
            ours,
            base,
            unit: "ms",
            baseline: "bare store, epoch off",
            goal: "<= 1.10x",
        });
    }

    if want("latency") {
        let n = if quick { 2_000 } else { 50_000 };
        let cross = median((0..r).map(|_| latency_crossbeam(n)).collect());
        let atomic = median((0..r).map(|_| latency_atomic(n)).collect());
        for (parties, label) in [(Parties::Many, ""), (Parties::Single, " (single)")] {
            let ours = median((0..r).map(|_| latency_ours(&h, n, parties)).collect());
            rows.push(Row {
                name: format!("one-way latency 64 B{label}"),
                ours,
                base: cross,
                unit: "ns",
                baseline: "crossbeam ping-pong / 2",
                goal: "<= 1.0x",
            });
            rows.push(Row {
                name: format!("one-way latency 64 B{label}"),
                ours,
                base: atomic,
                unit: "ns",
                baseline: "atomic round trip / 2",
                goal: "<= 3x",
            });
        }
        let ours = median((0..r).map(|_| latency_ours(&hc, n, Parties::Many)).collect());
        rows.push(Row {
            name: "one-way latency 64 B (copying)".into(),
            ours,
            base: cross,
            unit: "ns",
            baseline: "crossbeam ping-pong / 2",
            goal: "report",
        });
    }

    if want("channel") {
        // TIDEMARK_BENCH_FRAMES=8,64 keeps only those frame sizes (for profiling one).
        let sizes: Option<Vec<usize>> = std::env::var("TIDEMARK_BENCH_FRAMES")
            .ok()
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect());
        for (size, label, n_full) in [
            (8usize, "8 B", 500_000u32),
            (64, "64 B", 500_000),
            (4096, "4 KiB", 100_000),
            (65536, "64 KiB", 10_000),
        ] {
            if sizes.as_ref().is_some_and(|s| !s.contains(&size)) {
                continue;
            }
            let n = if quick {
                (n_full / 25).max(200)
            } else {
                n_full
            };
            let name = format!("channel {label} frames");
            let zero = median((0..r).map(|_| channel_ours(&h, size, n)).collect());
            let copying = median((0..r).map(|_| channel_ours(&hc, size, n)).collect());
            let cross = median((0..r).map(|_| crossbeam_sized(size, n)).collect());
            let socket = median((0..r).map(|_| unix_socket_frames(size, n)).collect());
            rows.push(Row {
                name: name.clone(),
                ours: zero,
                base: cross,
                unit: "ns/frame",
                baseline: "crossbeam, 2 threads",
                goal: "report",
            });
            if size <= 64 {
                // The goal for small frames is on the channel made with the
                // hint that lets the ring go without its writer lock.
                let single = median((0..r).map(|_| channel_single(&h, size, n)).collect());
                rows.push(Row {
                    name: format!("{name} (single)"),
                    ours: single,
                    base: cross,
                    unit: "ns/frame",
                    baseline: "crossbeam, 2 threads",
                    goal: if size == 8 { "<= 1.0x" } else { "report" },
                });
            }
            rows.push(Row {
                name: name.clone(),
                ours: zero,
                base: socket,
                unit: "ns/frame",
                baseline: "unix socket pair",
                goal: "report",
            });
            rows.push(Row {
                name: name.clone(),
                ours: zero,
                base: copying,
                unit: "ns/frame",
                baseline: "copying path",
                goal: "report",
            });
            let loans = median((0..r).map(|_| channel_loans(&h, size, n)).collect());
            rows.push(Row {
                name: format!("{name} (in place)"),
                ours: loans,
                base: cross,
                unit: "ns/frame",
                baseline: "crossbeam, 2 threads",
                goal: "report",
            });
            if size == 65536 {
                let base = median((0..r).map(|_| memcpy_ns(size)).collect());
                rows.push(Row {
                    name: name.clone(),
                    ours: zero,
                    base,
                    unit: "ns/frame",
                    baseline: "memcpy, one thread",
                    goal: "report",
                });
                rows.push(Row {
                    name: format!("{name} (in place)"),
                    ours: loans,
                    base,
                    unit: "ns/frame",
                    baseline: "memcpy, one thread",
                    goal: "<= 1.43x (>= 0.7x bw)",
                });
            }
            rows.push(Row {
                name: format!("{name} (copying)"),
                ours: copying,
                base: cross,
                unit: "ns/frame",
                baseline: "crossbeam, 2 threads",
                goal: "report",
            });
        }
    }

    if want("fan") {
        let n = if quick { 2_000 } else { 100_000 };
        let ours = median((0..r).map(|_| fan_ours(&h, 4, 4, n)).collect());
        let base = median((0..r).map(|_| fan_crossbeam(4, 4, n, false)).collect());
        let broadcast = median((0..r).map(|_| fan_crossbeam(4, 4, n, true)).collect());
        rows.push(Row {
            name: "4 writers / 4 readers, 8 B".into(),
            ours,
            base,
            unit: "ns/frame",
            baseline: "crossbeam MPMC 4/4",
            goal: "<= 1.43x (>= 0.7x tput)",
        });
        // Ours delivers every frame to every reader; MPMC gives each to one.
        rows.push(Row {
            name: "4 writers / 4 readers, 8 B".into(),
            ours,
            base: broadcast,
            unit: "ns/frame",
            baseline: "crossbeam broadcast 4/4",
            goal: "report",
        });
    }

    println!();
    println!(
        "{:<32} {:>12} {:>12} {:>8}  {:<26} {}",
        "benchmark", "tidemark", "baseline", "ratio", "baseline is", "goal"
    );
    for row in &rows {
        println!(
            "{:<32} {:>9.2} {:<2} {:>9.2} {:<2} {:>7.2}x  {:<26} {}",
            row.name,
            row.ours,
            &row.unit[..2],
            row.base,
            &row.unit[..2],
            row.ours / row.base,
            row.baseline,
            row.goal
        );
    }
    println!(
        "(rounds: {r}; units: {})",
        rows.iter()
            .map(|r| format!("{} {}", r.name, r.unit))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
