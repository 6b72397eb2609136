//! The monitor protocol served by a hosted kernel, over any byte stream:
//! an in-process socket pair (what `tidemark shell` uses by default) or a
//! Unix socket (`tidemark boot hosted --listen PATH`).

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use tidemark_kernel::lifecycle::{EngineError, ReloadReport};
use tidemark_kernel::{Kernel, Pid, SpawnSpec};
use tidemark_monitor::server::{Connection, Target};

use crate::Hosted;

impl Target for Hosted {
    fn with_kernel(&self, f: &mut dyn FnMut(&mut Kernel)) {
        Hosted::with_kernel(self, |k| f(k));
    }
    fn spawn(&self, spec: SpawnSpec) -> Result<Pid, EngineError> {
        Hosted::spawn(self, spec)
    }
    fn kill(&self, pid: Pid) {
        Hosted::kill(self, pid);
    }
    fn reload(&self, pid: Pid, package: &str) -> Result<ReloadReport, EngineError> {
        Hosted::reload(self, pid, package)
    }
    fn board(&self) -> String {
        "hosted".into()
    }
    fn engine(&self) -> String {
        engine_name().into()
    }
    fn fetches(&self) -> bool {
        true
    }
    fn guest_memories(&self, pids: &[Pid]) -> Vec<(Pid, Result<Vec<u8>, String>)> {
        Hosted::guest_memories(self, pids, MEMORY_WAIT)
    }
}

/// How long a dump waits for each process to hand over its memory.
const MEMORY_WAIT: Duration = Duration::from_secs(1);

/// The engine `info` reports.
pub fn engine_name() -> &'static str {
    "wasmtime 48"
}

/// How often a connection pushes new events when the client is quiet.
const EVENT_POLL: Duration = Duration::from_millis(20);

/// Serves one connection until the peer hangs up or `stop` is set.
pub fn serve_stream(
    target: &dyn Target,
    mut stream: UnixStream,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_read_timeout(Some(EVENT_POLL))?;
    let mut conn = Connection::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Acquire) {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                let out = conn.on_bytes(target, &buf[..n]);
                stream.write_all(&out)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        let events = conn.poll_events(target);
        if !events.is_empty() {
            stream.write_all(&events)?;
        }
    }
    Ok(())
}

/// A monitor link to a kernel in this process: one end of a socket pair, the
/// other served by a thread running the same code as a Unix socket listener.
pub fn connect_in_process(hosted: Arc<Hosted>) -> io::Result<UnixStream> {
    let (ours, theirs) = UnixStream::pair()?;
    thread::Builder::new()
        .name("monitor".into())
        .spawn(move || {
            let stop = AtomicBool::new(false);
            let _ = serve_stream(&*hosted, theirs, &stop);
        })?;
    Ok(ours)
}

/// A Unix-socket monitor listener. The socket is removed when dropped.
pub struct Listener {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Listener {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds a socket that is never reachable by anyone but its owner: bound in
/// a fresh 0700 directory beside `path`, made 0600 there, then moved into
/// place without replacing anything (binding at `path` and chmod-ing after
/// would leave it open to others for a moment, under the umask).
fn bind_owner_only(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = dir.join(format!(
        ".tidemark-monitor-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let tmp = staging.join("sock");
    let bound = UnixListener::bind(&tmp).and_then(|l| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &tmp,
            rustix::fs::CWD,
            path,
            rustix::fs::RenameFlags::NOREPLACE,
        )?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&staging);
    bound
}

/// Listens on `path` (mode 0600: the monitor is full control of the kernel).
/// An existing path is replaced only when it is a stale socket nobody answers on.
pub fn listen(hosted: Arc<Hosted>, path: &Path) -> io::Result<Listener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                ErrorKind::AddrInUse,
                format!("{} is in use by a running kernel", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = bind_owner_only(path)?;
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    thread::Builder::new()
        .name("monitor-listen".into())
        .spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (h, s) = (hosted.clone(), s.clone());
                        let _ = stream.set_nonblocking(false);
                        let _ =
                            thread::Builder::new()
                                .name("monitor-conn".into())
                                .spawn(move || {
                                    let _ = serve_stream(&*h, stream, &s);
                                });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        })?;
    Ok(Listener {
        path: path.to_path_buf(),
        stop,
    })
}
