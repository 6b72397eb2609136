//! A service: answers each request on `req` with a greeting on `resp`.
#![no_std]

use tidemark_sdk::channel::Channel;
use tidemark_sdk::{Error, info};

tidemark_sdk::main!(run, classes: log, channel);

fn run() -> Result<(), Error> {
    let requests = Channel::lookup("req")?.reader()?;
    let responses = Channel::lookup("resp")?.writer()?;
    let mut buf = [0u8; 256];
    let mut out = [0u8; 300];
    let mut served: u32 = 0;
    info!("service: ready");
    loop {
        let f = requests.read(&mut buf)?;
        let name = &buf[..f.len as usize];
        let greeting = b"hello, ";
        out[..greeting.len()].copy_from_slice(greeting);
        out[greeting.len()..greeting.len() + name.len()].copy_from_slice(name);
        responses.write(&out[..greeting.len() + name.len()])?;
        served += 1;
        if served % 10 == 0 {
            info!("service: {} requests served", served);
        }
    }
}
