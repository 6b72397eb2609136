//! `probe`: a test guest that pokes at the kernel's edges.
//!
//! * `forge SEED N`: tries N pseudo-random handles on every capability-taking
//!   call; exits with how many were accepted (must be 0).
//! * `hold`: waits for a capability `c` (granted or delegated), then checks it
//!   every millisecond; exits with the (positive) error code once it fails.
//! * `delegate PID`: delegates its `c` to PID under the name `c` with `rw`,
//!   then behaves as `hold`.
//! * `spin`: loops forever without hostcalls.
//! * `noop N`: makes N `cap_check` calls on its `c` (for benchmarks).
//! * `window`: attaches to its channel `c` as writer and reader, writes
//!   `hello`, logs `window at ADDR` (0 on the copying path), waits until `c`
//!   is revoked, then checks that the window no longer shows the ring,
//!   scribbles all over it, and that reads and writes now fail `Revoked`.
//!   Exits 0 when all of that held, else the number of the failed check.
//! * `draw N`: draws N frames of a test picture on its `display` (a
//!   gradient, red across and green down, blue `16 * frame`, and a white
//!   16-pixel square that moves 8 pixels a frame), presenting each, 20 ms
//!   apart; logs `draw: WxH, P presents` and exits 0.
//! * `bomb`: a spawn bomb: spawns copies of itself until the kernel refuses
//!   (logs the refusal), then sleeps; every copy does the same.
#![no_std]

use tidemark_sdk::cap::Cap;
use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, Rights, error, info, process, sys, time};

tidemark_sdk::main!(run, classes: log, time, channel, shm, process);

fn num(s: Option<&str>) -> u32 {
    s.and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The `draw` picture's pixel at (`x`, `y`) in `frame` (the tests compute
/// the same to check a screenshot).
fn pixel(x: u32, y: u32, w: u32, h: u32, frame: u32) -> u32 {
    let sq = (frame * 8) % w.saturating_sub(16).max(1);
    if (sq..sq + 16).contains(&x) && (h / 2..h / 2 + 16).contains(&y) {
        return 0x00ff_ffff;
    }
    let (r, g, b) = (x * 255 / w.max(1), y * 255 / h.max(1), (frame * 16) & 0xff);
    (r << 16) | (g << 8) | b
}

fn draw(frames: u32) -> Result<i32, Error> {
    let d = tidemark_sdk::display::Display::lookup("display")?;
    let (w, h) = (d.info.width, d.info.height);
    let mut row = [0u8; 4 * 4096];
    let row = &mut row[..(w as usize * 4).min(4 * 4096)];
    let mut presents = 0;
    for frame in 0..frames {
        for y in 0..h {
            for (x, px) in row.chunks_exact_mut(4).enumerate() {
                px.copy_from_slice(&pixel(x as u32, y, w, h, frame).to_le_bytes());
            }
            d.write_row(y, row)?;
        }
        presents = d.present()?;
        time::sleep(20_000_000)?;
    }
    info!("draw: {}x{}, {} presents", w, h, presents);
    Ok(0)
}

fn hold() -> Result<i32, Error> {
    let c = loop {
        match Cap::lookup("c") {
            Ok(c) => break c,
            Err(Error::NotFound) => time::sleep(1_000_000)?,
            Err(e) => return Err(e),
        }
    };
    info!("probe: holding {}", c.0);
    let copy = c; // a stale copy must fail exactly like the original
    loop {
        if let Err(e) = copy.check(Rights::NONE) {
            info!("probe: capability gone: {}", e);
            return Ok(-e.code());
        }
        time::sleep(1_000_000)?;
    }
}

fn window() -> Result<i32, Error> {
    let c = Channel::lookup("c")?;
    let (w, r) = (c.writer()?, c.reader()?);
    w.write(b"hello")?;
    let at = w.descriptor().mapped_at as usize;
    let len = w.descriptor().len as usize;
    info!("probe: window at {} in place {}", at, w.in_place() && r.in_place());
    while c.cap.check(Rights::NONE).is_ok() {
        time::sleep(1_000_000)?;
    }
    if at != 0 {
        // SAFETY: [at, at + len) is ours: the window, zero pages since the revoke.
        let window = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, len) };
        if window.iter().any(|b| *b != 0) {
            error!("probe: the ring is still visible after the revoke");
            return Ok(1);
        }
        window.fill(0xAA); // lands in our private pages, not the ring
    }
    let mut buf = [0u8; 16];
    match (w.write(b"after"), r.read(&mut buf)) {
        (Err(Error::Revoked), Err(Error::Revoked)) => Ok(0),
        (a, b) => {
            error!("probe: after the revoke: write {:?}, read {:?}", a.err(), b.err());
            Ok(2)
        }
    }
}

fn run() -> Result<i32, Error> {
    let mut buf = [0u8; 64];
    let args = core::str::from_utf8(process::args(&mut buf)).unwrap_or("");
    let mut it = args.split_whitespace();
    match it.next() {
        Some("bomb") => loop {
            if let Err(e) = process::spawn("probe", b"bomb") {
                info!("probe: spawn refused: {}", e);
                loop {
                    time::sleep(1_000_000_000)?;
                }
            }
        },
        Some("forge") => {
            let mut x = num(it.next()).max(1);
            let n = num(it.next());
            let mut accepted = 0;
            let mut scratch = [0u8; 64];
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let h = x as i32;
                let p = scratch.as_mut_ptr() as i32;
                // SAFETY: pointers describe `scratch`.
                let results = unsafe {
                    [
                        sys::cap_check(h, 0),
                        sys::cap_info(h, p),
                        sys::chan_attach(h, 2, p),
                        sys::chan_write(h, p, 8, 1),
                        sys::chan_read(h, p, 64, 0, 1),
                        sys::shm_read(h, 0, p, 8),
                        sys::cap_delegate(h, 1, 0xF, p, 1),
                    ]
                };
                accepted += results.iter().filter(|r| **r >= 0).count() as i32;
            }
            info!("probe: {} forged handles, {} accepted", n, accepted);
            Ok(accepted)
        }
        Some("hold") => hold(),
        Some("delegate") => {
            let to = num(it.next());
            let c = Cap::lookup("c")?;
            c.delegate(to, Rights::READ.union(Rights::WRITE), "c")?;
            info!("probe: delegated to {}", to);
            hold()
        }
        Some("spin") => {
            let mut x: u64 = 0;
            loop {
                // volatile keeps the optimiser from proving the loop empty
                x = unsafe { core::ptr::read_volatile(&x) }.wrapping_add(1);
            }
        }
        Some("window") => window(),
        Some("draw") => draw(num(it.next())),
        Some("noop") => {
            let c = Cap::lookup("c")?;
            for _ in 0..num(it.next()) {
                c.check(Rights::NONE)?;
            }
            Ok(0)
        }
        _ => {
            error!("probe: unknown mode `{}`", args);
            Ok(-1)
        }
    }
}
