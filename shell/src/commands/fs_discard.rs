use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::fs::{Answer, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Drops the upper layer: every write since boot (or the last commit) is
/// gone and the boot image shows again, exactly.
#[derive(Parser)]
pub struct Args {}

/// What was dropped.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Discarded {
    /// Changes dropped.
    pub changes: u32,
}

impl Human for Discarded {
    fn human(&self) -> String {
        format!("discarded {} changes", self.changes)
    }
}

fn run(s: &mut Session, _: Args) -> Result<Discarded, ShellError> {
    match crate::services::call(s, Service::Fs, &Request::Discard)? {
        Answer::Discarded(changes) => Ok(Discarded { changes }),
        other => Err(ShellError::Protocol(format!("vfs answered {other:?} to a discard"))),
    }
}

super::command!("fs discard", Mutation, Args, run);
