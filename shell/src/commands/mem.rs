use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{ArenaInfo, req};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError};

/// Shows arenas: size, use, high-water mark, fragmentation and regions.
#[derive(Parser)]
pub struct Args {
    /// List every region too.
    #[arg(short, long)]
    regions: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
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
                        vec![a.id.to_string(), r.id.to_string(), format!("{:#x}", r.offset), size(r.len), r.owner.to_string(), r.purpose.to_string()]
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
    s.call(req::Arenas {}).map(|arenas| Mem { arenas, regions: a.regions })
}

super::command!("mem", Query, Args, run);
