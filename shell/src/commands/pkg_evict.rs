use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Evicts a package from the cache (pinned packages must be unpinned first).
#[derive(Parser)]
pub struct Args {
    /// Package name.
    name: String,
}

/// A package left the cache.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Evicted {
    /// Its name.
    pub evicted: String,
}

impl Human for Evicted {
    fn human(&self) -> String {
        format!("evicted {}", self.evicted)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Evicted, ShellError> {
    s.call(req::Evict { name: a.name.clone() })?;
    Ok(Evicted { evicted: a.name })
}

super::command!("pkg evict", Mutation, Args, run);
