//! `app`: a guest of the system services. It counts its boots in kv,
//! announces itself on the bus, keeps a note in its vfs directory, and
//! then runs commands from `cmd`, answering each on `out`:
//! `get KEY`, `set KEY VALUE`, `del KEY`, `ls PREFIX`, `pub TOPIC TEXT`,
//! `sub PATTERN`, `cat PATH`, `put PATH TEXT`, `timeout MS` (how long a
//! call waits for its service). Messages on its
//! subscriptions are logged as they arrive. It may reach only what
//! `[guest.uses]` in Tidemark.toml gave it: keys under `app/`, files
//! under `/home/app`, topics under `app/` (and `sensors/` to read).
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use tidemark_sdk::bus::Bus;
use tidemark_sdk::channel::{self, Channel};
use tidemark_sdk::client::CallResult;
use tidemark_sdk::fs::Fs;
use tidemark_sdk::kv::Kv;
use tidemark_sdk::{Error, info};

// `time`: service calls time out rather than wait on a service that is down.
tidemark_sdk::main!(run, classes: log, time, channel);

fn run() -> Result<(), Error> {
    let cmd = Channel::lookup("cmd")?.reader()?;
    let out = Channel::lookup("out")?.writer()?;
    let (mut kv, mut bus, mut fs) = match (Kv::connect(), Bus::connect(), Fs::connect()) {
        (Ok(k), Ok(b), Ok(f)) => (k, b, f),
        _ => {
            tidemark_sdk::error!("app: a service connection is missing (is `[guest.uses]` set?)");
            return Err(Error::NotFound);
        }
    };
    let boots = match kv.get("app/boots") {
        Ok(Some(v)) => core::str::from_utf8(&v).ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0) + 1,
        _ => 1,
    };
    let started = kv
        .set("app/boots", format!("{boots}").as_bytes())
        .and_then(|_| bus.subscribe("app/#"))
        .and_then(|_| bus.subscribe("sensors/#"))
        .and_then(|_| bus.publish("app/started", format!("boot {boots}").as_bytes()))
        .and_then(|_| fs.write("boots.txt", format!("{boots}\n").as_bytes()));
    match started {
        Ok(_) => info!("app: boot {boots}"),
        Err(e) => info!("app: boot {boots}, but: {e}"),
    }
    let mut buf = [0u8; 1024];
    loop {
        let ready = channel::select(&[&cmd, bus.deliveries()], None)?;
        if ready == 1 {
            if let Ok(m) = bus.recv() {
                let text = core::str::from_utf8(&m.payload).unwrap_or("(bytes)");
                info!("app: message on {} from {}: {text}", m.topic, m.from);
            }
            continue;
        }
        let f = cmd.read(&mut buf)?;
        let line = core::str::from_utf8(&buf[..f.len as usize]).unwrap_or("").trim();
        let answer = match command(line, &mut kv, &mut bus, &mut fs) {
            Ok(text) => text,
            Err(e) => format!("error: {e}"),
        };
        info!("app: {line} -> {answer}");
        out.write(answer.as_bytes())?;
    }
}

fn command(line: &str, kv: &mut Kv, bus: &mut Bus, fs: &mut Fs) -> CallResult<String> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (a, b) = rest.split_once(' ').unwrap_or((rest, ""));
    Ok(match verb {
        "get" => match kv.get(a)? {
            Some(v) => String::from_utf8(v).unwrap_or_else(|_| "(bytes)".into()),
            None => "(not set)".into(),
        },
        "set" => kv.set(a, b.as_bytes()).map(|_| "ok".into())?,
        "del" => format!("existed: {}", kv.delete(a)?),
        "ls" => kv.list(a, 100)?.join(","),
        "pub" => {
            let (delivered, dropped) = bus.publish(a, b.as_bytes())?;
            format!("delivered {delivered}, dropped {dropped}")
        }
        "sub" => bus.subscribe(a).map(|_| "ok".into())?,
        "cat" => String::from_utf8(fs.read(a)?).unwrap_or_else(|_| "(bytes)".into()),
        "put" => fs.write(a, b.as_bytes()).map(|_| "ok".into())?,
        "timeout" => {
            let ms: u64 = a.parse().unwrap_or(5_000);
            kv.set_timeout(ms * 1_000_000);
            bus.set_timeout(ms * 1_000_000);
            fs.set_timeout(ms * 1_000_000);
            format!("timeout {ms} ms")
        }
        _ => format!("unknown command `{verb}`"),
    })
}
