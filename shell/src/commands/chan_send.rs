use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Writes one frame to a channel as the kernel.
#[derive(Parser)]
pub struct Args {
    /// Channel id or name.
    channel: String,
    /// The frame: text, or hex with --hex (`--` before one that starts with `-`).
    #[arg(allow_hyphen_values = true)]
    data: String,
    /// DATA is hex (e.g. 0a0b or 0x0a0b).
    #[arg(long)]
    hex: bool,
}

/// A frame the kernel wrote.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Sent {
    /// Channel id.
    pub channel: u32,
    /// The channel as named on the line.
    #[serde(skip)]
    pub named: String,
    /// The frame's sequence number.
    pub seq: u32,
    /// Its length.
    pub bytes: usize,
}

impl Human for Sent {
    fn human(&self) -> String {
        format!("sent {} bytes to `{}` as frame {}", self.bytes, self.named, self.seq)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Sent, ShellError> {
    let data = if a.hex {
        crate::output::parse_hex(&a.data).map_err(ShellError::Usage)?
    } else {
        a.data.into_bytes()
    };
    let bytes = data.len();
    let sent = s.call(req::Send { channel: a.channel.as_str().into(), data })?;
    Ok(Sent { channel: sent.channel, named: a.channel, seq: sent.seq, bytes })
}

super::command!("chan send", Mutation, Args, run);
