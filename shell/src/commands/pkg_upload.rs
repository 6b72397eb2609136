use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{PackageInfo, req};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Uploads a module file into the kernel's package cache.
#[derive(Parser)]
pub struct Args {
    /// Package name.
    name: String,
    /// A `.wasm` file.
    file: PathBuf,
    /// Pin it so it is never evicted.
    #[arg(long)]
    pin: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Uploaded(PackageInfo);

impl Human for Uploaded {
    fn human(&self) -> String {
        format!("installed {}", super::pkg_resolve::package_line(&self.0))
    }
}

fn run(s: &mut Session, a: Args) -> Result<Uploaded, ShellError> {
    let bytes = std::fs::read(&a.file).map_err(|e| ShellError::Usage(format!("{}: {e}", a.file.display())))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(ShellError::Usage(format!("{} is not a wasm module", a.file.display())));
    }
    s.call(req::Upload { name: a.name, bytes, pin: a.pin }).map(Uploaded)
}

super::command!("pkg upload", Mutation, Args, run);
