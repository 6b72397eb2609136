use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{PackageInfo, Request, Response};

use crate::output::Human;
use crate::session::{Session, ShellError, unexpected};

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

#[derive(Serialize)]
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
    match s.call(Request::Upload { name: a.name, bytes, pin: a.pin })? {
        Response::Uploaded(p) => Ok(Uploaded(p)),
        r => Err(unexpected(r)),
    }
}

super::command!("pkg upload", Args, run);
