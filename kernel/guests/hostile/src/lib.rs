//! `hostile`: a guest that does its worst, for the hostile-guest battery
//! (`workbench/tests/battery.rs`). Every mode must end only this guest.
//!
//! * `calls NAME SEED N`: calls hostcall NAME from the catalogue N times
//!   with hostile arguments (forged and stale handles, pointers and lengths
//!   past its memory, extreme integers), chosen by each parameter's name;
//!   logs how many calls the kernel refused and exits 0.
//! * `scribble`: attaches to a channel of its own, fills the ring it sees
//!   in place with garbage, then reads and writes it; logs what the kernel
//!   said (on the copying path the ring is out of its reach) and exits 0.
//! * `flood`: logs as fast as it can, forever.
//! * `sleep`: sleeps for the longest time there is.
#![no_std]

use tidemark_sdk::abi::{HOSTCALLS, io_flags, nr};
use tidemark_sdk::channel::Channel;
use tidemark_sdk::shm::Region;
use tidemark_sdk::{Backpressure, Error, error, info, process, sys, time};

tidemark_sdk::main!(run, classes: log, time, channel, shm, process);

/// xorshift32: the same sequence on every board for the same seed.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn pick(&mut self, from: &[i64]) -> i64 {
        from[self.next() as usize % from.len()]
    }
}

/// Handles worth trying: this process's own live ones, one it dropped
/// (stale), and forged ones.
fn handles(rng: &mut Rng, stale: i64) -> [i64; 8] {
    let live = |h: Result<i64, Error>| h.unwrap_or(-1);
    [
        live(Channel::create(256, 4, Backpressure::Drop).map(|c| c.cap.0 as i64)),
        live(Region::alloc(64, 8).map(|r| r.cap.0 as i64)),
        stale,
        0,
        -1,
        i32::MAX as i64,
        i32::MIN as i64,
        rng.next() as i32 as i64,
    ]
}

fn memory_end() -> i64 {
    (core::arch::wasm32::memory_size(0) * 65536) as i64
}

/// A hostile value for a parameter, chosen by its name.
fn argument(rng: &mut Rng, name: &str, handles: &[i64], scratch: i64) -> i64 {
    let end = memory_end();
    let extremes = [0, -1, 1, i32::MAX as i64, i32::MIN as i64, rng.next() as i32 as i64];
    match name {
        "handle" => rng.pick(handles),
        n if n.ends_with("ptr") => rng.pick(&[0, -1, end - 1, end, end - 8, scratch, i32::MAX as i64, i32::MIN as i64]),
        "len" | "cap" | "size" | "name_len" | "args_len" => {
            rng.pick(&[0, 1, 8, 64, -1, end, i32::MAX as i64, i32::MIN as i64])
        }
        // Blocking on its own empty channel would be a legitimate wait:
        // keep every other flag bit, but never block.
        "flags" => (rng.next() as i64) | io_flags::NONBLOCK as i64,
        // A long sleep is its own case (`sleep`); here, short or negative.
        "nanos" => rng.pick(&[-1, 0, 1, 1_000, i64::MIN]),
        "pid" => rng.pick(&[0, 1, 2, process::pid() as i64, -1, i32::MAX as i64]),
        _ => rng.pick(&extremes),
    }
}

fn calls(name: &str, seed: u32, n: u32) -> Result<i32, Error> {
    let Some(call) = HOSTCALLS.iter().find(|h| h.name == name) else {
        error!("hostile: no hostcall `{}` in the catalogue", name);
        return Ok(-1);
    };
    if call.number == nr::proc_exit {
        // Its hostile arguments are exit codes: any ends the process cleanly.
        info!("hostile: {}: exits with a hostile code", name);
        process::exit(i32::MIN);
    }
    let mut rng = Rng(seed.max(1));
    let stale = match Channel::create(256, 4, Backpressure::Drop) {
        Ok(c) => {
            let h = c.cap.0 as i64;
            c.cap.drop_cap()?;
            h
        }
        Err(_) => -1,
    };
    let mut scratch = [0u8; 256];
    let mut refused = 0u32;
    for round in 0..n {
        // Fresh live handles now and then (calls may drop or delete them);
        // quotas refuse some creations, which is part of the test.
        let hs = if round % 16 == 0 {
            handles(&mut rng, stale)
        } else {
            [stale, 0, -1, i32::MAX as i64, i32::MIN as i64, 1, 2, rng.next() as i32 as i64]
        };
        for b in scratch.iter_mut() {
            *b = rng.next() as u8;
        }
        let mut args = [0i64; 8];
        for (a, p) in args.iter_mut().zip(call.params) {
            *a = argument(&mut rng, p.name, &hs, scratch.as_mut_ptr() as i64);
        }
        // SAFETY: hostile on purpose; the kernel checks every pointer.
        let r = unsafe { sys::call(call.number, &args[..call.params.len()]) }.unwrap_or(-1);
        if r < 0 {
            refused += 1;
        }
    }
    info!("hostile: {}: {} calls, {} refused", name, n, refused);
    Ok(0)
}

fn scribble() -> Result<i32, Error> {
    let c = Channel::create(1024, 8, Backpressure::Drop)?;
    let (w, r) = (c.writer()?, c.reader()?);
    w.write(b"before")?;
    let (at, len) = (w.descriptor().mapped_at as usize, w.descriptor().len as usize);
    if at == 0 {
        info!("hostile: scribble: no window (copying path), the ring is out of reach");
        return Ok(0);
    }
    let mut x = 0x9E37_79B9u32;
    // SAFETY: [at, at + len) is the ring window the kernel mapped for us.
    let window = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, len) };
    for b in window.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut buf = [0u8; 64];
    let (wr, rd) = (w.try_write(b"after"), r.try_read(&mut buf));
    info!(
        "hostile: scribble: write {:?}, read {:?}",
        wr.err(),
        rd.err()
    );
    Ok(0)
}

fn run() -> Result<i32, Error> {
    let mut buf = [0u8; 96];
    let args = core::str::from_utf8(process::args(&mut buf)).unwrap_or("");
    let mut it = args.split_whitespace();
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    match it.next() {
        Some("calls") => {
            let name = it.next().unwrap_or("");
            let seed = num(it.next());
            calls(name, seed, num(it.next()))
        }
        Some("scribble") => scribble(),
        Some("flood") => {
            info!("hostile: flooding");
            let mut n: u64 = 0;
            loop {
                n += 1;
                info!("hostile: flood line {}", n);
            }
        }
        Some("sleep") => {
            info!("hostile: sleeping forever");
            time::sleep(u64::MAX)?;
            Ok(1)
        }
        _ => {
            error!("hostile: unknown mode `{}`", args);
            Ok(-1)
        }
    }
}
