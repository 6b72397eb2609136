use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Grants a process a capability on a channel (or, as `display`, the
/// board's framebuffer).
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
    /// NAME=CHANNEL[:RIGHTS] (rights from `rwgd`, default `rw`); CHANNEL
    /// `display` is the board's framebuffer.
    spec: String,
}

/// A capability was granted.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Granted {
    /// The process, as named.
    pub process: String,
    /// The capability's name.
    pub name: String,
    /// Its handle in the process's table.
    pub handle: i32,
}

impl Human for Granted {
    fn human(&self) -> String {
        let who = if self.process.bytes().all(|b| b.is_ascii_digit()) { format!("pid {}", self.process) } else { format!("`{}`", self.process) };
        format!("granted `{}` to {who} as handle {:#x}", self.name, self.handle)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Granted, ShellError> {
    let g = super::spawn::grant_spec(&a.spec)?;
    let handle = s.call(req::Grant { process: a.process.as_str().into(), name: g.name.clone(), object: g.object, rights: g.rights })?;
    Ok(Granted { process: a.process, name: g.name, handle })
}

super::command!("grant", Mutation, Args, run);
