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
        Response::Reloaded { pid, hash, timing } => Ok(Message {
            text: format!(
                "pid {pid} now runs {} (sha256:{}): prepared in {:.1} ms, swapped in {:.2} ms",
                a.package,
                &hash[..16],
                timing.prepare_ns as f64 / 1e6,
                timing.swap_ns as f64 / 1e6
            ),
            json: json!({ "pid": pid, "package": a.package, "hash": hash, "prepare_ns": timing.prepare_ns, "swap_ns": timing.swap_ns }),
        }),
        r => Err(unexpected(r)),
    }
}

super::command!("reload", Args, run);
