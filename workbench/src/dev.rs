//! `tidemark dev`: build the project's guests, boot, wire and spawn them per
//! `Tidemark.toml`, attach, and rebuild + hot-swap each guest on save.
//!
//! Everything after the boot goes through the monitor protocol: setup,
//! uploads and reloads are requests like any REPL command, so the same
//! session works against any kind of kernel instance.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use tidemark_protocol::{Endpoint, GrantSpec, ObjectRef, req};
use tidemark_shell::{Client, Session};

use crate::guest_build::{self, Built};
use crate::project::{ChannelSpec, GuestSpec, Project, Source};
use crate::watch::{self, Change};

/// What the reloader reports.
#[derive(Clone, Debug)]
pub enum DevEvent {
    /// A guest is being rebuilt.
    Building {
        /// Guest.
        guest: String,
    },
    /// A guest was rebuilt and swapped.
    Reloaded(ReloadReport),
    /// A guest was rebuilt, but no live process ran it (it had ended): it
    /// was spawned again per the manifest, as at the start of the session.
    Respawned {
        /// Guest.
        guest: String,
        /// The new process.
        pid: u32,
        /// Hash it runs, confirmed equal to the hash just built.
        hash: String,
        /// How the last process running it ended (`pid N trapped: ...`),
        /// when the kernel still lists it.
        ended: Option<String>,
    },
    /// A rebuild, swap or restart failed.
    Failed {
        /// Guest.
        guest: String,
        /// What failed: the build, or the reload (or restart) after it.
        at: FailedAt,
        /// Compiler output or the kernel's refusal.
        output: String,
        /// Whether a process still runs the guest (the old version), or it
        /// had died and could not be started again.
        running: bool,
    },
}

/// Where a save-to-running cycle stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedAt {
    /// The guest did not build.
    Build,
    /// It built, but the kernel refused the upload, swap or restart.
    Reload,
}

/// One successful save-to-running cycle.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// Guest.
    pub guest: String,
    /// Its pid (unchanged by the swap).
    pub pid: u32,
    /// Hash now running, confirmed equal to the hash just built.
    pub hash: String,
    /// Build time.
    pub build: Duration,
    /// Compile + instantiate in the kernel while the old module ran on.
    pub prepare: Duration,
    /// Old instance stopped to new one running, reported by the kernel.
    pub swap: Duration,
    /// From the save to the new module running.
    pub save_to_running: Duration,
}

impl std::fmt::Display for DevEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DevEvent::Building { guest } => write!(f, "rebuilding {guest}"),
            DevEvent::Reloaded(r) => write!(
                f,
                "reloaded {} (pid {}) sha256:{}: build {:.3}s, prepare {:.1}ms, swap {:.2}ms, save-to-running {:.3}s",
                r.guest,
                r.pid,
                &r.hash[..16],
                r.build.as_secs_f64(),
                r.prepare.as_secs_f64() * 1e3,
                r.swap.as_secs_f64() * 1e3,
                r.save_to_running.as_secs_f64()
            ),
            DevEvent::Respawned {
                guest,
                pid,
                hash,
                ended,
            } => write!(
                f,
                "{guest} was not running ({}): spawned it again as pid {pid} sha256:{}",
                ended.as_deref().unwrap_or("no process"),
                &hash[..hash.len().min(16)]
            ),
            DevEvent::Failed {
                guest,
                output,
                running: true,
                ..
            } => write!(
                f,
                "{guest}: not reloaded, the running version stays:\n{}",
                output.trim_end()
            ),
            DevEvent::Failed {
                guest,
                output,
                running: false,
                ..
            } => write!(
                f,
                "{guest}: not running, and not started again:\n{}",
                output.trim_end()
            ),
        }
    }
}

fn call<E: Endpoint>(c: &mut Client, r: E) -> Result<E::Reply, String> {
    c.call(r).map_err(|e| e.to_string())
}

