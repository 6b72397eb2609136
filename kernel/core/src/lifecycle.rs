//! One process lifecycle for every engine:
//!
//! ```text
//! spawn ──► start ──► run ──► exit
//!                      │
//!                      └─► reload: prepare ─► swap ─► trial ─┬─► commit (it served, or its time is up)
//!                                    │                       └─► roll back (it trapped or failed first)
//!                                    └─► refused (the new module did not instantiate; the old one never stopped)
//! ```
//!
//! The core keeps the state machine: what runs, what a trial would put
//! back, and the verdict when a process on trial ends. Engines only
//! instantiate, run a slice and park: they ask [`Kernel::prepare_reload`]
//! for the module, report the swap with [`Kernel::reloaded`], and when the
//! successor ends before it served, [`Kernel::trial_ended`] says whether to
//! put the previous module back ([`Verdict::RollBack`]) or let the process
//! end. Limits and messages both engines share live here too.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use tidemark_abi::Error;
use tidemark_protocol::{ErrorKind, ErrorReply};

use crate::package::Hash;
use crate::{EventKind, Exit, Kernel, Pid, ProcState, SpawnError, Spawned};

/// Largest state a process may hand its successor (the default of
/// [`crate::Config::max_state`]): small enough for a board's RAM.
pub const MAX_STATE: usize = 64 * 1024;

/// Most table elements a guest may grow its tables to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The message of a guest trapped for growing past its memory limit.
pub fn memory_limit_exceeded(desired: usize, limit: usize) -> String {
    format!("memory limit exceeded: grow to {desired} bytes, limit {limit} bytes")
}

/// A reloaded process on trial: until it serves (blocks in a hostcall) or
/// its engine's trial budget is spent, a trap or an error exit puts
/// `previous` back under the same pid with `state`.
#[derive(Clone, Debug)]
pub struct Trial {
    /// The module it ran before, ready to instantiate again.
    pub previous: Spawned,
    /// Its package name.
    pub package: String,
    /// The state the previous instance handed over.
    pub state: Vec<u8>,
}

/// What to do with a process whose successor ended on trial.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// No trial ran, or the end is the module's own business (a clean exit,
    /// a kill): record the exit.
    End,
    /// Instantiate `module` again under the same pid and hand it `state`,
    /// then report [`Kernel::rolled_back`] (or [`Kernel::exit`] with
    /// [`Exit::Failed`] if even that fails).
    RollBack {
        /// The previous module.
        module: Spawned,
        /// The state it handed over.
        state: Vec<u8>,
        /// Why the successor was given up.
        reason: String,
    },
}

/// Why a spawn or reload failed, in either engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The kernel refused (no package, bad manifest, bad grant, no process).
    Spawn(SpawnError),
    /// The module did not compile, link or start; the process ended.
    Module {
        /// The process that was to run it.
        pid: Pid,
        /// The engine's message.
        message: String,
    },
    /// A reload was refused (the new module failed to instantiate, or the
    /// process could not be stopped) or rolled back: the previous module runs.
    Reload {
        /// The process.
        pid: Pid,
        /// Why.
        message: String,
    },
}

impl core::fmt::Display for EngineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EngineError::Spawn(e) => write!(f, "spawn refused: {e}"),
            EngineError::Module { pid, message } => {
                write!(f, "process {pid} failed to start: {message}")
            }
            EngineError::Reload { pid, message } => write!(
                f,
                "reload of process {pid} refused, the previous module runs: {message}"
            ),
        }
    }
}

impl core::error::Error for EngineError {}

impl SpawnError {
    /// The ABI error closest to this refusal.
    pub fn code(&self) -> Error {
        match self {
            SpawnError::NoPackage(_) | SpawnError::NoObject(_) | SpawnError::NoProcess(_) => {
                Error::NotFound
            }
            SpawnError::Manifest(_) => Error::InvalidArgument,
            SpawnError::Caps(e) => *e,
            SpawnError::Limit(..) => Error::LimitReached,
            SpawnError::Locked { .. } => Error::PermissionDenied,
        }
    }
}

impl From<&EngineError> for ErrorReply {
    fn from(e: &EngineError) -> ErrorReply {
        let message = format!("{e}");
        match e {
            EngineError::Spawn(s) => ErrorReply::abi(s.code(), message),
            EngineError::Module { .. } => ErrorReply::new(ErrorKind::Module, message),
            EngineError::Reload { .. } => ErrorReply::new(ErrorKind::Reload, message),
        }
    }
}

/// Why a reload failed after [`Verdict::RollBack`]: the previous module
/// runs again (`restart` is `None`), or could not be restarted either.
pub fn rollback_message(reason: &str, restart: Option<&dyn core::fmt::Display>) -> String {
    match restart {
        None => format!("the new module failed before serving and was rolled back: {reason}"),
        Some(e) => {
            format!("the new module {reason}, and the previous one could not be restarted: {e}")
        }
    }
}

