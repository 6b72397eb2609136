use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;
use tidemark_svc::bus::{Answer, Message, Request};
use tidemark_svc::{MONITOR, Service, channel_name};

use crate::output::{Human, show_bytes};
use crate::session::{Session, ShellError};

/// Subscribes the monitor's bus connection to a pattern (`sensors/*/temp`,
/// `logs/#`) and follows what arrives, as `chan tail` does: until Ctrl-C
/// interactively; in scripts for --count messages or --for a time (default
/// 500ms). The subscription stays for later `bus sub`s.
#[derive(Parser)]
pub struct Args {
    /// The pattern.
    pattern: String,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u32>,
    /// Stop after this long (e.g. 2s, 300ms).
    #[arg(long = "for", value_parser = crate::script::parse_duration)]
    duration: Option<Duration>,
}

/// Messages received.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Messages {
    /// The pattern subscribed to.
    pub pattern: String,
    /// What arrived, in order.
    pub messages: Vec<Message>,
}

impl Human for Messages {
    fn human(&self) -> String {
        if self.messages.is_empty() {
            return format!("{}: (no messages)", self.pattern);
        }
        self.messages.iter().map(|m| format!("{} from {}: {}", m.topic, m.from, show_bytes(&m.payload))).collect::<Vec<_>>().join("\n")
    }
}

fn run(s: &mut Session, a: Args) -> Result<Messages, ShellError> {
    match crate::services::call(s, Service::Bus, &Request::Subscribe(a.pattern.clone()))? {
        Answer::Done => {}
        other => return Err(ShellError::Protocol(format!("bus answered {other:?} to a subscribe"))),
    }
    let deliver = channel_name(Service::Bus, MONITOR, "deliver");
    let until = match (a.duration, a.count, s.interactive) {
        (Some(d), _, _) => Some(Instant::now() + d),
        (None, None, false) => Some(Instant::now() + Duration::from_millis(500)),
        (None, Some(_), false) => Some(Instant::now() + Duration::from_secs(30)),
        _ => None,
    };
    let until = match (until, s.deadline) {
        (Some(u), Some(d)) => Some(u.min(d)),
        (u, d) => u.or(d),
    };
    let _ = s.take_interrupt();
    let mut messages = Vec::new();
    loop {
        if a.count.is_some_and(|c| messages.len() as u32 >= c) || until.is_some_and(|u| Instant::now() >= u) || s.take_interrupt() {
            break;
        }
        let got = s.call(req::Tail { channel: deliver.as_str().into(), max: 64 })?;
        let idle = got.is_empty();
        for f in got {
            if let (_, Ok(m)) = tidemark_svc::decode::<Message>(Service::Bus, &f.data) {
                if s.interactive {
                    println!("{} from {}: {}", m.topic, m.from, show_bytes(&m.payload));
                }
                messages.push(m);
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if let Some(c) = a.count {
        messages.truncate(c as usize);
    }
    Ok(Messages { pattern: a.pattern, messages })
}

super::command!("bus sub", Stream, Args, run);
