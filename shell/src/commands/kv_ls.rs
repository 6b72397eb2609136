use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::kv::{Answer, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Lists kv's keys under a prefix, in order, with the store's totals.
#[derive(Parser)]
pub struct Args {
    /// Key prefix (all keys by default).
    #[arg(default_value = "")]
    prefix: String,
    /// Most keys.
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Keys, and what the store holds.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Keys {
    /// The keys.
    pub keys: Vec<String>,
    /// Keys in the store.
    pub total: u64,
    /// Bytes of keys and values in the store.
    pub bytes: u64,
}

impl Human for Keys {
    fn human(&self) -> String {
        let mut out = self.keys.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out + &format!("({} of {} keys, {} bytes in the store)", self.keys.len(), self.total, self.bytes)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Keys, ShellError> {
    let keys = match crate::services::call(s, Service::Kv, &Request::List { prefix: a.prefix, limit: a.limit })? {
        Answer::Keys(k) => k,
        other => return Err(ShellError::Protocol(format!("kv answered {other:?} to a list"))),
    };
    match crate::services::call(s, Service::Kv, &Request::Stats)? {
        Answer::Stats { keys: total, bytes, .. } => Ok(Keys { keys, total, bytes }),
        other => Err(ShellError::Protocol(format!("kv answered {other:?} to stats"))),
    }
}

super::command!("kv ls", Query, Args, run);