impl Kernel {
    /// Resolves the module a live process would be reloaded with, without
    /// changing anything: the engine instantiates it and, if that works,
    /// swaps it in and calls [`Kernel::reloaded`].
    pub fn prepare_reload(&mut self, pid: Pid, package: &str) -> Result<Spawned, SpawnError> {
        let (allowed, memory_limit) = match self.live(pid) {
            Ok(p) => (p.allowed, p.memory_limit),
            Err(_) => return Err(SpawnError::NoProcess(pid)),
        };
        let pkg = self
            .packages
            .resolve(package)
            .ok_or_else(|| SpawnError::NoPackage(package.into()))?
            .clone();
        self.check_lock(&pkg.name, pkg.hash)?;
        let manifest = crate::manifest::parse(&pkg.bytes).map_err(SpawnError::Manifest)?;
        Ok(Spawned {
            pid,
            hash: pkg.hash,
            bytes: pkg.bytes,
            classes: manifest.classes.and(allowed),
            memory_limit,
            recorded: false,
        })
    }

    /// The engine swapped `pid` to the module of `s`; `state` is what the
    /// old instance handed over (cut to [`crate::Config::max_state`]). The
    /// successor is on trial from now until [`Kernel::trial_passed`] or
    /// [`Kernel::trial_ended`]. The old instance has stopped wherever its
    /// safe point was, possibly inside a ring operation: what it left there
    /// is repaired before the successor runs.
    pub fn reloaded(&mut self, s: &Spawned, mut state: Vec<u8>) {
        state.truncate(self.config.max_state);
        self.instance_stopped(s.pid);
        let new_package = self
            .packages
            .iter()
            .find(|x| x.hash == s.hash)
            .map(|x| x.name.clone());
        let now = self.now();
        let Some(p) = self.procs.get_mut(&s.pid) else {
            return;
        };
        let previous = Spawned {
            pid: p.pid,
            hash: p.hash,
            bytes: p.module.clone(),
            classes: p.classes,
            memory_limit: p.memory_limit,
            recorded: false,
        };
        if let Some(r) = p.recording.as_mut() {
            r.stop("a hot reload replaced its module");
        }
        p.trial = Some(Trial {
            previous,
            package: p.package.clone(),
            state: state.clone(),
        });
        let package = new_package.unwrap_or_else(|| p.package.clone());
        p.hash = s.hash;
        p.module = s.bytes.clone();
        p.package = package.clone();
        p.classes = s.classes;
        p.state_blob = state;
        p.reloads += 1;
        p.enter(ProcState::Running, || now);
        let hash = s.hash.hex();
        self.event(EventKind::Reloaded {
            pid: s.pid,
            package,
            hash,
        });
    }

    /// The successor served (or its budget is spent): the reload is
    /// committed and the previous module let go.
    pub fn trial_passed(&mut self, pid: Pid) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.trial = None;
        }
    }

    /// `pid` ended with `exit`; if a successor was on trial and failed (a
    /// trap, an error exit), the verdict is to roll back.
    pub fn trial_ended(&mut self, pid: Pid, exit: &Exit) -> Verdict {
        let Some(trial) = self.procs.get(&pid).and_then(|p| p.trial.as_ref()) else {
            return Verdict::End;
        };
        let reason = match exit {
            Exit::Trap(t) => format!("trapped: {}", t.reason),
            Exit::Code(c) if *c != 0 => format!("exited with code {c}"),
            Exit::Failed(m) => format!("failed: {m}"),
            // A clean exit is the module's own business; a kill is not its failure.
            Exit::Code(_) | Exit::Killed => {
                self.trial_passed(pid);
                return Verdict::End;
            }
        };
        Verdict::RollBack {
            module: trial.previous.clone(),
            state: trial.state.clone(),
            reason,
        }
    }

    /// The engine runs the previous module again after [`Verdict::RollBack`]:
    /// undoes [`Kernel::reloaded`] (hash, package, classes, reload count)
    /// and records why.
    pub fn rolled_back(&mut self, pid: Pid, state: Vec<u8>, reason: String) {
        self.instance_stopped(pid);
        let now = self.now();
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let Some(trial) = p.trial.take() else { return };
        p.hash = trial.previous.hash;
        p.module = trial.previous.bytes;
        p.package = trial.package.clone();
        p.classes = trial.previous.classes;
        p.state_blob = state;
        p.reloads = p.reloads.saturating_sub(1);
        p.enter(ProcState::Running, || now);
        let (package, hash) = (trial.package, trial.previous.hash.hex());
        self.event(EventKind::RolledBack {
            pid,
            package,
            hash,
            reason,
        });
    }
}

/// What a hot reload did, in either engine.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// The process (same pid as before).
    pub pid: Pid,
    /// Hash of the module now running, as the kernel reports it.
    pub hash: Hash,
    /// Compile, link and instantiate, while the old instance runs on.
    pub prepare: core::time::Duration,
    /// From asking the old instance to stop at a safe point to the new one
    /// running (state handed over): the time the process does not serve.
    pub swap: core::time::Duration,
}

/// The state a `tidemark_save` export handed over: it returns
/// `(ptr << 32) | len` into the guest's `memory`. Empty when it points
/// outside memory or is larger than `max` (a misbehaving save loses only
/// its own state).
pub fn saved_state(packed: i64, memory: &[u8], max: usize) -> Vec<u8> {
    let (ptr, len) = (
        (packed as u64 >> 32) as usize,
        (packed as u64 & 0xFFFF_FFFF) as usize,
    );
    match ptr.checked_add(len) {
        Some(end) if end <= memory.len() && len <= max => memory[ptr..end].to_vec(),
        _ => Vec::new(),
    }
}
