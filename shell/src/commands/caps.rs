use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{CapRow, Request, Response};

use crate::output::{Human, table};
use crate::session::{Session, ShellError, unexpected};

/// Lists a process's capabilities (handle, object, rights, delegation).
#[derive(Parser)]
pub struct Args {
    /// Process id.
    pid: u32,
}

#[derive(Serialize)]
#[serde(transparent)]
pub struct Caps(Vec<CapRow>);

impl Human for Caps {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|c| {
                vec![
                    format!("{:#x}", c.handle),
                    format!("{}.{}", c.index, c.generation),
                    c.name.clone(),
                    format!("{} {}", c.kind, c.object),
                    c.rights.clone(),
                    c.parent.map_or("-".into(), |(p, h)| format!("pid {p} {h:#x}")),
                    c.children.to_string(),
                ]
            })
            .collect();
        table(&["HANDLE", "SLOT.GEN", "NAME", "OBJECT", "RIGHTS", "FROM", "COPIES"], &rows)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Caps, ShellError> {
    match s.call(Request::Caps { pid: a.pid })? {
        Response::Caps(c) => Ok(Caps(c)),
        r => Err(unexpected(r)),
    }
}

super::command!("caps", Args, run);
