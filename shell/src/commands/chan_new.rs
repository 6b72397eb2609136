use clap::Parser;
use serde::Serialize;
use tidemark_abi::Backpressure;
use tidemark_protocol::{ChannelInfo, req};

use crate::output::Human;
use crate::session::{Session, ShellError};

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
    /// One writer and one reader: the ring runs without its writer lock,
    /// and a second process attaching in either role is refused.
    #[arg(long)]
    single: bool,
}

/// The channel created.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Created(ChannelInfo);

impl Human for Created {
    fn human(&self) -> String {
        format!("created channel {} `{}`", self.0.id, self.0.name)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Created, ShellError> {
    let backpressure = if a.drop { Backpressure::Drop } else { Backpressure::Park };
    s.call(req::CreateChannel { name: a.name, data_bytes: a.bytes, frames: a.frames, backpressure, single: a.single }).map(Created)
}

super::command!("chan new", Mutation, Args, run);
