use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::fs::{Answer, MAX_IO, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Writes a file of vfs (created if missing, with the directories above
/// it; replaced unless --append). The write lands in the upper layer: `fs diff` lists it, `fs discard`
/// drops it.
#[derive(Parser)]
pub struct Args {
    /// The file.
    path: String,
    /// Its contents (text, or hex with --hex).
    data: String,
    /// DATA is hex digits.
    #[arg(long)]
    hex: bool,
    /// Append instead of replacing.
    #[arg(long)]
    append: bool,
}

/// What was written.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Put {
    /// The file.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
}

impl Human for Put {
    fn human(&self) -> String {
        format!("wrote {} bytes to {}", self.bytes, self.path)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Put, ShellError> {
    let data = if a.hex { crate::output::parse_hex(&a.data).map_err(ShellError::Usage)? } else { a.data.into_bytes() };
    let levels: Vec<&str> = a.path.trim_start_matches('/').split('/').collect();
    for depth in 1..levels.len() {
        let dir = format!("/{}", levels[..depth].join("/"));
        match crate::services::call::<_, Answer>(s, Service::Fs, &Request::Mkdir(dir)) {
            Ok(_) | Err(ShellError::Service(_, tidemark_svc::SvcError::Exists(_))) => {}
            Err(e) => return Err(e),
        }
    }
    let mut bytes = 0u64;
    let mut pieces = data.chunks(MAX_IO).peekable();
    let mut append = a.append;
    // An empty file is still written (created or cut).
    let first: &[u8] = &[];
    let mut next = pieces.next().or(Some(first));
    while let Some(piece) = next {
        match crate::services::call(s, Service::Fs, &Request::Put { path: a.path.clone(), data: piece.to_vec(), append })? {
            Answer::Written(n) => bytes += u64::from(n),
            other => return Err(ShellError::Protocol(format!("vfs answered {other:?} to a write"))),
        }
        append = true;
        next = pieces.next();
    }
    Ok(Put { path: a.path, bytes })
}

super::command!("fs put", Mutation, Args, run);
