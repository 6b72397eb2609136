//! A shell session: the client, output mode and interruption flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tidemark_protocol::{Endpoint, ErrorReply};

use crate::client::{CallError, Client, ClientError};

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
    /// The kernel answered another request's reply (a protocol bug).
    #[error("protocol: {0}")]
    Protocol(String),
    /// A system service answered with an error.
    #[error("{0}: {1}")]
    Service(&'static str, tidemark_svc::SvcError),
}

impl From<CallError> for ShellError {
    fn from(e: CallError) -> ShellError {
        match e {
            CallError::Link(e) => ShellError::Client(e),
            CallError::Kernel(e) => ShellError::Kernel(e),
            e @ CallError::Unexpected { .. } => ShellError::Protocol(e.to_string()),
        }
    }
}

/// A failure as `--json` prints it: `{"error": {"kind", "code", "message"}}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct JsonError {
    /// The error.
    pub error: ErrorBody,
}

/// The fields of a [`JsonError`].
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// `usage`, `unknown_command`, `link`, `protocol`, or the kernel's kind
    /// (`refused`, `not_found`, `module`, `reload`, ...).
    pub kind: String,
    /// The ABI error name (`NotFound`, `Closed`, ...), when the kernel gave one.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl ShellError {
    /// The error as `--json` prints it.
    pub fn json(&self) -> JsonError {
        let (kind, code) = match self {
            ShellError::Usage(_) => ("usage".to_string(), None),
            ShellError::Client(_) => ("link".to_string(), None),
            ShellError::Kernel(e) => (
                e.kind.name().to_string(),
                e.code.map(|c| c.name().to_string()),
            ),
            ShellError::UnknownCommand(_) => ("unknown_command".to_string(), None),
            ShellError::Protocol(_) => ("protocol".to_string(), None),
            ShellError::Service(_, e) => (
                "service".to_string(),
                Some(crate::services::error_code(e).to_string()),
            ),
        };
        JsonError {
            error: ErrorBody {
                kind,
                code,
                message: self.to_string(),
            },
        }
    }
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
    /// The package server's client, for fetches a board's kernel asks of
    /// the workbench ([`crate::fetch`]).
    pub fetcher: tidemark_fetch::Fetcher,
    /// The last request id this session gave a service.
    pub service_id: u32,
    /// The capability graph at the last `caps graph`, for traffic and `--diff`.
    pub last_graph: Option<crate::graph::CapGraph>,
    /// Where to write the kernel's crash dump when a process traps.
    pub dump_on_trap: Option<std::path::PathBuf>,
    /// Ways to read what the board's display device shows, where the
    /// workbench booted the board (`screenshot --scanout`), preferred first.
    pub scanouts: Vec<Scanout>,
}

/// A way to read what a board's display device shows.
pub struct Scanout {
    /// How: `qmp` (QEMU's `screendump`), `dbus` (QEMU's D-Bus display).
    pub via: &'static str,
    /// Reads it.
    pub read: Box<dyn FnMut() -> Result<crate::picture::Picture, String> + Send>,
}

impl Session {
    /// A session over an attached client.
    pub fn new(client: Client) -> Session {
        Session {
            client,
            interrupted: Arc::new(AtomicBool::new(false)),
            interactive: false,
            deadline: None,
            fetcher: tidemark_fetch::Fetcher::default(),
            service_id: crate::services::first_id(),
            last_graph: None,
            dump_on_trap: None,
            scanouts: Vec::new(),
        }
    }

    /// Sends a typed request; a kernel error becomes `ShellError::Kernel`.
    /// Fetches the kernel asked for meanwhile are served after it.
    pub fn call<E: Endpoint>(&mut self, r: E) -> Result<E::Reply, ShellError> {
        let reply = self.client.call(r).map_err(ShellError::from);
        self.serve_fetches()?;
        reply
    }

    /// Serves the fetches a board's kernel asked for (none on a kernel
    /// that fetches itself).
    pub fn serve_fetches(&mut self) -> Result<(), ShellError> {
        crate::fetch::serve(&mut self.client, &self.fetcher)?;
        Ok(())
    }

    /// With `dump_on_trap` set, writes the dump the kernel took at the
    /// latest trap seen since the last call ([`save_crash_dump`]), and the
    /// dump a kernel sent as it panicked; returns what to tell the user.
    pub fn save_crash_dumps(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(d) = self.client.panic_dump.take() {
            out.push(match &self.dump_on_trap {
                Some(dir) => write_dump(&d, dir, "panic"),
                None => "its dump arrived; give --dump-on-trap DIR to keep it".into(),
            });
        }
        if let Some(dir) = self.dump_on_trap.clone() {
            out.extend(save_crash_dump(&mut self.client, &dir));
        }
        out
    }

    /// Whether Ctrl-C was pressed since the last check (clears the flag).
    pub fn take_interrupt(&self) -> bool {
        self.interrupted.swap(false, Ordering::AcqRel)
    }
}

/// When `client` has seen a process trap since the last call, fetches the
/// dump the kernel took at the latest trap and writes it to `dir` as
/// `BOARD-trap-UPTIMEms.tmdump` (its reason names the process); says what
/// happened.
pub fn save_crash_dump(client: &mut Client, dir: &std::path::Path) -> Option<String> {
    let pid = client.trapped.drain(..).last()?;
    let d = match client.call(tidemark_protocol::req::Dump {
        events: true,
        crash: true,
        memories: false,
    }) {
        Ok(d) => d,
        Err(e) => return Some(format!("pid {pid} trapped; its dump could not be fetched: {e}")),
    };
    Some(write_dump(&d, dir, "trap"))
}

/// Writes `d` to `dir` as `BOARD-WHAT-UPTIMEms.tmdump`; says where.
fn write_dump(d: &tidemark_protocol::KernelDump, dir: &std::path::Path, what: &str) -> String {
    let file = dir.join(format!(
        "{}-{what}-{}ms.tmdump",
        d.info.board,
        d.info.uptime_ns / 1_000_000
    ));
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&file, tidemark_protocol::dump_to_bytes(d)));
    match written {
        Ok(()) => format!("{}; dump written to {}", d.reason, file.display()),
        Err(e) => format!("{}; cannot write {}: {e}", d.reason, file.display()),
    }
}
