use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::fs::{Answer, MAX_IO, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Folds the upper layer into a new lower image; `--save FILE` writes that
/// image to the host, where `[services] image = "FILE"` (or `--image FILE`)
/// boots it again.
#[derive(Parser)]
pub struct Args {
    /// Write the new image here.
    #[arg(long)]
    save: Option<PathBuf>,
}

/// The new image.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Committed {
    /// Changes folded in.
    pub changes: u32,
    /// The image's size in bytes.
    pub bytes: u64,
    /// Where it was saved.
    pub saved: Option<String>,
}

impl Human for Committed {
    fn human(&self) -> String {
        let saved = self.saved.as_ref().map_or(String::new(), |p| format!(", saved to {p}"));
        format!("committed {} changes: a {}-byte image{saved}", self.changes, self.bytes)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Committed, ShellError> {
    let (bytes, changes) = match crate::services::call(s, Service::Fs, &Request::Commit)? {
        Answer::Committed { bytes, changes } => (bytes, changes),
        other => return Err(ShellError::Protocol(format!("vfs answered {other:?} to a commit"))),
    };
    let saved = match a.save {
        None => None,
        Some(path) => {
            let mut image = Vec::with_capacity(bytes as usize);
            while (image.len() as u64) < bytes {
                match crate::services::call(s, Service::Fs, &Request::Image { offset: image.len() as u64, len: MAX_IO as u32 })? {
                    Answer::Data(d) if d.is_empty() => break,
                    Answer::Data(d) => image.extend_from_slice(&d),
                    other => return Err(ShellError::Protocol(format!("vfs answered {other:?} to an image read"))),
                }
            }
            std::fs::write(&path, &image).map_err(|e| ShellError::Usage(format!("cannot write {}: {e}", path.display())))?;
            Some(path.display().to_string())
        }
    };
    Ok(Committed { changes, bytes, saved })
}

super::command!("fs commit", Mutation, Args, run);
