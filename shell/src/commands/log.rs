use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{Event, EventKind, req};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Shows guest log lines (and, with --events, exits, traps, denials, corruption).
#[derive(Parser)]
pub struct Args {
    /// Only this process.
    pid: Option<u32>,
    /// Include every event, not only log lines.
    #[arg(short, long)]
    events: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Log(Vec<Event>);

/// One event as a line (also what `expect event` matches against).
pub fn event_line(e: &Event) -> String {
    let t = e.time_ns as f64 / 1e9;
    let pid = e.kind.pid();
    match &e.kind {
        EventKind::Log { level, text, .. } => format!("[{t:>10.6}] pid {pid:<3} {:<5} {text}", level.name()),
        k => format!("[{t:>10.6}] pid {pid:<3} {} {}", k.name(), k.text()).trim_end().to_string(),
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
    let evs = s.call(req::Events { after: 0 })?;
    Ok(Log(evs.into_iter().filter(|e| (a.events || matches!(e.kind, EventKind::Log { .. })) && a.pid.is_none_or(|p| e.kind.pid() == p)).collect()))
}

super::command!("log", Query, Args, run);
