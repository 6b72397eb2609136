use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::init::{Answer, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Restarts a unit through init (a failed one gets its restart budget back;
/// `--stop` stops it instead, until restarted). Its clients get a restart
/// notice on their connections.
#[derive(Parser)]
pub struct Args {
    /// Unit name (`svc ls`).
    name: String,
    /// Stop it instead.
    #[arg(long)]
    stop: bool,
}

/// What was asked of init.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Done {
    /// The unit.
    pub unit: String,
    /// `restart` or `stop`.
    pub action: String,
}

impl Human for Done {
    fn human(&self) -> String {
        format!("{} {}: asked of init", self.action, self.unit)
    }
}

fn run(s: &mut Session, a: Args) -> Result<Done, ShellError> {
    let req = if a.stop { Request::Stop(a.name.clone()) } else { Request::Restart(a.name.clone()) };
    match crate::services::call(s, Service::Init, &req)? {
        Answer::Done => Ok(Done { unit: a.name, action: if a.stop { "stop" } else { "restart" }.into() }),
        other => Err(ShellError::Protocol(format!("init answered {other:?}"))),
    }
}

super::command!("svc restart", Mutation, Args, run);
