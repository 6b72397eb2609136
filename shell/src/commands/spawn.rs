use clap::Parser;
use serde_json::json;
use tidemark_abi::Rights;
use tidemark_monitor::{GrantSpec, ObjectRef, Request, Response};

use crate::output::Message;
use crate::session::{Session, ShellError, unexpected};

/// Spawns a process from the package cache.
#[derive(Parser)]
pub struct Args {
    /// Package name or SHA-256.
    package: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Arguments passed to the guest (`proc_args`), as one string.
    #[arg(long, allow_hyphen_values = true)]
    args: Option<String>,
    /// Grant a channel: NAME=CHANNEL[:RIGHTS] (rights from `rwgd`, default `rw`). Repeatable.
    #[arg(long = "cap", value_name = "NAME=CHANNEL[:RIGHTS]")]
    caps: Vec<String>,
    /// Linear-memory limit in bytes.
    #[arg(long)]
    memory: Option<u64>,
}

/// Parses `NAME=CHANNEL[:RIGHTS]` against the kernel's channels.
pub fn grant_spec(s: &mut Session, spec: &str) -> Result<GrantSpec, ShellError> {
    let (name, rest) = spec.split_once('=').ok_or_else(|| ShellError::Usage(format!("`{spec}`: expected NAME=CHANNEL[:RIGHTS]")))?;
    let (chan, rights) = rest.split_once(':').unwrap_or((rest, "rw"));
    let rights = Rights::parse(rights).ok_or_else(|| ShellError::Usage(format!("`{rights}`: rights are letters from `rwgd`")))?;
    let id = s.channel(chan)?.id;
    Ok(GrantSpec { name: name.into(), object: ObjectRef::Channel(id), rights: rights.0 })
}

fn run(s: &mut Session, a: Args) -> Result<Message, ShellError> {
    let grants = a.caps.iter().map(|c| grant_spec(s, c)).collect::<Result<Vec<_>, _>>()?;
    let req = Request::Spawn {
        package: a.package.clone(),
        name: a.name,
        args: a.args.unwrap_or_default().into_bytes(),
        grants,
        memory_limit: a.memory,
    };
    match s.call(req)? {
        Response::Spawned { pid } => Ok(Message { text: format!("spawned {} as pid {pid}", a.package), json: json!({ "pid": pid, "package": a.package }) }),
        r => Err(unexpected(r)),
    }
}

super::command!("spawn", Args, run);