/// Builds every guest, saying so; stops at the first failure.
pub fn build_all(project: &Project) -> Result<Vec<Built>, String> {
    if project
        .guests
        .iter()
        .any(|g| matches!(g.source, Source::Cargo { .. }))
    {
        guest_build::ensure_target(guest_build::TARGET)?;
    }
    let mut built = Vec::new();
    for g in &project.guests {
        eprintln!("tidemark: building {}", g.name);
        let b = guest_build::build(project, g).map_err(|e| e.to_string())?;
        eprintln!(
            "tidemark: built {} ({} bytes, {:.2}s)",
            g.name,
            b.bytes.len(),
            b.took.as_secs_f64()
        );
        built.push(b);
    }
    Ok(built)
}

/// Loads the manifest in `dir`; an error is printed as a diagnostic at its
/// span and becomes exit code 2.
pub fn load(dir: &std::path::Path) -> Result<Project, ExitCode> {
    Project::load(dir).map_err(|e| {
        eprintln!("{:?}", miette::Report::new(*e));
        ExitCode::from(2)
    })
}

/// [`build_all`], a failure printed with the compiler's output and becoming
/// exit code 1.
pub fn build_or_exit(project: &Project) -> Result<Vec<Built>, ExitCode> {
    build_all(project).map_err(|e| {
        eprintln!("tidemark: {e}");
        ExitCode::from(1)
    })
}

/// Uploads the guests, creates the channels and spawns the guests in order.
pub fn deploy(c: &mut Client, project: &Project, built: &[Built]) -> Result<(), String> {
    for b in built {
        call(
            c,
            req::Upload {
                name: b.name.clone(),
                bytes: b.bytes.clone(),
                pin: false,
            },
        )?;
    }
    let mut ids = HashMap::new();
    for ch in &project.channels {
        ids.insert(ch.name.clone(), create_channel(c, ch)?);
    }
    if let Some(userland) = &project.userland {
        // Init starts the services, then the guests, each with its grants.
        let units: Vec<_> = project.guests.iter().map(guest_unit).collect();
        let chans: Vec<(String, u32)> = project.channels.iter().map(|ch| (ch.name.clone(), ids[&ch.name])).collect();
        let pid = crate::userland::deploy::boot(c, userland, &units, &chans)?;
        eprintln!("tidemark: started init as pid {pid} with {} guests", units.len());
        return Ok(());
    }
    for g in &project.guests {
        let pid = spawn_guest(c, g, &g.name, &ids)?;
        eprintln!("tidemark: spawned {} as pid {pid}", g.name);
    }
    Ok(())
}

fn create_channel(c: &mut Client, ch: &ChannelSpec) -> Result<u32, String> {
    let backpressure = if ch.drop {
        tidemark_abi::Backpressure::Drop
    } else {
        tidemark_abi::Backpressure::Park
    };
    call(
        c,
        req::CreateChannel {
            name: ch.name.clone(),
            data_bytes: ch.bytes,
            frames: ch.frames,
            backpressure,
            single: ch.single,
        },
    )
    .map(|c| c.id)
}

/// Guest `g` as init starts it: its capabilities by channel name.
fn guest_unit(g: &GuestSpec) -> crate::userland::plan::GuestUnit {
    crate::userland::plan::GuestUnit {
        name: g.name.clone(),
        package: g.name.clone(),
        caps: g.cap_grants(),
        args: g.args.clone().into_bytes(),
        uses: g.uses.clone(),
    }
}

/// Spawns guest `g` running `package` with the manifest's capabilities
/// (channel ids by name in `ids`), arguments and memory limit.
fn spawn_guest(
    c: &mut Client,
    g: &GuestSpec,
    package: &str,
    ids: &HashMap<String, u32>,
) -> Result<u32, String> {
    let grants = g
        .cap_grants()
        .into_iter()
        .map(|(name, chan, rights)| {
            let id = *ids
                .get(&chan)
                .ok_or_else(|| format!("no channel `{chan}`"))?;
            Ok(GrantSpec {
                name,
                object: ObjectRef::Channel(id.into()),
                rights,
            })
        })
        .collect::<Result<_, String>>()?;
    call(
        c,
        req::Spawn {
            package: package.into(),
            name: Some(g.name.clone()),
            args: g.args.clone().into_bytes(),
            grants,
            memory_limit: g.memory,
            record: false,
        },
    )
}

