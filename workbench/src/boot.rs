//! Booting kernels and attaching sessions to them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidemark_hosted::Hosted;
use tidemark_hosted::kernel::Config;
use tidemark_protocol::req;
use tidemark_shell::{Client, Session};

use crate::Board;
use crate::board::Boot;
use crate::guest_build::Built;
use crate::project::MANIFEST;

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
    let limits = crate::board::Board::get("hosted")
        .map(|b| b.manifest().limits)
        .unwrap_or_default();
    Arc::new(Hosted::boot(Config {
        limits,
        ..Config::default()
    }))
}

/// What keeps a booted kernel alive for as long as a session uses it (held,
/// never read).
#[allow(dead_code)]
pub enum Instance {
    /// A hosted kernel in this process.
    Hosted(Arc<Hosted>),
    /// A QEMU machine (stopped when dropped).
    Qemu(crate::qemu::Qemu),
}

/// The guests of a project, built, for a new kernel's package cache: the
/// project in `explicit` (`--project`), else the current directory's when it
/// holds a `Tidemark.toml`, else none. Nothing is built when attaching. A
/// manifest error is printed as `tidemark dev` prints it (exit 2), a build
/// failure with the compiler's output (exit 1).
pub fn project_guests(explicit: Option<&Path>, attach: bool) -> Result<Vec<Built>, ExitCode> {
    let dir = match explicit {
        _ if attach => {
            if explicit.is_some() {
                eprintln!(
                    "tidemark: --project is ignored when attaching (the kernel's package cache is its own)"
                );
            }
            return Ok(Vec::new());
        }
        Some(dir) => dir,
        None if Path::new(MANIFEST).is_file() => Path::new("."),
        None => return Ok(Vec::new()),
    };
    let project = crate::dev::load(dir)?;
    eprintln!(
        "tidemark: project {}: building its guests for the package cache",
        project.name
    );
    crate::dev::build_or_exit(&project)
}

/// A session on a new kernel of `board` whose package cache also holds
/// `preload` (installed, not spawned), or on the one listening at `attach`.
/// The instance is returned so it lives as long as the session.
pub fn session(
    board: Board,
    attach: Option<&Path>,
    preload: &[Built],
) -> Result<(Session, Option<Instance>), String> {
    if let Some(path) = attach {
        let client = Client::connect(path)
            .map_err(|e| format!("cannot attach to {}: {e}", path.display()))?;
        return Ok((Session::new(client), None));
    }
    match &board.manifest().boot {
        Boot::InProcess => {
            let k = hosted();
            for b in preload {
                k.install(&b.name, &b.bytes);
            }
            let link = tidemark_hosted::monitor::connect_in_process(k.clone())
                .map_err(|e| e.to_string())?;
            let client = Client::attach(link).map_err(|e| e.to_string())?;
            Ok((Session::new(client), Some(Instance::Hosted(k))))
        }
        Boot::Qemu(_) => {
            let mut q = crate::qemu::Qemu::boot(board, &crate::qemu::image(board)?, None)?;
            let mut client = q.attach()?;
            // The machine's cache is filled over its monitor, like `pkg upload`.
            for b in preload {
                if let Err(e) = client.call(req::Upload {
                    name: b.name.clone(),
                    bytes: b.bytes.clone(),
                    pin: false,
                }) {
                    return Err(format!(
                        "cannot install {} in the package cache: {e}",
                        b.name
                    ));
                }
            }
            Ok((Session::new(client), Some(Instance::Qemu(q))))
        }
    }
}

/// `tidemark boot BOARD [--listen PATH]`: with `--listen`, serve the
/// monitor there until interrupted; without (QEMU only), attach and open the REPL.
pub fn boot(board: Board, listen: Option<&Path>, json: bool) -> Result<ExitCode, String> {
    let stop = Arc::new(AtomicBool::new(false));
    // Serves until Ctrl-C, or until `died` says the instance stopped on its own.
    let wait = |what: String,
                died: &mut dyn FnMut() -> Option<String>|
     -> Result<ExitCode, String> {
        let s = stop.clone();
        ctrlc::set_handler(move || s.store(true, Ordering::Release)).map_err(|e| e.to_string())?;
        eprintln!("tidemark: {what} (Ctrl-C to stop)");
        while !stop.load(Ordering::Acquire) {
            if let Some(why) = died() {
                return Err(why);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(ExitCode::SUCCESS)
    };
    match (&board.manifest().boot, listen) {
        (Boot::InProcess, None) => Err(format!(
            "`tidemark boot {}` needs --listen PATH (or use `tidemark shell`)",
            board.name()
        )),
        (Boot::InProcess, Some(path)) => {
            let listener = tidemark_hosted::monitor::listen(hosted(), path)
                .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
            let r = wait(
                format!(
                    "{} kernel listening on {}",
                    board.name(),
                    listener.path().display()
                ),
                &mut || None,
            );
            drop(listener);
            r
        }
        (Boot::Qemu(_), Some(path)) => {
            let mut q = crate::qemu::Qemu::boot(board, &crate::qemu::image(board)?, Some(path))?;
            let r = wait(
                format!("{} booted; its UART is {}", board.name(), path.display()),
                &mut || q.exited().map(|s| format!("QEMU exited ({s})")),
            );
            drop(q);
            let _ = std::fs::remove_file(path);
            r
        }
        (Boot::Qemu(_), None) => {
            let (mut s, _q) = session(board, None, &[])?;
            crate::interact(&mut s, json)
        }
    }
}
