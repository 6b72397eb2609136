//! A client: asks the service on `req` once a second and logs the answer
//! from `resp`.
#![no_std]

use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, info, time};

tidemark_sdk::main!(run, classes: log, time, channel);

fn run() -> Result<(), Error> {
    let requests = Channel::lookup("req")?.writer()?;
    let responses = Channel::lookup("resp")?.reader()?;
    let mut buf = [0u8; 300];
    let mut n: u32 = 0;
    loop {
        n += 1;
        requests.write(b"client")?;
        let f = responses.read(&mut buf)?;
        let text = core::str::from_utf8(&buf[..f.len as usize]).unwrap_or("?");
        info!("client: answer {}: {}", n, text);
        time::sleep(1_000_000_000)?;
    }
}
