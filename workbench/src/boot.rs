//! Booting kernels and attaching sessions to them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidemark_hosted::Hosted;
use tidemark_hosted::kernel::Config;
use tidemark_protocol::req;
use tidemark_shell::serial::{Address, Locator, UsbId};
use tidemark_shell::{Client, Session};

use crate::Board;
use crate::board::Boot;
use crate::guest_build::Built;
use crate::project::MANIFEST;

/// Boots a hosted kernel whose package cache holds the example guests
/// (the system services are installed when a session boots them).
pub fn hosted() -> Arc<Hosted> {
    let h = hosted_empty();
    for g in tidemark_guest_artifacts::ALL {
        h.install(g.name, g.bytes);
    }
    h
}

/// Boots a hosted kernel with an empty package cache (a project fills it),
/// its limits and cache from the hosted board's manifest.
pub fn hosted_empty() -> Arc<Hosted> {
    let mut config = Config::default();
    if let Some(m) = crate::board::Board::get("hosted").map(|b| b.manifest()) {
        config.limits = m.limits;
        config.display = m.display.as_ref().map(|d| d.mode);
        if let Some(slots) = m.packages.slots {
            config.package_slots = slots;
        }
        if let Some(max) = m.packages.max_bytes {
            config.max_package = max as usize;
        }
    }
    Arc::new(Hosted::boot(config))
}

/// What a session hands a new (or attached) kernel before its first
/// command: the project's built guests for the package cache, the trusted
/// catalog keys (board's and project's), the package server, and the lock.
#[derive(Default)]
pub struct Setup {
    /// Guests installed in the cache (not spawned).
    pub preload: Vec<Built>,
    /// The project's trusted keys (the board's are added by [`session`]).
    pub keys: Vec<String>,
    /// Where the kernel fetches what is not cached.
    pub server: Option<String>,
    /// `Tidemark.lock`, when the project has one.
    pub lock: Option<crate::lock::Lock>,
    /// Boot init with the system services (no project guests: those a
    /// shell or script session installs are not spawned).
    pub userland: Option<crate::userland::Userland>,
}

impl Setup {
    /// The setup of a loaded project whose guests are `built`.
    pub fn of(project: &crate::project::Project, built: Vec<Built>) -> Result<Setup, String> {
        Ok(Setup {
            preload: built,
            keys: project.packages.keys.clone(),
            server: project.packages.server.clone(),
            lock: crate::lock::Lock::read(&project.dir)?,
            userland: project.userland.clone(),
        })
    }

    /// Hands it to the kernel behind `client`: keys, lock, cache, server.
    pub fn apply(&self, client: &mut Client, board: Board) -> Result<(), String> {
        let keys = board.manifest().packages.keys.iter().chain(&self.keys);
        for key in keys {
            client
                .call(req::Trust { key: key.clone() })
                .map_err(|e| format!("cannot trust key {key}: {e}"))?;
        }
        if let Some(lock) = &self.lock {
            client
                .call(req::Lock {
                    entries: lock.entries(),
                })
                .map_err(|e| format!("cannot hand the kernel {}: {e}", crate::lock::LOCK))?;
        }
        upload(client, &self.preload)?;
        if let Some(url) = &self.server {
            client
                .call(req::PackageServer {
                    url: Some(url.clone()),
                })
                .map_err(|e| format!("cannot set the package server {url}: {e}"))?;
        }
        if let Some(userland) = &self.userland {
            crate::userland::deploy::boot(client, userland, &[], &[])?;
        }
        Ok(())
    }
}

/// What keeps a booted kernel alive for as long as a session uses it (held,
/// never read).
#[allow(dead_code)]
pub enum Instance {
    /// A hosted kernel in this process.
    Hosted(Arc<Hosted>),
    /// A QEMU machine (stopped when dropped).
    Qemu(crate::qemu::Qemu),
    /// A board on its own power, reached over a link.
    Board,
}

/// The setup of a project for a new kernel (its guests built for the
/// package cache, its keys, server and lock): the project in `explicit`
/// (`--project`), else the current directory's when it holds a
/// `Tidemark.toml`, else none. Nothing is built when attaching. A manifest
/// error is printed as `tidemark dev` prints it (exit 2), a build failure
/// with the compiler's output (exit 1).
/// With `services` (or an `image`), the kernel boots init with the system
/// services too.
pub fn project_setup(
    explicit: Option<&Path>,
    attach: bool,
    services: bool,
    image: Option<&Path>,
) -> Result<Setup, ExitCode> {
    let mut setup = project_setup_of(explicit, attach)?;
    if (services || image.is_some()) && !attach {
        let userland = setup.userland.get_or_insert_with(Default::default);
        if let Some(image) = image {
            userland.image = Some(image.to_path_buf());
        }
    }
    Ok(setup)
}

