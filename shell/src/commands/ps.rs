use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{ProcessInfo, Request, Response};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError, unexpected};

/// Lists processes.
#[derive(Parser)]
pub struct Args {
    /// Include processes that have ended.
    #[arg(short, long)]
    all: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
pub struct Ps(Vec<ProcessInfo>);

impl Human for Ps {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|p| {
                vec![
                    p.pid.to_string(),
                    p.name.clone(),
                    p.state.clone(),
                    p.caps.to_string(),
                    size(p.memory),
                    p.hostcalls.to_string(),
                    format!("{}/{}", p.frames_in, p.frames_out),
                    p.detail.clone(),
                ]
            })
            .collect();
        table(&["PID", "NAME", "STATE", "CAPS", "MEM", "CALLS", "IN/OUT", "DETAIL"], &rows)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Ps, ShellError> {
    match s.call(Request::Ps)? {
        Response::Ps(p) => Ok(Ps(p.into_iter().filter(|p| a.all || !matches!(p.state.as_str(), "exited" | "trapped" | "killed" | "failed")).collect())),
        r => Err(unexpected(r)),
    }
}

super::command!("ps", Args, run);
