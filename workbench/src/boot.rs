//! Booting kernels and attaching sessions to them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidemark_hosted::Hosted;
use tidemark_hosted::kernel::Config;
use tidemark_shell::{Client, Session};

use crate::Board;

/// Boots a hosted kernel whose package cache holds the example guests.
pub fn hosted() -> Arc<Hosted> {
    let h = hosted_empty();
    for g in tidemark_guest_artifacts::ALL {
        h.install(g.name, g.bytes);
    }
    h
}

/// Boots a hosted kernel with an empty package cache (a project fills it).
pub fn hosted_empty() -> Arc<Hosted> {
    Arc::new(Hosted::boot(Config::default()))
}

/// A session on a new kernel of `board`, or on the one listening at `attach`.
/// The kernel handle is returned so it lives as long as the session.
pub fn session(board: Board, attach: Option<&Path>) -> Result<(Session, Option<Arc<Hosted>>), String> {
    if let Some(path) = attach {
        let client = Client::connect(path).map_err(|e| format!("cannot attach to {}: {e}", path.display()))?;
        return Ok((Session::new(client), None));
    }
    match board {
        Board::Hosted => {
            let k = hosted();
            let link = tidemark_hosted::monitor::connect_in_process(k.clone()).map_err(|e| e.to_string())?;
            let client = Client::attach(link).map_err(|e| e.to_string())?;
            Ok((Session::new(client), Some(k)))
        }
    }
}

/// `tidemark boot hosted --listen PATH`: serve until interrupted.
pub fn serve(board: Board, path: &Path) -> Result<ExitCode, String> {
    let Board::Hosted = board;
    let k = hosted();
    let listener = tidemark_hosted::monitor::listen(k, path).map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::Release)).map_err(|e| e.to_string())?;
    eprintln!("tidemark: hosted kernel listening on {} (Ctrl-C to stop)", listener.path().display());
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(listener);
    Ok(ExitCode::SUCCESS)
}
