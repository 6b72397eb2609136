use clap::Parser;
use serde_json::json;
use tidemark_monitor::{Request, Response};

use crate::output::Message;
use crate::session::{Session, ShellError, unexpected};

/// Hot-reloads a process with a package, keeping its pid, capabilities and channels.
///
/// The new module is instantiated first; only if that works is the old
/// instance stopped at its next safe point and replaced (its state handed
/// over when it exports `tidemark_save`). Otherwise the old one keeps running.
#[derive(Parser)]
pub struct Args {
    /// Process id.
    pid: u32,
    /// Package name or SHA-256 in the cache.
    package: String,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    match s.call(Request::Reload { pid: a.pid, package: a.package.clone() })? {
        Response::Reloaded { pid, hash, swap_ns } => Ok(Message {
            text: format!("pid {pid} now runs {} (sha256:{}) after a {:.1} ms swap", a.package, &hash[..16], swap_ns as f64 / 1e6),
            json: json!({ "pid": pid, "package": a.package, "hash": hash, "swap_ns": swap_ns }),
        }),
        r => Err(unexpected(r)),
    }
}

super::command!("reload", Args, run);
