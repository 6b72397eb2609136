use clap::Parser;
use serde::Serialize;
use tidemark_monitor::{ArenaInfo, Request, Response};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError, unexpected};

/// Shows arenas: size, use, high-water mark, fragmentation and regions.
#[derive(Parser)]
pub struct Args {
    /// List every region too.
    #[arg(short, long)]
    regions: bool,
}

#[derive(Serialize)]
pub struct Mem {
    arenas: Vec<ArenaInfo>,
    #[serde(skip)]
    regions: bool,
}

impl Human for Mem {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .arenas
            .iter()
            .map(|a| {
                vec![
                    a.id.to_string(),
                    size(a.size),
                    size(a.used),
                    size(a.free),
                    size(a.high_water),
                    format!("{:.0}%", a.fragmentation * 100.0),
                    a.regions.len().to_string(),
                ]
            })
            .collect();
        let mut out = table(&["ARENA", "SIZE", "USED", "FREE", "HIGH", "FRAG", "REGIONS"], &rows);
        if self.regions {
            let rows: Vec<Vec<String>> = self
                .arenas
                .iter()
                .flat_map(|a| {
                    a.regions.iter().map(move |r| {
                        vec![a.id.to_string(), r.id.to_string(), format!("{:#x}", r.offset), size(r.len), r.owner.to_string(), r.purpose.clone()]
                    })
                })
                .collect();
            out.push_str("\n\n");
            out.push_str(&table(&["ARENA", "REGION", "OFFSET", "LEN", "OWNER", "USE"], &rows));
        }
        out
    }
}

fn run(s: &mut Session, a: Args) -> Result<Mem, ShellError> {
    match s.call(Request::Arenas)? {
        Response::Arenas(arenas) => Ok(Mem { arenas, regions: a.regions }),
        r => Err(unexpected(r)),
    }
}

super::command!("mem", Args, run);
