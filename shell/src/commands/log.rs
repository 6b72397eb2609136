use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{EventRecord, Request, Response};

use crate::output::Human;
use crate::session::{Session, ShellError, unexpected};

/// Shows guest log lines (and, with --events, exits, traps, denials, corruption).
#[derive(Parser)]
pub struct Args {
    /// Only this process.
    pid: Option<u32>,
    /// Include every event, not only log lines.
    #[arg(short, long)]
    events: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
pub struct Log(Vec<EventRecord>);

/// One event as a line (also what `expect event` matches against).
pub fn event_line(e: &EventRecord) -> String {
    let t = e.time_ns as f64 / 1e9;
    match &e.level {
        Some(l) => format!("[{t:>10.6}] pid {:<3} {l:<5} {}", e.pid, e.text),
        None => format!("[{t:>10.6}] pid {:<3} {} {}", e.pid, e.kind, e.text).trim_end().to_string(),
    }
}

impl Human for Log {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "(no log lines)".into();
        }
        self.0.iter().map(event_line).collect::<Vec<_>>().join("\n")
    }
}

fn run(s: &mut Session, a: Args) -> Result<Log, ShellError> {
    match s.call(Request::Events { after: 0 })? {
        Response::Events(evs) => Ok(Log(
            evs.into_iter().filter(|e| (a.events || e.kind == "log") && a.pid.is_none_or(|p| e.pid == p)).collect(),
        )),
        r => Err(unexpected(r)),
    }
}

super::command!("log", Args, run);
