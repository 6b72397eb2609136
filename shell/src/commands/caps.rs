use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{CapInfo, req};

use crate::output::{Human, table};
use crate::session::{Session, ShellError};

/// Lists a process's capabilities (handle, object, rights, delegation).
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Caps(Vec<CapInfo>);

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
                    c.object.to_string(),
                    c.rights.to_string(),
                    c.parent.map_or("-".into(), |(p, h)| format!("pid {p} {h:#x}")),
                    c.children.to_string(),
                ]
            })
            .collect();
        table(&["HANDLE", "SLOT.GEN", "NAME", "OBJECT", "RIGHTS", "FROM", "COPIES"], &rows)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Caps, ShellError> {
    s.call(req::Caps { process: a.process.as_str().into() }).map(Caps)
}

super::command!("caps", Query, Args, run);
