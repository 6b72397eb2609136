use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{CacheInfo, req};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError};

/// Lists the package cache: slots, pins, hits, misses, evictions, verify
/// failures and fetches under way.
#[derive(Parser)]
pub struct Args {}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Pkgs(CacheInfo);

/// The cache's status as the OSCortex seed prints it: `slots=3/16 pinned=1 ephemeral=2`.
pub fn status_line(c: &CacheInfo) -> String {
    let pinned = c.packages.iter().filter(|p| p.pinned).count();
    format!("slots={}/{} pinned={pinned} ephemeral={}", c.packages.len(), c.slots, c.packages.len() - pinned)
}

impl Human for Pkgs {
    fn human(&self) -> String {
        let c = &self.0;
        let rows: Vec<Vec<String>> = c
            .packages
            .iter()
            .map(|p| vec![p.name.clone(), p.hash[..16].to_string(), size(p.size), if p.pinned { "pinned".into() } else { String::new() }])
            .collect();
        format!(
            "{}\n{}\n{} hits, {} misses, {} evictions, {} verify failures, {} fetching",
            table(&["NAME", "SHA-256", "SIZE", "PIN"], &rows),
            status_line(c),
            c.hits,
            c.misses,
            c.evictions,
            c.verify_failures,
            c.fetching
        )
    }
}

fn run(s: &mut Session, _: Args) -> Result<Pkgs, ShellError> {
    s.call(req::Packages {}).map(Pkgs)
}

super::command!("pkg ls", Query, Args, run);