/// Spawns `g` again, running the module just uploaded (`hash`), wired to
/// the manifest's channels as the session set them up (any the kernel no
/// longer has are created again); returns its pid.
fn respawn(c: &mut Client, project: &Project, g: &GuestSpec, hash: &str) -> Result<u32, String> {
    let existing = call(c, req::Channels {})?;
    let mut ids = HashMap::new();
    for ch in &project.channels {
        // The session's own channel: the first of that name.
        let id = match existing
            .iter()
            .filter(|x| x.name == ch.name)
            .map(|x| x.id)
            .min()
        {
            Some(id) => id,
            None => create_channel(c, ch)?,
        };
        ids.insert(ch.name.clone(), id);
    }
    spawn_guest(c, g, hash, &ids)
}

/// Rebuilds one guest and swaps it in; the running one stays on any failure.
pub fn rebuild(c: &mut Client, project: &Project, change: &Change) -> DevEvent {
    let fail = |output: String| DevEvent::Failed {
        guest: change.guest.clone(),
        at: FailedAt::Reload,
        output,
        running: true,
    };
    let gone = |output: String| DevEvent::Failed {
        guest: change.guest.clone(),
        at: FailedAt::Reload,
        output,
        running: false,
    };
    let Some(g) = project.guests.iter().find(|g| g.name == change.guest) else {
        return fail("not a guest of this project".into());
    };
    let built = match guest_build::build(project, g) {
        Ok(b) => b,
        Err(e) => {
            return DevEvent::Failed {
                guest: change.guest.clone(),
                at: FailedAt::Build,
                output: e.output,
                running: true,
            };
        }
    };
    // The hash of the bytes just built, computed here: the upload, the swap
    // and the running process must all agree with it.
    let built_hash = tidemark_kernel::package::Hash::of(&built.bytes).hex();
    // A locked project follows its rebuilds: the lock file and the
    // kernel's lock move to the new hash before the swap checks it.
    match crate::lock::Lock::repin(&project.dir, &g.name, &built_hash) {
        Ok(None) => {}
        Ok(Some(lock)) => {
            if let Err(e) = call(c, req::Lock { entries: lock.entries() }) {
                return fail(e);
            }
        }
        Err(e) => return fail(e),
    }
    let uploaded = match call(
        c,
        req::Upload {
            name: g.name.clone(),
            bytes: built.bytes,
            pin: false,
        },
    ) {
        Ok(p) if p.hash == built_hash => p,
        Ok(p) => {
            return fail(format!(
                "the kernel stored sha256:{}, not the sha256:{built_hash} just built",
                p.hash
            ));
        }
        Err(e) => return fail(e),
    };
    let ps = match call(c, req::Ps {}) {
        Ok(ps) => ps,
        Err(e) => return fail(e),
    };
    let live = ps
        .iter()
        .rev()
        .find(|p| p.name == g.name && p.state.is_live())
        .map(|p| p.pid);
    let Some(pid) = live else {
        // It died (trapped, exited, was killed): nothing to swap, so start
        // it again as the session did, rather than failing every save.
        let ended = ps.iter().rev().find(|p| p.name == g.name).map(|p| {
            format!("pid {} {} {}", p.pid, p.state.name(), p.state.detail())
                .trim_end()
                .to_string()
        });
        let pid = match respawn(c, project, g, &uploaded.hash) {
            Ok(pid) => pid,
            Err(e) => {
                return gone(format!(
                    "no live process runs {}, and spawning it again failed: {e}",
                    g.name
                ));
            }
        };
        let running = call(
            c,
            req::Process {
                process: pid.into(),
            },
        )
        .ok()
        .map(|p| p.hash);
        return match running {
            Some(hash) if hash == built_hash => DevEvent::Respawned {
                guest: g.name.clone(),
                pid,
                hash,
                ended,
            },
            Some(hash) => fail(format!(
                "spawned {} again as pid {pid}, but it runs sha256:{hash}, not the sha256:{built_hash} just built",
                g.name
            )),
            None => gone(format!(
                "spawned {} again as pid {pid}, but the kernel does not list it",
                g.name
            )),
        };
    };
    match call(
        c,
        req::Reload {
            process: pid.into(),
            package: uploaded.hash.clone(),
        },
    ) {
        Ok(tidemark_protocol::Reloaded { pid, hash, timing }) if hash == uploaded.hash => {
            DevEvent::Reloaded(ReloadReport {
                guest: g.name.clone(),
                pid,
                hash,
                build: built.took,
                prepare: Duration::from_nanos(timing.prepare_ns),
                swap: Duration::from_nanos(timing.swap_ns),
                save_to_running: change.saved.elapsed(),
            })
        }
        Ok(r) => fail(format!(
            "the kernel runs sha256:{}, not the sha256:{built_hash} just built",
            r.hash
        )),
        Err(e) => fail(e),
    }
}

