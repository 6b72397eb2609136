use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Pins a package so it is never evicted (or unpins it).
#[derive(Parser)]
pub struct Args {
    /// Package name.
    name: String,
    /// Remove the pin instead.
    #[arg(long)]
    unpin: bool,
}

/// A package's pin changed.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Pinned {
    /// Package name.
    pub name: String,
    /// Pinned now.
    pub pinned: bool,
}

impl Human for Pinned {
    fn human(&self) -> String {
        format!("{} {}", if self.pinned { "pinned" } else { "unpinned" }, self.name)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Pinned, ShellError> {
    s.call(req::Pin { name: a.name.clone(), pinned: !a.unpin })?;
    Ok(Pinned { name: a.name, pinned: !a.unpin })
}

super::command!("pkg pin", Mutation, Args, run);
