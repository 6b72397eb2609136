use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{KernelInfo, req};

use crate::output::{Human, size};
use crate::session::{Session, ShellError};

/// Kernel version, board, engine, uptime (and a bare-metal board's memory)
#[derive(Parser)]
pub struct Args {}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Info(KernelInfo);

impl Human for Info {
    fn human(&self) -> String {
        let i = &self.0;
        let mut s = format!(
            "kernel    tidemark {}\nboard     {}\nengine    {}\nprotocol  v{} (abi v{})\nuptime    {:.3} s",
            i.version,
            i.board,
            i.engine,
            i.protocol,
            i.abi,
            i.uptime_ns as f64 / 1e9
        );
        if let Some(m) = &i.memory {
            s.push_str(&format!(
                "\nmemory    {} of RAM: static {}, stack {} peak of {}, heap {} used of {}",
                size(m.ram_bytes),
                size(m.static_bytes),
                size(m.stack_peak),
                size(m.stack_size),
                size(m.heap_used),
                size(m.heap_size)
            ));
        }
        if let Some(l) = &i.link {
            s.push_str(&format!(
                "\nlink      sent {}, {} queued of {}; dropped {} frames ({}); {} stalls, {} reattaches",
                size(l.sent_bytes),
                size(l.queued_bytes),
                size(l.queue_bytes),
                l.dropped_frames,
                size(l.dropped_bytes),
                l.stalls,
                l.reattaches
            ));
        }
        s
    }
}

fn run(s: &mut Session, _: Args) -> Result<Info, ShellError> {
    s.call(req::Info {}).map(Info)
}

super::command!("info", Query, Args, run);
