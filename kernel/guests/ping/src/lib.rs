//! `ping`: drives a peer over channels.
//!
//! Arguments (text): `rr N [SIZE]` sends N numbered requests of SIZE bytes
//! (8 to 64, default 8) on `out` and checks
//! each echo on `in`, then sends an empty frame to say goodbye; `stream N
//! [SIZE]` writes N numbered frames of SIZE bytes (default 8) on `out` as
//! fast as it can, then writes the count it attempted on `ctl`; `loan N
//! [SIZE]` does the same, filling each frame where it lies in the ring
//! (`write_in_place`) instead of copying it from a buffer. Exits with the
//! number of frames dropped.
#![no_std]

use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, error, info, process};

tidemark_sdk::main!(run, classes: log, time, channel);

fn parse(args: &[u8]) -> (&[u8], u32, usize) {
    let s = core::str::from_utf8(args).unwrap_or("");
    let mut it = s.split_whitespace();
    let mode = it.next().unwrap_or("rr");
    let n = it.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let size = it.next().and_then(|n| n.parse().ok()).unwrap_or(8usize).clamp(8, FRAME);
    (mode.as_bytes(), n, size)
}

const FRAME: usize = 65536;
static mut FRAME_BUF: [u8; FRAME] = [0; FRAME];

fn run() -> Result<i32, Error> {
    let mut buf = [0u8; 64];
    let (mode, n, size) = parse(process::args(&mut buf));
    let out = Channel::lookup("out")?.writer()?;
    match mode {
        b"rr" => {
            let back = Channel::lookup("in")?.reader()?;
            // Round trips of up to 64-byte frames, numbered in their first 8 bytes.
            let size = size.min(64);
            let (mut request, mut reply) = ([0u8; 64], [0u8; 64]);
            for i in 0..n as u64 {
                request[..8].copy_from_slice(&i.to_le_bytes());
                out.write(&request[..size])?;
                let f = back.read(&mut reply)?;
                if f.len as usize != size || reply[..8] != i.to_le_bytes() {
                    error!("ping: reply {} is wrong ({} bytes)", i, f.len);
                    return Ok(-1);
                }
            }
            out.write(&[])?;
            info!("ping: {} round trips", n);
            Ok(0)
        }
        b"stream" | b"loan" => {
            let ctl = Channel::lookup("ctl")?.writer()?;
            let mut dropped = 0;
            // SAFETY: single-threaded guest; the only reference to the buffer.
            let frame = unsafe { &mut *core::ptr::addr_of_mut!(FRAME_BUF) };
            let frame = &mut frame[..size];
            for i in 0..n as u64 {
                let written = if mode == b"loan" {
                    // The frame's bytes where they lie: a fill, then the number.
                    out.write_in_place(size, |a, b| {
                        a.fill(i as u8);
                        b.fill(i as u8);
                        for (k, byte) in i.to_le_bytes().into_iter().enumerate() {
                            match a.get_mut(k) {
                                Some(x) => *x = byte,
                                None => b[k - a.len()] = byte,
                            }
                        }
                    })
                } else {
                    frame[..8].copy_from_slice(&i.to_le_bytes());
                    out.write(frame)
                };
                match written {
                    Ok(()) => {}
                    Err(Error::Dropped) => dropped += 1,
                    Err(e) => return Err(e),
                }
            }
            ctl.write(&n.to_le_bytes())?;
            info!("ping: streamed {}, {} dropped", n, dropped);
            Ok(dropped)
        }
        _ => {
            error!("ping: unknown mode");
            Ok(-2)
        }
    }
}