fn project_setup_of(explicit: Option<&Path>, attach: bool) -> Result<Setup, ExitCode> {
    let dir = match explicit {
        _ if attach => {
            if explicit.is_some() {
                eprintln!(
                    "tidemark: --project is ignored when attaching (the kernel's package cache is its own)"
                );
            }
            return Ok(Setup::default());
        }
        Some(dir) => dir,
        None if Path::new(MANIFEST).is_file() => Path::new("."),
        None => return Ok(Setup::default()),
    };
    let project = crate::dev::load(dir)?;
    eprintln!(
        "tidemark: project {}: building its guests for the package cache",
        project.name
    );
    let built = crate::dev::build_or_exit(&project)?;
    Setup::of(&project, built).map_err(|e| {
        eprintln!("tidemark: {e}");
        ExitCode::from(2)
    })
}

/// A session on a new kernel of `board` given `setup` (guests installed,
/// not spawned; keys, server, lock), or on the one listening at `attach`.
/// The instance is returned so it lives as long as the session.
pub fn session(
    board: Board,
    attach: Option<&Address>,
    setup: &Setup,
) -> Result<(Session, Option<Instance>), String> {
    if let Some(addr) = attach {
        let mut client = match addr {
            Address::Rtt(probe) => {
                let chip = match &board.manifest().boot {
                    Boot::Flash(f) => f.chip.as_str(),
                    _ => "esp32c6",
                };
                Client::attach(crate::probes::rtt_link(probe, chip)?)
            }
            _ => Client::open(addr),
        }
        .map_err(|e| format!("cannot attach to {addr}: {e}"))?;
        // A board attached to (not booted here) gets the project's guests
        // in its cache the same way as a QEMU machine.
        setup.apply(&mut client, board)?;
        return Ok((Session::new(client), None));
    }
    match &board.manifest().boot {
        Boot::InProcess => {
            let k = hosted();
            let link = tidemark_hosted::monitor::connect_in_process(k.clone())
                .map_err(|e| e.to_string())?;
            let mut client = Client::attach(link).map_err(|e| e.to_string())?;
            setup.apply(&mut client, board)?;
            Ok((Session::new(client), Some(Instance::Hosted(k))))
        }
        Boot::Emulator(_) => {
            let mut q = crate::qemu::Qemu::boot(board, &crate::firmware::image(board)?, None)?;
            let mut client = q.attach()?;
            setup.apply(&mut client, board)?;
            let mut s = Session::new(client);
            s.scanouts = q.scanouts(board);
            Ok((s, Some(Instance::Qemu(q))))
        }
        Boot::Flash(_) => {
            // A fresh kernel per session, as QEMU boots one: reset the board
            // (it re-enumerates; the attach below finds it again).
            crate::flash::reset(board)?;
            // It re-enumerates: look for it again for a few seconds.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let addr = loop {
                std::thread::sleep(std::time::Duration::from_millis(250));
                match find(board) {
                    Ok(a) => break a,
                    Err(e) if std::time::Instant::now() > deadline => return Err(e),
                    Err(_) => {}
                }
            };
            session(board, Some(&addr), setup)
        }
    }
}

/// Fills a board's package cache over its monitor, like `pkg upload`.
fn upload(client: &mut Client, preload: &[Built]) -> Result<(), String> {
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
    Ok(())
}

/// A flashed board's serial line, found by the manifest's USB id (and
/// found again by it after a reset moves it to another path).
pub fn find(board: Board) -> Result<Address, String> {
    let Boot::Flash(f) = &board.manifest().boot else {
        return Err(format!(
            "board `{}` is not found on USB; attach to it by address",
            board.name()
        ));
    };
    let (path, usb) = crate::ports::enumerate()?
        .into_iter()
        .find_map(|(path, usb)| Some((path, usb.filter(|u| (u.vid, u.pid) == (f.vid, f.pid))?)))
        .ok_or_else(|| {
            format!(
                "no {} found on USB (id {:04x}:{:04x}): is it plugged in and flashed (`tidemark flash --board {}`)? \
                 `tidemark ports` lists what is; `tidemark attach serial:PATH` picks a port",
                board.name(),
                f.vid,
                f.pid,
                board.name()
            )
        })?;
    Ok(Address::Serial(Locator {
        path: path.into(),
        baud: tidemark_shell::serial::DEFAULT_BAUD,
        usb: Some(UsbId {
            vid: usb.vid,
            pid: usb.pid,
            serial: usb.serial,
        }),
    }))
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
        (Boot::Emulator(_), Some(path)) => {
            let mut q =
                crate::qemu::Qemu::boot(board, &crate::firmware::image(board)?, Some(path))?;
            let r = wait(
                format!("{} booted; its UART is {}", board.name(), path.display()),
                &mut || q.exited().map(|s| format!("{} exited ({s})", q.name())),
            );
            drop(q);
            let _ = std::fs::remove_file(path);
            r
        }
        (Boot::Flash(_), _) => Err(format!(
            "the {} is booted by flashing it: `tidemark flash --board {}` (then `tidemark shell --board {}`)",
            board.name(),
            board.name(),
            board.name()
        )),
        (Boot::Emulator(_), None) => {
            let (mut s, _q) = session(board, None, &Setup::default())?;
            crate::interact(&mut s, json)
        }
    }
}
