//! `pong`: answers `ping`.
//!
//! `echo` (default) reads frames on `in` and writes each back on `out`
//! until an empty frame arrives, checking the sequence numbers; exits with
//! the number echoed. `count` reads numbered frames on `in` (a `Drop`
//! channel) until `ping` reports on `ctl` how many it sent, then drains what
//! is left; exits with the number received, checking they only increase.
//! `sink N` reads N frames (waiting for each), checks that each writer
//! process's numbered frames arrive once and in order, and exits with N
//! (-2 if not). `join N` is a sink that attaches mid-stream: a writer's
//! first frame it sees may have any number, the rest must follow it.
//! `take N` is a sink that reads each frame where it lies in the ring
//! (`read_in_place`), touching one byte of every 64 (each cache line) as a
//! reader that uses the bytes would, with no copy.
#![no_std]

use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, error, info, process, time};

tidemark_sdk::main!(run, classes: log, time, channel);

static mut FRAME_BUF: [u8; 65536] = [0; 65536];

fn run() -> Result<i32, Error> {
    let mut buf = [0u8; 64];
    let mode = process::args(&mut buf);
    let input = Channel::lookup("in")?.reader()?;
    // SAFETY: single-threaded guest; the only reference to the buffer.
    let frame = unsafe { &mut *core::ptr::addr_of_mut!(FRAME_BUF) };
    let join = mode.starts_with(b"join ");
    let take = mode.starts_with(b"take ");
    if let Some(n) = mode
        .strip_prefix(b"sink ")
        .or_else(|| mode.strip_prefix(b"join "))
        .or_else(|| mode.strip_prefix(b"take "))
    {
        let n: i32 = core::str::from_utf8(n).ok().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        // Each writer process numbers its frames from 0 (ping's `stream`):
        // under Park every one must arrive once, in order (a writer killed
        // mid-stream just stops). Kept per pid, for the last 64 writers.
        let mut next = [(0u32, 0u64); 64];
        let mut touched = 0u8;
        for _ in 0..n {
            let (f, v) = if take {
                input.read_in_place(|a, b, f| {
                    let mut number = [0u8; 8];
                    for (k, x) in a.iter().chain(b).take(8).enumerate() {
                        number[k] = *x;
                    }
                    for x in a.iter().step_by(64).chain(b.iter().step_by(64)) {
                        touched = touched.wrapping_add(*x);
                    }
                    (f, u64::from_le_bytes(number))
                })?
            } else {
                let f = input.read(frame)?;
                (f, u64::from_le_bytes(frame[..8].try_into().unwrap_or([0; 8])))
            };
            let e = &mut next[f.pid as usize % 64];
            if e.0 != f.pid {
                *e = (f.pid, if join { v } else { 0 });
            }
            if v != e.1 {
                error!("pong: pid {} sent frame {} where {} was due: a frame lost or repeated", f.pid, v, e.1);
                return Ok(-2);
            }
            e.1 += 1;
        }
        core::hint::black_box(touched);
        return Ok(n);
    }
    if mode.starts_with(b"count") {
        let ctl = Channel::lookup("ctl")?.reader()?;
        let (mut got, mut last) = (0i32, None::<u64>);
        let mut take = |f: &[u8]| -> bool {
            let v = u64::from_le_bytes(f[..8].try_into().unwrap_or([0; 8]));
            let ok = last.is_none_or(|l| v > l);
            last = Some(v);
            got += 1;
            ok
        };
        let mut done = false;
        loop {
            match input.try_read(frame) {
                Ok(f) => {
                    if !take(&frame[..(f.len as usize).max(8)]) {
                        error!("pong: frames out of order");
                        return Ok(-1);
                    }
                }
                Err(Error::Empty) if done => break,
                Err(Error::Empty) => match ctl.try_read(&mut buf) {
                    // Everything ping wrote is in the ring before its report.
                    Ok(_) => done = true,
                    Err(Error::Empty) => time::sleep(20_000)?,
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        info!("pong: received {}", got);
        return Ok(got);
    }
    let out = Channel::lookup("out")?.writer()?;
    let mut n: i32 = 0;
    loop {
        let f = input.read(frame)?;
        if f.len == 0 {
            break;
        }
        out.write(&frame[..f.len as usize])?;
        n += 1;
    }
    info!("pong: echoed {}", n);
    Ok(n)
}
