use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Kills a process (it traps at its next safe point).
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
    /// Kill its live descendants too.
    #[arg(long)]
    tree: bool,
}

/// A process was killed.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Killed {
    /// Its pid.
    pub killed: u32,
}

impl Human for Killed {
    fn human(&self) -> String {
        format!("killed pid {}", self.killed)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Killed, ShellError> {
    s.call(req::Kill { process: a.process.as_str().into(), tree: a.tree }).map(|killed| Killed { killed })
}

super::command!("kill", Mutation, Args, run);
