use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use tidemark_abi::Error;
use tidemark_protocol::{ErrorReply, EventKind, PackageInfo, Resolution, req};

use crate::output::{Human, size};
use crate::session::{Session, ShellError};

/// Resolves a package by name or hash (a cache hit or miss); a miss the
/// signed catalog lists is fetched from the package server, verified and
/// cached first.
#[derive(Parser)]
pub struct Args {
    /// Name or SHA-256.
    name: String,
}

/// What resolved, and whether it was fetched for this.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Resolved {
    /// The cached package.
    pub package: PackageInfo,
    /// Fetched from the package server (a miss), not already cached (a hit).
    pub fetched: bool,
}

/// `NAME sha256:HASH SIZE [pinned]`.
pub fn package_line(p: &PackageInfo) -> String {
    format!("{} sha256:{} {}{}", p.name, p.hash, size(p.size), if p.pinned { " pinned" } else { "" })
}

impl Human for Resolved {
    fn human(&self) -> String {
        let how = if self.fetched { " (fetched, verified)" } else { "" };
        format!("{}{how}", package_line(&self.package))
    }
}

/// Waits for the kernel's verdict on fetching `hash`.
pub fn await_install(s: &mut Session, name: &str, hash: &str) -> Result<PackageInfo, ShellError> {
    let within = s.fetcher.timeout() + Duration::from_secs(5);
    let fetcher = s.fetcher.clone();
    let outcome = crate::fetch::await_outcome(&mut s.client, &fetcher, within, |k| match k {
        EventKind::PackageInstalled { hash: h, .. } | EventKind::PackageRejected { hash: h, .. } => h == hash,
        _ => false,
    })?;
    match outcome {
        Some(EventKind::PackageInstalled { .. }) => {
            let cache = s.call(req::Packages {})?;
            cache
                .packages
                .into_iter()
                .find(|p| p.hash == hash)
                .ok_or_else(|| ShellError::Kernel(ErrorReply::abi(Error::NotFound, format!("`{name}` was installed and evicted at once"))))
        }
        Some(EventKind::PackageRejected { reason, .. }) => Err(ShellError::Kernel(ErrorReply::abi(Error::Unavailable, reason))),
        _ => Err(ShellError::Kernel(ErrorReply::abi(
            Error::Unavailable,
            format!("`{name}`: no verdict on its fetch within {within:?}"),
        ))),
    }
}

fn run(s: &mut Session, a: Args) -> Result<Resolved, ShellError> {
    s.client.packages.clear_outcomes();
    match s.call(req::Resolve { name: a.name })? {
        Resolution::Cached(package) => Ok(Resolved { package, fetched: false }),
        Resolution::Fetching { name, hash, .. } => {
            let package = await_install(s, &name, &hash)?;
            Ok(Resolved { package, fetched: true })
        }
    }
}

super::command!("pkg resolve", Mutation, Args, run);
