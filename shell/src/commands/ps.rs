use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{ProcState, ProcessInfo, req};

use crate::output::{Human, PROCESS_HEAD, process_row, size, table};
use crate::session::{Session, ShellError};

/// Lists processes (or, with --detail, everything about one).
#[derive(Parser)]
pub struct Args {
    /// Include processes that have ended.
    #[arg(short, long)]
    all: bool,
    /// One process in full (pid or name): counters, classes, and how it
    /// ended with the engine's whole report (a trap's backtrace).
    #[arg(long, value_name = "PROCESS")]
    detail: Option<String>,
}

/// The process table, or one process in full.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Ps {
    /// Every (live) process.
    Table(Vec<ProcessInfo>),
    /// One process.
    Detail(ProcessInfo),
}

fn detail(p: &ProcessInfo) -> String {
    let classes: Vec<&str> = p.classes.iter().map(|c| c.name()).collect();
    let mut out = format!(
        "pid       {}\nname      {}\npackage   {} sha256:{}\nstate     {} {}\nparent    {}\nclasses   {}\ncaps      {}\nmemory    {} of {}\nreloads   {}\nhostcalls {} ({} denied, {} parks)\nframes    {} in, {} out",
        p.pid,
        p.name,
        p.package,
        p.hash,
        p.state.name(),
        p.state.detail(),
        p.parent,
        classes.join(" "),
        p.caps,
        size(p.memory),
        size(p.memory_limit),
        p.reloads,
        p.counters.hostcalls,
        p.counters.denials,
        p.counters.parks,
        p.counters.frames_in,
        p.counters.frames_out,
    );
    if let ProcState::Ended(tidemark_protocol::Exit::Trap(t)) = &p.state {
        if let Some(b) = &t.backtrace {
            out.push_str("\ntrap report:\n");
            out.push_str(b.trim_end());
        }
    }
    if let ProcState::Ended(tidemark_protocol::Exit::Failed(m)) = &p.state {
        out.push_str("\nfailure:\n");
        out.push_str(m.trim_end());
    }
    out
}

impl Human for Ps {
    fn human(&self) -> String {
        let ps = match self {
            Ps::Detail(p) => return detail(p),
            Ps::Table(ps) => ps,
        };
        let rows: Vec<Vec<String>> = ps.iter().map(process_row).collect();
        table(&PROCESS_HEAD, &rows)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Ps, ShellError> {
    if let Some(p) = a.detail {
        return s.call(req::Process { process: p.as_str().into() }).map(Ps::Detail);
    }
    let ps = s.call(req::Ps {})?;
    Ok(Ps::Table(ps.into_iter().filter(|p| a.all || p.state.is_live()).collect()))
}

super::command!("ps", Query, Args, run);
