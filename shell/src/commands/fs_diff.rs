use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::fs::{Answer, Change, ChangeKind, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Lists what the upper layer changed against the boot image: added (`+`),
/// modified (`~`) and removed (`-`) paths.
#[derive(Parser)]
pub struct Args {}

/// The upper layer's changes.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Diff {
    /// By path.
    pub changes: Vec<Change>,
}

impl Human for Diff {
    fn human(&self) -> String {
        if self.changes.is_empty() {
            return "(no changes)".into();
        }
        self.changes
            .iter()
            .map(|c| {
                let mark = match c.kind {
                    ChangeKind::Added => '+',
                    ChangeKind::Modified => '~',
                    ChangeKind::Removed => '-',
                };
                let slash = if c.entry == tidemark_svc::fs::Kind::Dir { "/" } else { "" };
                format!("{mark} {}{slash}", c.path)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn run(s: &mut Session, _: Args) -> Result<Diff, ShellError> {
    match crate::services::call(s, Service::Fs, &Request::Diff)? {
        Answer::Changes(changes) => Ok(Diff { changes }),
        other => Err(ShellError::Protocol(format!("vfs answered {other:?} to a diff"))),
    }
}

super::command!("fs diff", Query, Args, run);