/// The reloader: waits for changes, rebuilds, reports.
pub fn spawn_reloader(
    mut c: Client,
    project: Project,
    changes: Receiver<Change>,
    report: Sender<DevEvent>,
) {
    std::thread::Builder::new()
        .name("reloader".into())
        .spawn(move || {
            // A rebuild can take longer than the default request timeout.
            c.timeout = Duration::from_secs(120);
            for change in changes {
                if report
                    .send(DevEvent::Building {
                        guest: change.guest.clone(),
                    })
                    .is_err()
                {
                    return;
                }
                if report.send(rebuild(&mut c, &project, &change)).is_err() {
                    return;
                }
            }
        })
        .expect("reloader thread");
}

/// Options of `tidemark dev`.
pub struct DevOptions {
    /// Project directory.
    pub dir: PathBuf,
    /// Board (the manifest's when not given).
    pub board: Option<crate::Board>,
    /// Run this scripted session instead of the interactive screen.
    pub script: Option<PathBuf>,
    /// Line REPL even on a terminal.
    pub no_tui: bool,
    /// JSON results.
    pub json: bool,
    /// Where to write the kernel's dump when a process traps.
    pub dump_on_trap: Option<PathBuf>,
}

/// `tidemark dev`.
pub fn run(opts: DevOptions) -> Result<ExitCode, String> {
    let project = match load(&opts.dir) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let built = match build_or_exit(&project) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let board = match opts.board {
        Some(b) => b,
        None => crate::Board::get(&project.board).ok_or_else(|| {
            format!(
                "board `{}`: not one of {}",
                project.board,
                crate::Board::names()
            )
        })?,
    };
    eprintln!("tidemark: booting {} for {}", board.name(), project.name);
    // Every part of the session (REPL, screen, reloader) gets its own link;
    // on a serial line, each follows the bridge's reattaches.
    let mut link_status = None;
    let (_instance, links): (
        crate::boot::Instance,
        Box<dyn Fn() -> std::io::Result<std::os::unix::net::UnixStream>>,
    ) = match &board.manifest().boot {
        crate::board::Boot::InProcess => {
            let k = crate::boot::hosted_empty();
            let kk = k.clone();
            (
                crate::boot::Instance::Hosted(k),
                Box::new(move || tidemark_hosted::monitor::connect_in_process(kk.clone())),
            )
        }
        crate::board::Boot::Emulator(_) => {
            // One serial line, shared.
            let q = crate::qemu::Qemu::boot(board, &crate::firmware::image(board)?, None)?;
            let raw = std::os::unix::net::UnixStream::connect(&q.socket)
                .map_err(|e| format!("cannot reach the UART: {e}"))?;
            let mux = tidemark_shell::mux::Mux::new(raw).map_err(|e| e.to_string())?;
            (
                crate::boot::Instance::Qemu(q),
                Box::new(move || mux.connect()),
            )
        }
        crate::board::Boot::Flash(_) => {
            // Flashed once; guests are then installed and hot-reloaded over
            // the link, like on every board.
            let flashed = crate::flash::write(&crate::flash::Options {
                board,
                port: None,
                probe: None,
                transport: None,
                save_image: None,
                attach: false,
                json: false,
            })?;
            eprintln!("tidemark: flashed {} over {}", board.name(), flashed.to);
            let addr = crate::boot::find(board)?;
            let (raw, status) = addr
                .open()
                .map_err(|e| format!("cannot reach {addr}: {e}"))?;
            link_status = status;
            let mux = tidemark_shell::mux::Mux::new(raw).map_err(|e| e.to_string())?;
            (
                crate::boot::Instance::Board,
                Box::new(move || mux.connect()),
            )
        }
    };
    let link = || -> Result<Client, String> {
        Client::attach_on(links().map_err(|e| e.to_string())?, link_status.clone())
            .map_err(|e| e.to_string())
    };
    // Attach the session first so it sees every event of the boot.
    let mut session = Session::new(link()?);
    let mut setup = link()?;
    // The session (or, on the screen, its collector) serves fetches.
    setup.packages.set_courier(false);
    // The lock follows the build in a dev session (seed 002's lock is for
    // the sessions that do not rebuild: shell, run).
    for b in &built {
        crate::lock::Lock::repin(&project.dir, &b.name, &tidemark_kernel::package::Hash::of(&b.bytes).hex())?;
    }
    let keys = crate::boot::Setup {
        lock: crate::lock::Lock::read(&project.dir)?,
        keys: project.packages.keys.clone(),
        server: project.packages.server.clone(),
        preload: Vec::new(),
        // `deploy` boots the userland with the project's guests.
        userland: None,
    };
    keys.apply(&mut setup, board)?;
    deploy(&mut setup, &project, &built)?;
    let (_watcher, changes) =
        watch::start(&project).map_err(|e| format!("cannot watch the guests' sources: {e}"))?;
    let (report_tx, reports) = channel();
    spawn_reloader(setup, project.clone(), changes, report_tx);
    session.dump_on_trap = opts.dump_on_trap.clone();
    if let Some(script) = &opts.script {
        let printer = print_reports(reports);
        let code = crate::run::one(script, &mut session, opts.json);
        drop(printer);
        return Ok(code);
    }
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() && !opts.no_tui {
        return crate::tui::run(&project, session, link()?, reports);
    }
    let _printer = print_reports(reports);
    crate::interact(&mut session, opts.json)
}

