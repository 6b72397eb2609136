use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{Returned, recording_to_bytes, req};

use crate::output::{Human, size};
use crate::session::{Session, ShellError};

/// Writes what a process spawned with `spawn --record` has done so far
/// (every hostcall, its arguments, what it returned and the bytes it
/// wrote into the guest, with the module) to a file, for `tidemark replay`
/// to run the module again alone.
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
    /// File to write.
    #[arg(default_value = "tidemark.tmrec")]
    file: PathBuf,
}

/// What was written.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Recorded {
    /// The file.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The process.
    pub pid: u32,
    /// Its package.
    pub package: String,
    /// Hostcalls recorded.
    pub calls: usize,
    /// Of those, the ones that parked it.
    pub parks: usize,
    /// Bytes the kernel wrote into the guest across them.
    pub written: u64,
    /// Whether the process had ended.
    pub ended: bool,
    /// Why recording stopped early, if it did.
    pub stopped: Option<String>,
}

impl Human for Recorded {
    fn human(&self) -> String {
        let mut out = format!(
            "wrote {} ({}): pid {} {}, {} calls ({} parked), {} written into the guest{}",
            self.file.display(),
            size(self.bytes),
            self.pid,
            self.package,
            self.calls,
            self.parks,
            size(self.written),
            if self.ended {
                ", ended"
            } else {
                ", still running"
            }
        );
        if let Some(why) = &self.stopped {
            out.push_str(&format!("\nrecording stopped early: {why}"));
        }
        out
    }
}

fn run(s: &mut Session, a: Args) -> Result<Recorded, ShellError> {
    let r = s.call(req::Recorded {
        process: a.process.as_str().into(),
    })?;
    let bytes = recording_to_bytes(&r);
    crate::output::write_file(&a.file, &bytes).map_err(ShellError::Usage)?;
    Ok(Recorded {
        file: a.file,
        bytes: bytes.len() as u64,
        pid: r.pid,
        package: r.package,
        calls: r.calls.len(),
        parks: r
            .calls
            .iter()
            .filter(|c| matches!(c.returned, Returned::Parked(_)))
            .count(),
        written: r
            .calls
            .iter()
            .flat_map(|c| &c.writes)
            .map(|w| w.bytes.len() as u64)
            .sum(),
        ended: r.ended,
        stopped: r.stopped,
    })
}

super::command!("record", Query, Args, run);
