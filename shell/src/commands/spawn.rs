use clap::Parser;
use serde::Serialize;
use tidemark_abi::Rights;
use tidemark_protocol::{GrantSpec, ObjectRef, req};

use crate::output::Human;
use crate::session::{Session, ShellError};

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
    /// Grant a channel, or with `display` the board's framebuffer:
    /// NAME=CHANNEL[:RIGHTS] (rights from `rwgd`, default `rw`). Repeatable.
    #[arg(long = "cap", value_name = "NAME=CHANNEL[:RIGHTS]")]
    caps: Vec<String>,
    /// Linear-memory limit in bytes.
    #[arg(long)]
    memory: Option<u64>,
    /// Record every hostcall it makes from its first instruction, to
    /// write with `record PID FILE` and run again with `tidemark replay`
    /// (its channels take the copying path meanwhile).
    #[arg(long)]
    record: bool,
}

/// Parses `NAME=CHANNEL[:RIGHTS]`; the kernel resolves the channel by name
/// or id. The object `display` is the board's framebuffer (a channel
/// named so is reached by its id).
pub fn grant_spec(spec: &str) -> Result<GrantSpec, ShellError> {
    let (name, rest) = spec.split_once('=').ok_or_else(|| ShellError::Usage(format!("`{spec}`: expected NAME=CHANNEL[:RIGHTS]")))?;
    let (chan, rights) = rest.split_once(':').unwrap_or((rest, "rw"));
    let rights = Rights::parse(rights).ok_or_else(|| ShellError::Usage(format!("`{rights}`: rights are letters from `rwgd`")))?;
    let object = match chan {
        "display" => ObjectRef::Display,
        c => ObjectRef::Channel(c.into()),
    };
    Ok(GrantSpec { name: name.into(), object, rights })
}

/// A process was spawned.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Spawned {
    /// Its pid.
    pub pid: u32,
    /// The package it runs.
    pub package: String,
}

impl Human for Spawned {
    fn human(&self) -> String {
        format!("spawned {} as pid {}", self.package, self.pid)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Spawned, ShellError> {
    let grants = a.caps.iter().map(|c| grant_spec(c)).collect::<Result<Vec<_>, _>>()?;
    let r = req::Spawn { package: a.package.clone(), name: a.name, args: a.args.unwrap_or_default().into_bytes(), grants, memory_limit: a.memory, record: a.record };
    s.call(r).map(|pid| Spawned { pid, package: a.package })
}

super::command!("spawn", Mutation, Args, run);
