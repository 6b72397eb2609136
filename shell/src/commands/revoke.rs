use clap::Parser;
use serde_json::json;
use tidemark_monitor::{Request, Response};

use crate::output::Message;
use crate::session::{Session, ShellError, unexpected};

/// Revokes a process's capability and every copy delegated from it.
#[derive(Parser)]
pub struct Args {
    /// Process id.
    pid: u32,
    /// Handle (decimal or 0x-hex) or capability name.
    cap: String,
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    let handle = match a.cap.strip_prefix("0x").map(|h| i32::from_str_radix(h, 16)).unwrap_or_else(|| a.cap.parse()) {
        Ok(h) => h,
        Err(_) => match s.call(Request::Caps { pid: a.pid })? {
            Response::Caps(caps) => caps
                .iter()
                .find(|c| c.name == a.cap)
                .map(|c| c.handle)
                .ok_or_else(|| ShellError::Usage(format!("pid {} holds no capability `{}`", a.pid, a.cap)))?,
            r => return Err(unexpected(r)),
        },
    };
    s.call(Request::Revoke { pid: a.pid, handle })?;
    Ok(Message { text: format!("revoked {handle:#x} of pid {}", a.pid), json: json!({ "pid": a.pid, "handle": handle }) })
}

super::command!("revoke", Args, run);
