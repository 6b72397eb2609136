use clap::Parser;
use serde_json::json;
use tidemark_monitor::{Request, Response};

use crate::output::Message;
use crate::session::{Session, ShellError, unexpected};

/// Creates a kernel-held channel.
#[derive(Parser)]
pub struct Args {
    /// Name.
    name: String,
    /// Payload capacity in bytes (rounded up to a power of two).
    #[arg(long, default_value_t = 4096)]
    bytes: u32,
    /// Frame capacity (rounded up to a power of two).
    #[arg(long, default_value_t = 64)]
    frames: u32,
    /// Drop frames when full instead of parking writers.
    #[arg(long)]
    drop: bool,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    match s.call(Request::CreateChannel { name: a.name.clone(), data_bytes: a.bytes, frames: a.frames, drop: a.drop })? {
        Response::ChannelCreated { id } => Ok(Message { text: format!("created channel {id} `{}`", a.name), json: json!({ "id": id, "name": a.name }) }),
        r => Err(unexpected(r)),
    }
}

super::command!("chan new", Args, run);
