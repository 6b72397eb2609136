//! `counter`: a small service. Requests on `req`: `inc`, `add N`, `get`,
//! `reset`; each answered on `resp` with the count as 8 little-endian bytes.
//! Unknown requests are answered with an empty frame.
#![no_std]

use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, info};

tidemark_sdk::main!(run, classes: log, channel);

fn run() -> Result<(), Error> {
    let req = Channel::lookup("req")?.reader()?;
    let resp = Channel::lookup("resp")?.writer()?;
    let mut count: u64 = 0;
    let mut buf = [0u8; 256];
    info!("counter: ready");
    loop {
        let f = req.read(&mut buf)?;
        let text = core::str::from_utf8(&buf[..f.len as usize]).unwrap_or("").trim();
        let ok = match text.split_once(' ') {
            _ if text == "inc" => {
                count += 1;
                true
            }
            _ if text == "get" => true,
            _ if text == "reset" => {
                count = 0;
                true
            }
            Some(("add", n)) => match n.trim().parse::<u64>() {
                Ok(n) => {
                    count = count.wrapping_add(n);
                    true
                }
                Err(_) => false,
            },
            _ => false,
        };
        if ok { resp.write(&count.to_le_bytes())? } else { resp.write(&[])? }
    }
}
