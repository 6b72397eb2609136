use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{PackageInfo, Request, Response};

use crate::output::{Human, size};
use crate::session::{Session, ShellError, unexpected};

/// Resolves a package by name or hash (counted as a cache hit or miss).
#[derive(Parser)]
pub struct Args {
    /// Name or SHA-256.
    name: String,
}

#[derive(Serialize)]
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
    match s.call(Request::Resolve { name: a.name })? {
        Response::Resolved(p) => Ok(Resolved(p)),
        r => Err(unexpected(r)),
    }
}

super::command!("pkg resolve", Args, run);
