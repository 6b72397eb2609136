use clap::Parser;
use serde_json::json;
use tidemark_monitor::Request;

use crate::output::Message;
use crate::session::{Session, ShellError};

/// Pins a package so it is never evicted (or unpins it).
#[derive(Parser)]
pub struct Args {
    /// Package name.
    name: String,
    /// Remove the pin instead.
    #[arg(long)]
    unpin: bool,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    s.call(Request::Pin { name: a.name.clone(), pinned: !a.unpin })?;
    let what = if a.unpin { "unpinned" } else { "pinned" };
    Ok(Message { text: format!("{what} {}", a.name), json: json!({ "name": a.name, "pinned": !a.unpin }) })
}

super::command!("pkg pin", Args, run);