/// Prints reload reports to stderr as they come (line and script modes).
fn print_reports(reports: Receiver<DevEvent>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for r in reports {
            eprintln!("tidemark: {r}");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ps(c: &mut Client) -> Vec<tidemark_protocol::ProcessInfo> {
        call(c, req::Ps {}).unwrap()
    }

    #[test]
    fn a_guest_that_died_is_spawned_again_on_the_next_save() {
        let d = std::env::temp_dir().join(format!("tidemark-dev-respawn-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("svc.wat"),
            "(module (func (export \"tidemark_main\") (loop (br 0))))",
        )
        .unwrap();
        let text = "[project]\nname = \"x\"\n[[channel]]\nname = \"a\"\n[[guest]]\nname = \"svc\"\npath = \"svc.wat\"\ncaps = [\"in=a:r\"]\n";
        let project = Project::parse(&d, "T.toml", text).unwrap();
        let k = crate::boot::hosted_empty();
        let mut c =
            Client::attach(tidemark_hosted::monitor::connect_in_process(k.clone()).unwrap())
                .unwrap();
        deploy(&mut c, &project, &build_all(&project).unwrap()).unwrap();
        let first = ps(&mut c)
            .into_iter()
            .find(|p| p.name == "svc")
            .unwrap()
            .pid;
        call(
            &mut c,
            req::Kill {
                process: first.into(),
                tree: false,
            },
        )
        .unwrap();
        assert!(k.wait(first, Duration::from_secs(30)).is_some());
        let change = || Change {
            guest: "svc".into(),
            saved: std::time::Instant::now(),
        };
        let pid = match rebuild(&mut c, &project, &change()) {
            e @ DevEvent::Respawned { pid, .. } => {
                let shown = e.to_string();
                assert!(
                    shown.contains(&format!("pid {first} killed"))
                        && shown.contains(&format!("spawned it again as pid {pid}")),
                    "{shown}"
                );
                pid
            }
            e => panic!("{e}"),
        };
        let p = ps(&mut c).into_iter().find(|p| p.pid == pid).unwrap();
        assert!(
            pid != first && p.caps == 1 && p.state.name() != "killed",
            "respawned with its capability: {p:?}"
        );
        // Live again, so the next save swaps it as usual.
        assert!(
            matches!(rebuild(&mut c, &project, &change()), DevEvent::Reloaded(r) if r.pid == pid)
        );
        k.kill(pid);
        let _ = std::fs::remove_dir_all(&d);
    }
}
