use clap::Parser;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};
use crate::waits::{Waiting, Waits, Why, seconds};

/// Explains what a process waits for, on whom, and why they wait in turn,
/// down to a process that can move, a channel nobody can write, or a
/// deadlock (a cycle of waits none can leave).
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
}

impl Human for Why {
    fn human(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.chain.iter().enumerate() {
            out.push_str(if i == 0 { "" } else { "  ↳ " });
            out.push_str(&l.text);
            match l.waits {
                Waits::Running | Waits::Starting | Waits::Ended { .. } => {}
                _ => out.push_str(&format!(" ({})", seconds(l.for_ns))),
            }
            out.push('\n');
        }
        out.push_str(&self.verdict);
        out
    }
}

fn run(s: &mut Session, a: Args) -> Result<Why, ShellError> {
    let dump = s.call(req::Dump {
        events: false,
        crash: false,
        memories: false,
    })?;
    let pid = crate::inspect::resolve_process(&dump, &a.process.as_str().into())
        .ok_or_else(|| ShellError::Usage(format!("no process `{}`", a.process)))?;
    Ok(Waiting::new(&dump)
        .why(pid)
        .expect("a resolved pid is in the dump"))
}

super::command!("why", Query, Args, run);
