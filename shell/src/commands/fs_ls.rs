use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::fs::{Answer, Entry, Kind, Layer, Request};

use crate::output::{Human, table};
use crate::session::{Session, ShellError};

/// Lists a directory of vfs (from the root; the monitor's connection
/// reaches all of it), each entry with its size and the layer it comes
/// from (`lower`: the boot image, `upper`: this session's writes).
#[derive(Parser)]
pub struct Args {
    /// Directory.
    #[arg(default_value = "/")]
    path: String,
}

/// A directory's entries.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Listing {
    /// The directory.
    pub path: String,
    /// Its entries, by name.
    pub entries: Vec<Entry>,
}

impl Human for Listing {
    fn human(&self) -> String {
        if self.entries.is_empty() {
            return format!("{}: (empty)", self.path);
        }
        let rows: Vec<Vec<String>> = self
            .entries
            .iter()
            .map(|e| {
                let name = if e.kind == Kind::Dir { format!("{}/", e.name) } else { e.name.clone() };
                let layer = if e.layer == Layer::Upper { "upper" } else { "lower" };
                vec![name, e.size.to_string(), layer.into()]
            })
            .collect();
        table(&["NAME", "BYTES", "LAYER"], &rows)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Listing, ShellError> {
    match crate::services::call(s, Service::Fs, &Request::List(a.path.clone()))? {
        Answer::Entries(entries) => Ok(Listing { path: a.path, entries }),
        other => Err(ShellError::Protocol(format!("vfs answered {other:?} to a list"))),
    }
}

super::command!("fs ls", Query, Args, run);
