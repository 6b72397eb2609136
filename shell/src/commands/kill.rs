use clap::Parser;
use serde_json::json;
use tidemark_monitor::Request;

use crate::output::Message;
use crate::session::{Session, ShellError};

/// Kills a process (it traps at its next safe point).
#[derive(Parser)]
pub struct Args {
    /// Process id.
    pid: u32,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    s.call(Request::Kill { pid: a.pid })?;
    Ok(Message { text: format!("killed pid {}", a.pid), json: json!({ "killed": a.pid }) })
}

super::command!("kill", Args, run);
