//! `svcbench`: measures the system services from a guest, beside bare
//! channel round trips through `pong` (echo) measured in the same run, and
//! logs one `svcbench: NAME NS_PER_OP` line per figure, then
//! `svcbench: done` (workbench/benches/services.rs reads them). Its
//! argument is how many operations each figure takes.
//!
//! - `bare_rt_64`, `bare_rt_4k`: a 64 B and a 4 KiB frame to pong and back;
//! - `bus_deliver`: publish a 64 B message on a topic it subscribes to,
//!   until it is received (through bus: a request, a reply and a delivery);
//! - `kv_set`, `kv_get`: one key-value call each (16 B values; sets go to
//!   vfs's log too);
//! - `fs_write_4k`, `fs_read_4k`: a 4 KiB handle write, a 4 KiB handle read.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::vec;

use tidemark_sdk::bus::Bus;
use tidemark_sdk::channel::Channel;
use tidemark_sdk::fs::Fs;
use tidemark_sdk::kv::Kv;
use tidemark_sdk::{Error, info, process, time};

tidemark_sdk::main!(run, classes: log, time, channel);

fn report(name: &str, start: u64, n: u32) {
    let per = (time::now() - start) / u64::from(n.max(1));
    info!("svcbench: {name} {per}");
}

fn run() -> Result<(), Error> {
    let mut arg = [0u8; 32];
    let n: u32 = core::str::from_utf8(process::args(&mut arg)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1000);
    let fail = |what: &str, e: tidemark_sdk::client::CallError| {
        tidemark_sdk::error!("svcbench: {what}: {e}");
        Error::Unavailable
    };
    let out = Channel::lookup("out")?.writer()?;
    let input = Channel::lookup("in")?.reader()?;
    let mut kv = Kv::connect().map_err(|e| fail("kv", e))?;
    let mut bus = Bus::connect().map_err(|e| fail("bus", e))?;
    let mut fs = Fs::connect().map_err(|e| fail("fs", e))?;
    let mut buf = vec![0u8; 8192];
    let block = vec![7u8; 4096];

    for (name, size) in [("bare_rt_64", 64usize), ("bare_rt_4k", 4096)] {
        let t = time::now();
        for _ in 0..n {
            out.write(&block[..size])?;
            input.read(&mut buf)?;
        }
        report(name, t, n);
    }
    out.write(&[])?;

    bus.subscribe("bench/#").map_err(|e| fail("subscribe", e))?;
    let t = time::now();
    for _ in 0..n {
        bus.publish("bench/x", &block[..64]).map_err(|e| fail("publish", e))?;
        bus.recv().map_err(|e| fail("receive", e))?;
    }
    report("bus_deliver", t, n);

    let t = time::now();
    for i in 0..n {
        kv.set(&format!("bench/{}", i % 256), &block[..16]).map_err(|e| fail("set", e))?;
    }
    report("kv_set", t, n);
    let t = time::now();
    for i in 0..n {
        kv.get(&format!("bench/{}", i % 256)).map_err(|e| fail("get", e))?;
    }
    report("kv_get", t, n);

    let h = fs.open("bench.bin", true, true).map_err(|e| fail("open", e))?;
    // Within vfs's session budget: the same 256 KiB, rewritten and reread
    // (one seek per 64 blocks).
    const BLOCKS: u32 = 64;
    let t = time::now();
    for i in 0..n {
        if i % BLOCKS == 0 {
            fs.seek(h, 0).map_err(|e| fail("seek", e))?;
        }
        fs.write_at_handle(h, &block).map_err(|e| fail("write", e))?;
    }
    report("fs_write_4k", t, n);
    let t = time::now();
    for i in 0..n {
        if i % BLOCKS == 0 {
            fs.seek(h, 0).map_err(|e| fail("seek", e))?;
        }
        fs.read_at_handle(h, 4096).map_err(|e| fail("read", e))?;
    }
    report("fs_read_4k", t, n);
    info!("svcbench: done");
    Ok(())
}
