use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Makes a board's kernel panic on purpose, to see what a postmortem shows:
/// its last words (the kernel's dump, which `--dump-on-trap DIR` writes) or,
/// on the ESP32-C6, the dump kept across the reset for `dump --crash`.
/// Every guest stops with it. Refused on hosted (the kernel is the
/// workbench's own process).
#[derive(Parser)]
pub struct Args {
    /// Said in the panic.
    #[arg(default_value = "on purpose")]
    message: String,
    /// Yes: stop this kernel and every guest on it.
    #[arg(long)]
    yes: bool,
}

/// The kernel panicked.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Panicked {
    /// What it said, as its dump's reason (none when no dump arrived).
    pub reason: Option<String>,
    /// What happened to the link.
    pub link: String,
}

impl Human for Panicked {
    fn human(&self) -> String {
        match &self.reason {
            Some(r) => format!("the kernel panicked ({r}); {}", self.link),
            None => format!("the kernel sent no last words; {}", self.link),
        }
    }
}

fn run(s: &mut Session, a: Args) -> Result<Panicked, ShellError> {
    if !a.yes {
        return Err(ShellError::Usage(
            "this stops the kernel and every guest on it: give --yes".into(),
        ));
    }
    match s.call(req::Panic { message: a.message }) {
        // A kernel that answers did not panic (it refused, or is not ours).
        Ok(()) => Err(ShellError::Usage(
            "the kernel answered instead of panicking".into(),
        )),
        Err(ShellError::Kernel(e)) => Err(ShellError::Kernel(e)),
        Err(e) => Ok(Panicked {
            reason: s.client.panic_dump.as_ref().map(|d| d.reason.clone()),
            link: e.to_string(),
        }),
    }
}

super::command!("panic", Mutation, Args, run);
