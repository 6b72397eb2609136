//! `counter`: a small service. Requests on `req`: `inc`, `add N`, `get`,
//! `reset`; each answered on `resp` with the count as 8 little-endian bytes.
//! Unknown requests are answered with an empty frame. The count survives a
//! hot reload: the old instance hands it over through `tidemark_save`.
#![no_std]

use core::sync::atomic::{AtomicU64, Ordering};

use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, info, process};

tidemark_sdk::main!(run, classes: log, channel);
tidemark_sdk::save!(save);

static COUNT: AtomicU64 = AtomicU64::new(0);
static mut SAVED: [u8; 8] = [0; 8];

fn save() -> &'static [u8] {
    // SAFETY: single-threaded guest; called while `run` is stopped.
    unsafe {
        SAVED = COUNT.load(Ordering::Relaxed).to_le_bytes();
        &*core::ptr::addr_of!(SAVED)
    }
}

fn run() -> Result<(), Error> {
    let req = Channel::lookup("req")?.reader()?;
    let resp = Channel::lookup("resp")?.writer()?;
    let mut buf = [0u8; 256];
    if let Ok(state) = <[u8; 8]>::try_from(process::state(&mut buf)) {
        COUNT.store(u64::from_le_bytes(state), Ordering::Relaxed);
        info!("counter: ready, count {} restored", u64::from_le_bytes(state));
    } else {
        info!("counter: ready");
    }
    loop {
        let f = req.read(&mut buf)?;
        let text = core::str::from_utf8(&buf[..f.len as usize]).unwrap_or("").trim();
        let count = COUNT.load(Ordering::Relaxed);
        let next = match text.split_once(' ') {
            _ if text == "inc" => Some(count + 1),
            _ if text == "get" => Some(count),
            _ if text == "reset" => Some(0),
            Some(("add", n)) => n.trim().parse::<u64>().ok().map(|n| count.wrapping_add(n)),
            _ => None,
        };
        match next {
            Some(c) => {
                COUNT.store(c, Ordering::Relaxed);
                resp.write(&c.to_le_bytes())?
            }
            None => resp.write(&[])?,
        }
    }
}
