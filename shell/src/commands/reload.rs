use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{ReloadTiming, req};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Hot-reloads a process with a package, keeping its pid, capabilities and channels.
///
/// The new module is instantiated first; only if that works is the old
/// instance stopped at its next safe point and replaced (its state handed
/// over when it exports `tidemark_save`). Otherwise the old one keeps running.
/// The new one is then on trial: if it traps or fails before it serves, the
/// old module is put back with its state, and the reload is reported failed.
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
    /// Package name or SHA-256 in the cache.
    package: String,
}

/// A process now runs another module.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Reloaded {
    /// Its pid (unchanged).
    pub pid: u32,
    /// The package asked for.
    pub package: String,
    /// SHA-256 of the module now running.
    pub hash: String,
    /// How long each step took.
    pub timing: ReloadTiming,
}

impl Human for Reloaded {
    fn human(&self) -> String {
        format!(
            "pid {} now runs {} (sha256:{}): prepared in {:.1} ms, swapped in {:.2} ms",
            self.pid,
            self.package,
            &self.hash[..16.min(self.hash.len())],
            self.timing.prepare_ns as f64 / 1e6,
            self.timing.swap_ns as f64 / 1e6
        )
    }
}

fn run(s: &mut Session, a: Args) -> Result<Reloaded, ShellError> {
    let r = s.call(req::Reload { process: a.process.as_str().into(), package: a.package.clone() })?;
    Ok(Reloaded { pid: r.pid, package: a.package, hash: r.hash, timing: r.timing })
}

super::command!("reload", Mutation, Args, run);
