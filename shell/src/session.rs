//! A shell session: the client, output mode and interruption flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidemark_monitor::{ChannelInfo, ErrorReply, Request, Response};

use crate::client::{Client, ClientError};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// Bad command line (clap's message, or ours).
    #[error("{0}")]
    Usage(String),
    /// The link failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The kernel refused.
    #[error("{}", .0.message)]
    Kernel(ErrorReply),
    /// No such command.
    #[error("unknown command `{0}` (try `help`)")]
    UnknownCommand(String),
}

/// State shared by the commands of one session.
pub struct Session {
    /// The monitor client.
    pub client: Client,
    /// Set by Ctrl-C; long-running commands (tail) stop when they see it.
    pub interrupted: Arc<AtomicBool>,
    /// Whether `tail` may run until interrupted (interactive) or must stop.
    pub interactive: bool,
    /// When a script's `expect` re-runs a command, the time its `within`
    /// runs out: waiting commands (tail) stop there, not later.
    pub deadline: Option<std::time::Instant>,
}

impl Session {
    /// A session over an attached client.
    pub fn new(client: Client) -> Session {
        Session { client, interrupted: Arc::new(AtomicBool::new(false)), interactive: false, deadline: None }
    }

    /// Sends a request; a kernel error becomes `ShellError::Kernel`.
    pub fn call(&mut self, req: Request) -> Result<Response, ShellError> {
        match self.client.request(req)? {
            Response::Error(e) => Err(ShellError::Kernel(e)),
            r => Ok(r),
        }
    }

    /// Whether Ctrl-C was pressed since the last check (clears the flag).
    pub fn take_interrupt(&self) -> bool {
        self.interrupted.swap(false, Ordering::AcqRel)
    }

    /// Every channel.
    pub fn channels(&mut self) -> Result<Vec<ChannelInfo>, ShellError> {
        match self.call(Request::Channels)? {
            Response::Channels(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// A channel by id or name.
    pub fn channel(&mut self, which: &str) -> Result<ChannelInfo, ShellError> {
        let chans = self.channels()?;
        let found = match which.parse::<u32>() {
            Ok(id) => chans.into_iter().find(|c| c.id == id),
            Err(_) => chans.into_iter().find(|c| c.name == which),
        };
        found.ok_or_else(|| ShellError::Usage(format!("no channel `{which}`")))
    }
}

/// A response of the wrong kind (a protocol bug, reported rather than panicking).
pub fn unexpected(r: Response) -> ShellError {
    ShellError::Usage(format!("unexpected answer from the kernel: {r:?}"))
}
