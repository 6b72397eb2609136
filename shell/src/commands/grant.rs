use clap::Parser;
use serde_json::json;
use tidemark_monitor::{Request, Response};

use crate::output::Message;
use crate::session::{Session, ShellError, unexpected};

/// Grants a process a capability on a channel.
#[derive(Parser)]
pub struct Args {
    /// Process id.
    pid: u32,
    /// NAME=CHANNEL[:RIGHTS] (rights from `rwgd`, default `rw`).
    spec: String,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    let g = super::spawn::grant_spec(s, &a.spec)?;
    match s.call(Request::Grant { pid: a.pid, name: g.name.clone(), object: g.object, rights: g.rights })? {
        Response::Granted { handle } => Ok(Message {
            text: format!("granted `{}` to pid {} as handle {handle:#x}", g.name, a.pid),
            json: json!({ "pid": a.pid, "name": g.name, "handle": handle }),
        }),
        r => Err(unexpected(r)),
    }
}

super::command!("grant", Args, run);
