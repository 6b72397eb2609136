use std::time::Duration;

use clap::Parser;
use tidemark_abi::Error;
use tidemark_protocol::{ErrorReply, EventKind, req};

use super::pkg_catalog::Catalog;
use crate::session::{Session, ShellError};

/// Sets the package server and loads its signed catalog (verified by the
/// kernel against its trusted keys); `--off` clears it.
#[derive(Parser)]
pub struct Args {
    /// `http://host:port` of a `tidemark pkg serve`.
    url: Option<String>,
    /// Clear the server.
    #[arg(long, conflicts_with = "url")]
    off: bool,
}

fn run(s: &mut Session, a: Args) -> Result<Catalog, ShellError> {
    let Some(url) = a.url else {
        if a.off {
            s.call(req::PackageServer { url: None })?;
        }
        return s.call(req::Catalog {}).map(Catalog);
    };
    if !url.starts_with("http://") {
        return Err(ShellError::Usage(format!("`{url}`: a package server is an http:// URL (its catalog is signed; the transport carries no trust)")));
    }
    s.client.packages.clear_outcomes();
    s.call(req::PackageServer { url: Some(url.clone()) })?;
    let within = s.fetcher.timeout() + Duration::from_secs(5);
    let fetcher = s.fetcher.clone();
    let outcome = crate::fetch::await_outcome(&mut s.client, &fetcher, within, |k| {
        matches!(k, EventKind::CatalogLoaded { .. } | EventKind::CatalogRejected { .. })
    })?;
    match outcome {
        Some(EventKind::CatalogLoaded { .. }) => s.call(req::Catalog {}).map(Catalog),
        Some(EventKind::CatalogRejected { reason }) => {
            Err(ShellError::Kernel(ErrorReply::abi(Error::Unavailable, format!("catalog from {url} refused: {reason}"))))
        }
        _ => Err(ShellError::Kernel(ErrorReply::abi(Error::Unavailable, format!("no catalog from {url} within {within:?}")))),
    }
}

super::command!("pkg server", Mutation, Args, run);
