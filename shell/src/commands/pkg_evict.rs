use clap::Parser;
use serde_json::json;
use tidemark_monitor::Request;

use crate::output::Message;
use crate::session::{Session, ShellError};

/// Evicts a package from the cache (pinned packages must be unpinned first).
#[derive(Parser)]
pub struct Args {
    /// Package name.
    name: String,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    s.call(Request::Evict { name: a.name.clone() })?;
    Ok(Message { text: format!("evicted {}", a.name), json: json!({ "evicted": a.name }) })
}

super::command!("pkg evict", Args, run);
