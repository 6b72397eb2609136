use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::fs::{Answer, MAX_IO, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Prints a file of vfs.
#[derive(Parser)]
pub struct Args {
    /// The file.
    path: String,
    /// Most bytes to read.
    #[arg(long, default_value_t = 65536)]
    max: u64,
}

/// A file's contents.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Contents {
    /// The file.
    pub path: String,
    /// Its bytes (up to --max).
    pub data: Vec<u8>,
    /// The bytes as text, when they are UTF-8.
    pub text: Option<String>,
}

impl Human for Contents {
    fn human(&self) -> String {
        match &self.text {
            Some(t) => t.trim_end_matches('\n').to_string(),
            None => crate::output::show_bytes(&self.data),
        }
    }
}

/// Reads up to `max` bytes of `path`, in pieces a frame carries.
pub fn read(s: &mut Session, path: &str, max: u64) -> Result<Vec<u8>, ShellError> {
    let mut data = Vec::new();
    while (data.len() as u64) < max {
        let len = (max - data.len() as u64).min(MAX_IO as u64) as u32;
        match crate::services::call(s, Service::Fs, &Request::Get { path: path.into(), offset: data.len() as u64, len })? {
            Answer::Data(d) if d.is_empty() => break,
            Answer::Data(d) => data.extend_from_slice(&d),
            other => return Err(ShellError::Protocol(format!("vfs answered {other:?} to a read"))),
        }
    }
    Ok(data)
}

fn run(s: &mut Session, a: Args) -> Result<Contents, ShellError> {
    let data = read(s, &a.path, a.max)?;
    Ok(Contents { text: String::from_utf8(data.clone()).ok(), path: a.path, data })
}

super::command!("fs cat", Query, Args, run);
