use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Revokes a process's capability and every copy delegated from it.
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
    /// Handle (decimal or 0x-hex) or capability name.
    cap: String,
}

/// A capability was revoked.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Revoked {
    /// The process, as named.
    pub process: String,
    /// The handle revoked.
    pub handle: i32,
}

impl Human for Revoked {
    fn human(&self) -> String {
        let who = if self.process.bytes().all(|b| b.is_ascii_digit()) { format!("pid {}", self.process) } else { format!("`{}`", self.process) };
        format!("revoked {:#x} of {who}", self.handle)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Revoked, ShellError> {
    let process: tidemark_protocol::ProcRef = a.process.as_str().into();
    let handle = match a.cap.strip_prefix("0x").map(|h| i32::from_str_radix(h, 16)).unwrap_or_else(|| a.cap.parse()) {
        Ok(h) => h,
        Err(_) => s
            .call(req::Caps { process: process.clone() })?
            .iter()
            .find(|c| c.name == a.cap)
            .map(|c| c.handle)
            .ok_or_else(|| ShellError::Usage(format!("{process} holds no capability `{}`", a.cap)))?,
    };
    s.call(req::Revoke { process, handle })?;
    Ok(Revoked { process: a.process, handle })
}

super::command!("revoke", Mutation, Args, run);
