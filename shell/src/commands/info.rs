use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{Request, Response};

use crate::output::Human;
use crate::session::{Session, ShellError, unexpected};

/// Kernel version, board, engine and uptime.
#[derive(Parser)]
pub struct Args {}

#[derive(Serialize)]
pub struct Info(tidemark_monitor::KernelInfo);

impl Human for Info {
    fn human(&self) -> String {
        let i = &self.0;
        format!(
            "kernel    tidemark {}\nboard     {}\nengine    {}\nprotocol  v{} (abi v{})\nuptime    {:.3} s",
            i.version,
            i.board,
            i.engine,
            i.protocol,
            i.abi,
            i.uptime_ns as f64 / 1e9
        )
    }
}

fn run(s: &mut Session, _: Args) -> Result<Info, ShellError> {
    match s.call(Request::Info)? {
        Response::Info(i) => Ok(Info(i)),
        r => Err(unexpected(r)),
    }
}

super::command!("info", Args, run);
