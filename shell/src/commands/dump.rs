use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{dump_to_bytes, req};

use crate::output::{Human, size};
use crate::session::{Session, ShellError};

/// Writes the kernel's whole inspectable state to a file (processes,
/// capability tables, channels and their cursors, arenas, the package
/// cache and catalog, and the events it still holds), for `tidemark
/// inspect` to read later with the same commands.
#[derive(Parser)]
pub struct Args {
    /// File to write.
    #[arg(default_value = "tidemark.tmdump")]
    file: PathBuf,
    /// Leave the events (and logs) out.
    #[arg(long)]
    no_events: bool,
    /// Write the dump the kernel took when a process last trapped (before
    /// its capabilities were released) instead of one taken now.
    #[arg(long)]
    crash: bool,
    /// Add every live process's linear memory (its non-zero pages), read
    /// just after the rest, for `peek` to read in `tidemark inspect`.
    #[arg(long, conflicts_with = "crash")]
    memories: bool,
}

/// What was written.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Dumped {
    /// The file.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Board it came from.
    pub board: String,
    /// Kernel uptime when taken (ns).
    pub uptime_ns: u64,
    /// Processes (ended ones included).
    pub processes: usize,
    /// Channels.
    pub channels: usize,
    /// Events.
    pub events: usize,
    /// Processes whose memory it holds.
    pub memories: usize,
    /// Why it was taken (`asked`, or the trap).
    pub reason: String,
}

impl Human for Dumped {
    fn human(&self) -> String {
        format!(
            "wrote {} ({}): {} at {:.3} s, {} processes, {} channels, {} events",
            self.file.display(),
            size(self.bytes),
            self.board,
            self.uptime_ns as f64 / 1e9,
            self.processes,
            self.channels,
            self.events
        ) + &if self.memories > 0 {
            format!(", {} memories", self.memories)
        } else {
            String::new()
        } + &if self.reason == "asked" {
            String::new()
        } else {
            format!("\ntaken when {}", self.reason)
        }
    }
}

fn run(s: &mut Session, a: Args) -> Result<Dumped, ShellError> {
    let d = s.call(req::Dump {
        events: !a.no_events,
        crash: a.crash,
        memories: a.memories,
    })?;
    let bytes = dump_to_bytes(&d);
    crate::output::write_file(&a.file, &bytes).map_err(ShellError::Usage)?;
    Ok(Dumped {
        file: a.file,
        bytes: bytes.len() as u64,
        board: d.info.board,
        uptime_ns: d.info.uptime_ns,
        processes: d.ps.len(),
        channels: d.channels.len(),
        events: d.events.len(),
        memories: d.memories.iter().filter(|m| m.missing.is_none()).count(),
        reason: d.reason,
    })
}

super::command!("dump", Query, Args, run);
