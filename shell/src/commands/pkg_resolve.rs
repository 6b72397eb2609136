use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{PackageInfo, req};

use crate::output::{Human, size};
use crate::session::{Session, ShellError};

/// Resolves a package by name or hash (counted as a cache hit or miss).
#[derive(Parser)]
pub struct Args {
    /// Name or SHA-256.
    name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Resolved(PackageInfo);

/// `NAME sha256:HASH SIZE [pinned]`.
pub fn package_line(p: &PackageInfo) -> String {
    format!("{} sha256:{} {}{}", p.name, p.hash, size(p.size), if p.pinned { " pinned" } else { "" })
}

impl Human for Resolved {
    fn human(&self) -> String {
        package_line(&self.0)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Resolved, ShellError> {
    s.call(req::Resolve { name: a.name }).map(Resolved)
}

super::command!("pkg resolve", Mutation, Args, run);
