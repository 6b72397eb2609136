//! Boards a program on this machine boots (`[boot] kind = "qemu"`, e.g.
//! `qemu-riscv32`, or `"node"`, `wasm-js`): build the kernel image (with its
//! boot bundle), start the program as the board's manifest says, and reach
//! the monitor on the link it serves as a Unix socket (QEMU's emulated UART;
//! the wasm-js runtime's byte stream). Only the program's name differs.
//!
//! The image is built by `firmware.rs`, as for every bare-metal board.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tidemark_shell::Client;
use tidemark_shell::session::Scanout;

use crate::Board;
use crate::board::{Boot, Emulator};

/// How `board` boots: only boards an emulator boots get here.
fn emulator(board: Board) -> Result<&'static Emulator, String> {
    match &board.manifest().boot {
        Boot::Emulator(e) => Ok(e),
        _ => Err(format!(
            "board `{}` is not booted by an emulator",
            board.name()
        )),
    }
}

/// Checks that the board's emulator is installed, saying how to install it when it is not.
pub fn ensure_qemu(q: &Emulator) -> Result<(), String> {
    match Command::new(&q.command)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        _ => Err(format!(
            "{} not found: install it with `{}` (Debian/Ubuntu) or run ./scripts/setup",
            q.command, q.install
        )),
    }
}

/// Writes the example guests as the boot bundle (only files whose bytes
/// changed, so an unchanged bundle does not relink the image).
/// A running emulator (QEMU, Node); dropping it stops the machine.
pub struct Qemu {
    child: Child,
    name: &'static str,
    /// The UART's socket.
    pub socket: PathBuf,
    owns_socket: bool,
    /// QEMU's QMP socket, when the board's arguments give it one (`{qmp}`).
    pub qmp: Option<PathBuf>,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_socket {
            let _ = std::fs::remove_file(&self.socket);
        }
        if let Some(q) = &self.qmp {
            let _ = std::fs::remove_file(q);
        }
    }
}

impl Qemu {
    /// Boots the board's `image`, its UART on `socket` (a fresh temporary path if none).
    pub fn boot(board: Board, image: &Path, socket: Option<&Path>) -> Result<Qemu, String> {
        let emulator = emulator(board)?;
        ensure_qemu(emulator)?;
        let owns_socket = socket.is_none();
        let socket = socket.map_or_else(
            || {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::env::temp_dir().join(format!("tidemark-qemu-{}-{n}.sock", std::process::id()))
            },
            Path::to_path_buf,
        );
        if socket.exists() {
            return Err(format!(
                "{} exists; refusing to replace it",
                socket.display()
            ));
        }
        let qmp = socket.with_extension("qmp");
        let mut cmd = board
            .manifest()
            .qemu_command(image, &socket, &qmp)
            .ok_or_else(|| format!("board `{}` is not booted by an emulator", board.name()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child =
            spawn_tied(cmd).map_err(|e| format!("cannot start {}: {e}", emulator.command))?;
        let uses_qmp = matches!(&board.manifest().boot, crate::board::Boot::Emulator(e) if e.args.iter().any(|a| a.contains("{qmp}")));
        let mut q = Qemu {
            child,
            name: emulator.name(),
            socket,
            owns_socket,
            qmp: uses_qmp.then_some(qmp),
        };
        // QEMU binds the socket (the path appears) a moment before it
        // listens, so wait until a connection is accepted, not for the path:
        // attaching in between is refused. The probe is closed at once and
        // QEMU goes back to accepting.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&q.socket).is_err() {
            if let Some(status) = q.child.try_wait().map_err(|e| e.to_string())? {
                let name = q.name;
                return Err(format!("{name} exited at boot ({status}): {}", q.stderr()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not accept connections on its serial socket within 20 s",
                    q.name
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The monitor is full control of the kernel: owner only.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&q.socket, std::fs::Permissions::from_mode(0o600));
        Ok(q)
    }

    /// Attaches a client over the serial line.
    pub fn attach(&mut self) -> Result<Client, String> {
        Client::connect(&self.socket).map_err(|e| match self.child.try_wait() {
            Ok(Some(status)) => {
                let name = self.name;
                format!("{name} exited ({status}): {}", self.stderr())
            }
            _ => format!("cannot attach over the serial line: {e}"),
        })
    }

    /// The ways to read what the machine's display device scans out, for
    /// `screenshot --scanout`: QEMU's D-Bus display, attached to here
    /// (feature `qemu-display`; without it, a reader that says how to get
    /// it), and QMP's `screendump`. None without a QMP socket or a
    /// `[display]` QEMU scans out.
    pub fn scanouts(&self, board: Board) -> Vec<Scanout> {
        let Some(socket) = self.qmp.clone() else {
            return Vec::new();
        };
        if board
            .manifest()
            .display
            .as_ref()
            .is_none_or(|d| d.device == "memory")
        {
            return Vec::new();
        }
        let qmp = Scanout {
            via: "qmp",
            read: Box::new(move || crate::qmp::Qmp::connect(&socket)?.screendump()),
        };
        #[cfg(feature = "qemu-display")]
        {
            // A display that will not attach costs the session nothing but
            // that way of reading it (which then says why).
            match crate::dbus_display::LiveDisplay::attach(self.qmp.as_deref().expect("checked")) {
                Ok(live) => {
                    let dbus = Scanout {
                        via: "dbus",
                        read: Box::new(move || live.picture(std::time::Duration::from_secs(2))),
                    };
                    vec![dbus, qmp]
                }
                Err(e) => {
                    let dbus = Scanout {
                        via: "dbus",
                        read: Box::new(move || Err(e.clone())),
                    };
                    vec![qmp, dbus]
                }
            }
        }
        #[cfg(not(feature = "qemu-display"))]
        {
            let dbus = Scanout {
                via: "dbus",
                read: Box::new(|| Err(NO_DBUS.to_string())),
            };
            vec![qmp, dbus]
        }
    }

    /// The emulator's name (`QEMU`, `Node`), for messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the emulator is still running; its exit status if not.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s.trim().to_string()
    }
}

/// What `screenshot --scanout --via dbus` says on a workbench built
/// without the `qemu-display` feature.
#[cfg(not(feature = "qemu-display"))]
const NO_DBUS: &str = "this tidemark was built without the `qemu-display` feature: build it with `cargo build -p tidemark --features qemu-display` (scripts/setup installs its system libraries, libusbredirhost and libusb); `--via qmp` reads the scan-out without it";

/// Starts `cmd` so that it cannot outlive the workbench: the child asks the
/// OS for SIGKILL when its parent dies (SIGTERM from a CI runner, SIGHUP,
/// SIGKILL, a crash: `Drop` covers only the orderly exits). That signal
/// fires when the *thread* that forked it ends, so every such child is
/// forked by one thread that lives as long as the process.
fn spawn_tied(mut cmd: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    use std::sync::{Mutex, OnceLock, mpsc};
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static FORKER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let parent = std::process::id();
    // SAFETY: between fork and exec the closure only makes two syscalls.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent may have died before the request took effect.
            if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
                return Err(std::io::Error::other(
                    "the workbench ended while QEMU started",
                ));
            }
            Ok(())
        })
    };
    let forker = FORKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("forker".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("forker thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    let gone = || std::io::Error::other("the forker thread is gone");
    forker
        .lock()
        .map_err(|_| gone())?
        .send((cmd, tx))
        .map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())?
}
