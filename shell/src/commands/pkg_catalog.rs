use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{CatalogInfo, req};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError};

/// Shows the signed catalog the kernel holds, its server and trusted keys.
#[derive(Parser)]
pub struct Args {}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Catalog(pub CatalogInfo);

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}

/// `catalog vN, K packages, signed by KEY; server URL`.
pub fn catalog_line(c: &CatalogInfo) -> String {
    let server = c.server.as_deref().unwrap_or("(none: `pkg server URL`)");
    match &c.signer {
        Some(k) => format!("catalog v{}, {} packages, signed by {}; server {server}", c.version, c.entries.len(), short(k)),
        None => format!("no catalog held; server {server}; {} trusted keys", c.trusted.len()),
    }
}

impl Human for Catalog {
    fn human(&self) -> String {
        let c = &self.0;
        if c.signer.is_none() {
            return catalog_line(c);
        }
        let rows: Vec<Vec<String>> = c
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.name.clone(),
                    e.version.clone(),
                    short(&e.hash).to_string(),
                    size(e.size),
                    if e.system { "system".into() } else { String::new() },
                    if e.cached { "cached".into() } else { String::new() },
                ]
            })
            .collect();
        format!("{}\n{}", catalog_line(c), table(&["NAME", "VERSION", "SHA-256", "SIZE", "FLAGS", "CACHE"], &rows))
    }
}

fn run(s: &mut Session, _: Args) -> Result<Catalog, ShellError> {
    s.call(req::Catalog {}).map(Catalog)
}

super::command!("pkg catalog", Query, Args, run);
