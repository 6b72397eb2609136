use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::bus::{Answer, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Publishes a message on the bus (the monitor's connection may publish on
/// any topic); says how many subscribers got it and how many had no room.
#[derive(Parser)]
pub struct Args {
    /// The topic (`/`-separated levels, no wildcards).
    topic: String,
    /// The message (text, or hex with --hex).
    data: String,
    /// DATA is hex digits.
    #[arg(long)]
    hex: bool,
}

/// A publish.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Published {
    /// The topic.
    pub topic: String,
    /// Subscribers that got it.
    pub delivered: u32,
    /// Subscribers whose delivery channel was full.
    pub dropped: u32,
}

impl Human for Published {
    fn human(&self) -> String {
        format!("{}: delivered to {}, dropped by {}", self.topic, self.delivered, self.dropped)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Published, ShellError> {
    let payload = if a.hex { crate::output::parse_hex(&a.data).map_err(ShellError::Usage)? } else { a.data.into_bytes() };
    match crate::services::call(s, Service::Bus, &Request::Publish { topic: a.topic.clone(), payload })? {
        Answer::Published { delivered, dropped } => Ok(Published { topic: a.topic, delivered, dropped }),
        other => Err(ShellError::Protocol(format!("bus answered {other:?} to a publish"))),
    }
}

super::command!("bus pub", Mutation, Args, run);
