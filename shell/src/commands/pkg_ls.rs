use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{CacheInfo, req};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError};

/// Lists the package cache: slots, pins, hits, misses, evictions.
#[derive(Parser)]
pub struct Args {}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Pkgs(CacheInfo);

impl Human for Pkgs {
    fn human(&self) -> String {
        let c = &self.0;
        let rows: Vec<Vec<String>> = c
            .packages
            .iter()
            .map(|p| vec![p.name.clone(), p.hash[..16].to_string(), size(p.size), if p.pinned { "pinned".into() } else { String::new() }])
            .collect();
        format!(
            "{}\n{} of {} slots, {} hits, {} misses, {} evictions",
            table(&["NAME", "SHA-256", "SIZE", "PIN"], &rows),
            c.packages.len(),
            c.slots,
            c.hits,
            c.misses,
            c.evictions
        )
    }
}

fn run(s: &mut Session, _: Args) -> Result<Pkgs, ShellError> {
    s.call(req::Packages {}).map(Pkgs)
}

super::command!("pkg ls", Query, Args, run);
