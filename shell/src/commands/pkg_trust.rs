use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Trusts catalogs signed by an Ed25519 public key (as a board manifest's
/// or Tidemark.toml's `[packages] keys` do at boot).
#[derive(Parser)]
pub struct Args {
    /// The public key, 64 hex digits (`tidemark pkg keygen` prints it).
    key: String,
}

/// A key now trusted.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Trusted {
    /// The key (hex).
    pub key: String,
}

impl Human for Trusted {
    fn human(&self) -> String {
        format!("trusted {}", self.key)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Trusted, ShellError> {
    s.call(req::Trust { key: a.key.clone() })?;
    Ok(Trusted { key: a.key })
}

super::command!("pkg trust", Mutation, Args, run);
