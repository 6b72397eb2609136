use clap::Parser;
use serde_json::json;
use tidemark_monitor::{Request, Response};

use crate::output::Message;
use crate::session::{Session, ShellError, unexpected};

/// Writes one frame to a channel as the kernel.
#[derive(Parser)]
pub struct Args {
    /// Channel id or name.
    channel: String,
    /// The frame: text, or hex with --hex.
    #[arg(allow_hyphen_values = true)]
    data: String,
    /// DATA is hex (e.g. 0a0b or 0x0a0b).
    #[arg(long)]
    hex: bool,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    let data = if a.hex {
        let h = a.data.trim_start_matches("0x");
        if h.len() % 2 != 0 {
            return Err(ShellError::Usage("hex data needs an even number of digits".into()));
        }
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16)).collect::<Result<Vec<u8>, _>>().map_err(|e| ShellError::Usage(e.to_string()))?
    } else {
        a.data.into_bytes()
    };
    let chan = s.channel(&a.channel)?;
    match s.call(Request::Send { channel: chan.id, data: data.clone() })? {
        Response::Sent { seq } => Ok(Message {
            text: format!("sent {} bytes to `{}` as frame {seq}", data.len(), chan.name),
            json: json!({ "channel": chan.id, "seq": seq, "bytes": data.len() }),
        }),
        r => Err(unexpected(r)),
    }
}

super::command!("chan send", Args, run);
