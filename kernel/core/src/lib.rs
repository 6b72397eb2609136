//! Tidemark's kernel core: a capability broker and registry.
//!
//! The core is engine-agnostic and `no_std + alloc`. It owns the process
//! table, per-process capability tables, arenas, channels, the package cache
//! and the event log, and it implements the semantics of every hostcall once
//! ([`Kernel::hostcall`]) over a guest's linear memory given as `&mut [u8]`.
//!
//! The core never blocks and never runs guest code. A hostcall that cannot
//! complete answers [`Outcome::Block`] with what it waits for; the engine
//! parks the process and retries the call when the kernel lists the process
//! in [`Effects::wake`]. Spawns and kills requested by guests are handed to
//! the engine the same way. The host orchestrates; the core steps.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod arena;
pub mod caps;
pub mod catalog;
pub mod channel;
mod denial;
pub mod display;
pub mod hostcall;
pub mod lifecycle;
pub mod manifest;
pub mod package;
pub mod quota;
pub mod record;
pub mod resolve;
pub mod snapshot;
pub mod supervise;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

pub use tidemark_abi as abi;
use tidemark_abi::{Classes, Error, Handle, Rights};
pub use tidemark_protocol as protocol;
pub use tidemark_protocol::{Counters, Event, EventKind, Exit, ProcState, Trap, Wait};

use arena::Arenas;
use caps::{CapEntry, CapRef, CapTable, Object};
use channel::Channel;
use package::{Hash, PackageCache};

/// A process id; never reused within a boot. 0 is the kernel itself.
pub type Pid = u32;

/// The pid the kernel (and the monitor acting through it) uses.
pub const KERNEL_PID: Pid = 0;

/// Kernel-wide settings, chosen by the board.
#[derive(Clone, Debug)]
pub struct Config {
    /// Size of each arena.
    pub arena_size: usize,
    /// Most bytes of arenas in all.
    pub arena_budget: usize,
    /// Package cache slots.
    pub package_slots: usize,
    /// Largest package the kernel caches, in bytes (uploaded or fetched).
    pub max_package: usize,
    /// Default cap on a process's linear memory, in bytes.
    pub memory_limit: usize,
    /// Events kept for late readers.
    pub event_capacity: usize,
    /// Largest frame a `chan_read` copies through a bounce buffer (copying path).
    pub max_frame: usize,
    /// Largest state a process may hand its successor on reload.
    pub max_state: usize,
    /// Bytes one recorded process's recording may take; past it recording
    /// stops (the calls so far stay) and a `limit` event says so.
    pub max_recording: usize,
    /// Ended processes the kernel keeps listing (`ps`, dumps, an engine's
    /// wait for an exit code); past it the longest ended is forgotten,
    /// unless a process it started is still listed (a tree kill and the
    /// depth limit walk through ended parents). Churn then costs no memory.
    pub ended_kept: usize,
    /// Take a dump when a process traps, before its capabilities are
    /// released (the latest is kept; `Dump { crash: true }` answers it).
    pub crash_dumps: bool,
    /// Process limits (from the board manifest's `[limits]`).
    pub limits: Limits,
    /// The board's framebuffer (the board manifest's `[display]`), set up
    /// on first use.
    pub display: Option<display::DisplayMode>,
}

/// What one guest may make the kernel hold: hitting a limit is an error to
/// the caller ([`Error::LimitReached`]) and an event, never an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Live processes in all.
    pub processes: u32,
    /// Live children of one process.
    pub children: u32,
    /// Spawn depth: a process spawned by the monitor is at depth 1.
    pub depth: u32,
    /// Live channels one process created.
    pub channels: u32,
    /// Live shm regions one process allocated.
    pub regions: u32,
    /// Arena bytes one process's channels and regions take, in all.
    pub arena_bytes: u32,
    /// Capability table entries one process holds.
    pub caps: u32,
    /// Log lines one process may write a second; the rest are counted
    /// and reported in one `suppressed` event per second.
    pub log_lines: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        // Well below what a hosted kernel bears (a process is a fiber and an
        // instance, no thread: 10,000 idle ones run in one kernel, see
        // `cargo bench -p tidemark-hosted -- idle`): the limit, not the
        // host, says no. Raise it in the board manifest's `[limits]`.
        Limits {
            processes: 1024,
            children: 256,
            depth: 16,
            channels: 64,
            regions: 64,
            arena_bytes: 16 << 20,
            caps: caps::MAX_CAPS as u32,
            log_lines: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            arena_size: 1 << 20,
            arena_budget: 64 << 20,
            package_slots: PackageCache::DEFAULT_SLOTS,
            max_package: 64 << 20,
            memory_limit: 16 << 20,
            event_capacity: 4096,
            max_frame: 1 << 20,
            max_state: lifecycle::MAX_STATE,
            max_recording: 4 << 20,
            ended_kept: 256,
            crash_dumps: true,
            limits: Limits::default(),
            display: None,
        }
    }
}

/// The kernel's monotonic clock, as [`Kernel::now`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct Time {
    clock: fn() -> u64,
    boot_ns: u64,
}

impl Time {
    /// ns since the kernel booted.
    pub fn now(&self) -> u64 {
        (self.clock)().saturating_sub(self.boot_ns)
    }
}

/// A process as the kernel knows it.
pub struct Process {
    /// Pid.
    pub pid: Pid,
    /// Display name.
    pub name: String,
    /// Package it runs.
    pub package: String,
    /// Hash of the module it runs.
    pub hash: Hash,
    /// The module's bytes (kept for a reload's rollback, even if evicted).
    pub module: Arc<[u8]>,
    /// Classes granted.
    pub classes: Classes,
    /// Ceiling on classes set at spawn (reloads stay within it).
    pub allowed: Classes,
    /// Capability table.
    pub caps: CapTable,
    /// Spawn arguments.
    pub args: Vec<u8>,
    /// Linear memory cap in bytes.
    pub memory_limit: usize,
    /// Linear memory in use, as last reported by the engine.
    pub memory_used: usize,
    /// State; change it with [`Process::enter`].
    pub state: ProcState,
    /// When it entered `state` (ns since boot).
    pub since_ns: u64,
    /// Parent process (0: spawned by the kernel/monitor).
    pub parent: Pid,
    /// Spawn time (ns since boot).
    pub started_ns: u64,
    /// Counters.
    pub counters: Counters,
    /// Hot reloads so far.
    pub reloads: u32,
    /// State handed over by the previous instance (read with `proc_state`).
    pub state_blob: Vec<u8>,
    /// A reload on trial: what to put back if the new module fails first.
    pub trial: Option<lifecycle::Trial>,
    /// A kill was asked for: an engine still starting the process stops it
    /// at its first safe point (a kill may arrive before the engine knows it).
    pub kill_requested: bool,
    /// Log lines this second, and lines dropped past the rate.
    pub log: quota::LogBudget,
    /// A `pkg_resolve` parked on a fetch: its hash, and the error once the
    /// fetch failed (the retried call returns it).
    pub resolving: Option<(Hash, Option<Error>)>,
    /// The channel a `ChildExit` frame goes to when a child ends (`proc_watch`).
    pub watch: Option<u32>,
    /// Its hostcalls so far, when spawned with `record`.
    pub recording: Option<record::Recorder>,
}

impl Process {
    /// Moves to `state`, noting when (`since_ns`, read from `now` only
    /// then) only when it differs: a process retrying a hostcall in a loop
    /// keeps its first time, and a yield is still running (no clock read
    /// on the way in or out).
    #[inline]
    pub fn enter(&mut self, state: ProcState, now: impl FnOnce() -> u64) {
        let running = |s: &ProcState| matches!(s, ProcState::Running | ProcState::Blocked(Wait::Yield));
        if self.state == state {
            return;
        }
        if !(running(&self.state) && running(&state)) {
            self.since_ns = now();
        }
        self.state = state;
    }
}

/// A capability granted at spawn.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Name the guest looks it up by.
    pub name: String,
    /// Object.
    pub object: Object,
    /// Rights.
    pub rights: Rights,
}

/// A spawn request.
#[derive(Clone, Debug)]
pub struct SpawnSpec {
    /// Package name (or full hex hash) in the cache.
    pub package: String,
    /// Display name (default: the package name).
    pub name: Option<String>,
    /// Arguments the guest reads with `proc_args`.
    pub args: Vec<u8>,
    /// Capabilities to grant.
    pub grants: Vec<Grant>,
    /// Ceiling on classes: the process gets what its manifest asks, within this.
    pub allowed: Classes,
    /// Linear memory cap (default: the config's).
    pub memory_limit: Option<usize>,
    /// Parent.
    pub parent: Pid,
    /// Record its boundary ([`record`]).
    pub record: bool,
}

impl SpawnSpec {
    /// Spawn `package` with every class allowed, no grants, no args.
    pub fn new(package: &str) -> SpawnSpec {
        SpawnSpec {
            package: package.into(),
            name: None,
            args: Vec::new(),
            grants: Vec::new(),
            allowed: Classes::ALL,
            memory_limit: None,
            parent: KERNEL_PID,
            record: false,
        }
    }
    /// Sets the display name.
    pub fn name(mut self, name: &str) -> SpawnSpec {
        self.name = Some(name.into());
        self
    }
    /// Sets the arguments.
    pub fn args(mut self, args: &[u8]) -> SpawnSpec {
        self.args = args.to_vec();
        self
    }
    /// Adds a grant.
    pub fn grant(mut self, name: &str, object: Object, rights: Rights) -> SpawnSpec {
        self.grants.push(Grant {
            name: name.into(),
            object,
            rights,
        });
        self
    }
    /// Sets the class ceiling.
    pub fn allow(mut self, classes: Classes) -> SpawnSpec {
        self.allowed = classes;
        self
    }
    /// Sets the memory cap.
    pub fn memory_limit(mut self, bytes: usize) -> SpawnSpec {
        self.memory_limit = Some(bytes);
        self
    }
}

/// What the engine must instantiate after a spawn.
#[derive(Clone, Debug)]
pub struct Spawned {
    /// New pid.
    pub pid: Pid,
    /// Module hash (engines cache compiled modules by it).
    pub hash: Hash,
    /// Module bytes.
    pub bytes: Arc<[u8]>,
    /// Classes granted: hostcalls of other classes are linked to stubs.
    pub classes: Classes,
    /// Linear memory cap in bytes.
    pub memory_limit: usize,
    /// Its hostcalls are recorded: the engine routes even the local ones
    /// through [`Kernel::hostcall`].
    pub recorded: bool,
}

/// Why a spawn failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// No such package in the cache.
    NoPackage(String),
    /// The module's manifest is malformed.
    Manifest(manifest::ManifestError),
    /// A grant names an object that does not exist.
    NoObject(Object),
    /// The capability table is full.
    Caps(Error),
    /// No live process with this pid (reload).
    NoProcess(Pid),
    /// A process limit was reached: which, and its value.
    Limit(&'static str, u32),
    /// `Tidemark.lock` pins this name to another hash.
    Locked {
        /// Package name.
        name: String,
        /// Hash the lock gives.
        expected: Hash,
        /// Hash of the module offered.
        found: Hash,
    },
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::NoPackage(p) => write!(f, "no package `{p}` in the cache"),
            SpawnError::Manifest(e) => write!(f, "{e}"),
            SpawnError::NoObject(o) => write!(f, "grant names a missing object {o:?}"),
            SpawnError::Caps(e) => write!(f, "capability table: {e}"),
            SpawnError::NoProcess(p) => write!(f, "no live process {p}"),
            SpawnError::Limit(what, n) => write!(f, "limit reached: {what} ({n})"),
            SpawnError::Locked {
                name,
                expected,
                found,
            } => write!(
                f,
                "`{name}` is locked to sha256:{} by Tidemark.lock, but the module is sha256:{} \
                 (run `tidemark lock` to accept the new build)",
                expected.hex(),
                found.hex()
            ),
        }
    }
}

/// What a hostcall did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value to the guest.
    Return(i64),
    /// Park the process until woken, then retry the same call.
    Block(Wait),
    /// End the process with this code.
    Exit(i32),
}

/// Work for the engine, collected while the kernel ran.
#[derive(Debug, Default)]
pub struct Effects {
    /// Parked processes to wake (they retry their hostcall).
    pub wake: Vec<Pid>,
    /// Processes to kill.
    pub kill: Vec<Pid>,
    /// Processes to instantiate.
    pub spawn: Vec<Spawned>,
    /// Attachments made with a descriptor: an engine that maps rings into
    /// guests maps this one into `pid` and patches the descriptor.
    pub attached: Vec<Attached>,
    /// Bytes to get from the package server; the answer goes to
    /// [`Kernel::deliver`] or [`Kernel::load_catalog`]. An engine that
    /// cannot fetch leaves them to the workbench (each is also an event).
    pub fetch: Vec<resolve::Fetch>,
}

/// A `chan_attach` that handed the guest a descriptor ([`Effects::attached`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The attaching process.
    pub pid: Pid,
    /// The channel.
    pub channel: u32,
    /// Where the descriptor lies in the guest's memory.
    pub descriptor: u32,
}

impl Effects {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.wake.is_empty()
            && self.kill.is_empty()
            && self.spawn.is_empty()
            && self.attached.is_empty()
            && self.fetch.is_empty()
    }
}

/// The kernel.
pub struct Kernel {
    config: Config,
    clock: fn() -> u64,
    boot_ns: u64,
    next_pid: Pid,
    next_object: u32,
    /// Boxed: a node of the map then moves pointers, not processes.
    procs: BTreeMap<Pid, alloc::boxed::Box<Process>>,
    /// Processes not ended, and how many of those each parent has: what
    /// the process limits count, kept as processes start and end so a
    /// spawn does not walk every process the boot has seen.
    live: u32,
    live_children: BTreeMap<Pid, u32>,
    /// Ended processes still listed, longest ended first, and how many
    /// listed processes each parent has: what forgetting ended processes
    /// ([`Config::ended_kept`]) goes by.
    ended: VecDeque<Pid>,
    listed_children: BTreeMap<Pid, u32>,
    channels: BTreeMap<u32, Channel>,
    /// Holders (capability entries) per region id.
    region_holders: BTreeMap<u32, u32>,
    arenas: Arenas,
    packages: PackageCache,
    resolver: resolve::Resolver,
    events: VecDeque<Event>,
    event_seq: u64,
    effects: Effects,
    unmap_hook: Option<alloc::boxed::Box<dyn FnMut(Pid, u32) + Send>>,
    /// The dump taken when a process last trapped.
    crash: Option<alloc::boxed::Box<tidemark_protocol::KernelDump>>,
    /// The board's framebuffer.
    display: Option<display::Display>,
}

impl Kernel {
    /// A kernel with `config`, reading a monotonic time in ns from `clock`.
    pub fn new(config: Config, clock: fn() -> u64) -> Kernel {
        let arenas = Arenas::new(config.arena_size, config.arena_budget);
        Kernel::with_arenas(config, clock, arenas)
    }

    fn with_arenas(config: Config, clock: fn() -> u64, arenas: Arenas) -> Kernel {
        let k = Kernel {
            arenas,
            packages: PackageCache::new(config.package_slots),
            resolver: resolve::Resolver::default(),
            config,
            clock,
            boot_ns: clock(),
            next_pid: 1,
            next_object: 1,
            procs: BTreeMap::new(),
            live: 0,
            live_children: BTreeMap::new(),
            ended: VecDeque::new(),
            listed_children: BTreeMap::new(),
            channels: BTreeMap::new(),
            region_holders: BTreeMap::new(),
            events: VecDeque::new(),
            event_seq: 0,
            effects: Effects::default(),
            unmap_hook: None,
            crash: None,
            display: None,
        };
        k
    }

    /// As [`Kernel::new`] with a platform's arena backing.
    /// Channel rings are then allocated on whole `page`s, so an engine can
    /// map each into a guest without exposing its neighbours.
    pub fn with_arena_backing(
        config: Config,
        clock: fn() -> u64,
        backing: fn(usize) -> alloc::boxed::Box<dyn arena::Backing>,
        page: usize,
    ) -> Kernel {
        let arenas = Arenas::with_backing(config.arena_size, config.arena_budget, backing, page);
        Kernel::with_arenas(config, clock, arenas)
    }

    /// Settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// ns since this kernel booted.
    pub fn now(&self) -> u64 {
        self.time().now()
    }

    /// The kernel's clock, to read without the kernel.
    pub fn time(&self) -> Time {
        Time {
            clock: self.clock,
            boot_ns: self.boot_ns,
        }
    }

    /// Adds hostcalls an engine answered on its own ([`hostcall::answer_local`])
    /// to `pid`'s counters.
    pub fn count_hostcalls(&mut self, pid: Pid, n: u64) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.counters.hostcalls += n;
        }
    }

    /// Sets what runs when a process loses sight of a region (its last
    /// attachment to a channel went): an engine that mapped the region into
    /// the process takes the mapping away here. It runs synchronously, under
    /// whatever lock guards the kernel, before the region can be freed or
    /// reused: a safety invariant, so not a deferred effect.
    pub fn set_unmap_hook(&mut self, hook: alloc::boxed::Box<dyn FnMut(Pid, u32) + Send>) {
        self.unmap_hook = Some(hook);
    }

    pub(crate) fn unmapped(&mut self, pid: Pid, region: u32) {
        if pid != KERNEL_PID {
            if let Some(h) = self.unmap_hook.as_mut() {
                h(pid, region);
            }
        }
    }

    /// Takes the work accumulated for the engine.
    pub fn take_effects(&mut self) -> Effects {
        core::mem::take(&mut self.effects)
    }

    fn object_id(&mut self) -> u32 {
        let id = self.next_object;
        self.next_object += 1;
        id
    }

    fn event(&mut self, kind: EventKind) {
        self.event_seq += 1;
        let e = Event {
            seq: self.event_seq,
            time_ns: self.now(),
            kind,
        };
        if self.events.len() >= self.config.event_capacity {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Events with a sequence number greater than `after`.
    pub fn events_since(&self, after: u64) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.seq > after)
    }

    // ----- packages -----

    /// Installs module bytes into the package cache (`TooLarge` past
    /// [`Config::max_package`]).
    pub fn install(&mut self, name: &str, bytes: Arc<[u8]>, pinned: bool) -> Result<Hash, Error> {
        if bytes.len() > self.config.max_package {
            return Err(Error::TooLarge);
        }
        self.packages.insert(name, bytes, pinned)
    }

    /// The package cache.
    pub fn packages(&self) -> &PackageCache {
        &self.packages
    }

    /// The package cache, mutably (pin, evict).
    pub fn packages_mut(&mut self) -> &mut PackageCache {
        &mut self.packages
    }

    // ----- processes -----

    /// Creates a process from a cached package. The engine must then
    /// instantiate it and report [`Kernel::started`] or [`Kernel::exit`].
    pub fn spawn(&mut self, spec: SpawnSpec) -> Result<Spawned, SpawnError> {
        let recorded = spec.record;
        // A process being killed spawns nothing: a tree kill then catches
        // every member (see `descendants`).
        if spec.parent != KERNEL_PID
            && self
                .procs
                .get(&spec.parent)
                .is_none_or(|p| p.kill_requested || !p.state.is_live())
        {
            return Err(SpawnError::NoProcess(spec.parent));
        }
        if let Err((limit, value)) = self.check_limits(spec.parent) {
            self.event(EventKind::LimitReached {
                pid: spec.parent,
                limit: limit.into(),
                value,
            });
            return Err(SpawnError::Limit(limit, value));
        }
        let pkg = self
            .packages
            .resolve(&spec.package)
            .ok_or_else(|| SpawnError::NoPackage(spec.package.clone()))?
            .clone();
        self.check_lock(&pkg.name, pkg.hash)?;
        let manifest = manifest::parse(&pkg.bytes).map_err(SpawnError::Manifest)?;
        for g in &spec.grants {
            if !self.object_exists(g.object) {
                return Err(SpawnError::NoObject(g.object));
            }
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        let classes = manifest.classes.and(spec.allowed);
        let memory_limit = spec.memory_limit.unwrap_or(self.config.memory_limit);
        self.procs.insert(
            pid,
            alloc::boxed::Box::new(Process {
                pid,
                name: spec.name.clone().unwrap_or_else(|| pkg.name.clone()),
                package: pkg.name.clone(),
                hash: pkg.hash,
                module: pkg.bytes.clone(),
                classes,
                allowed: spec.allowed,
                caps: CapTable::default(),
                args: spec.args,
                memory_limit,
                memory_used: 0,
                state: ProcState::Starting,
                since_ns: self.now(),
                parent: spec.parent,
                started_ns: self.now(),
                counters: Counters::default(),
                reloads: 0,
                state_blob: Vec::new(),
                trial: None,
                kill_requested: false,
                resolving: None,
                watch: None,
                recording: recorded.then(record::Recorder::default),
                log: quota::LogBudget::default(),
            }),
        );
        for g in spec.grants {
            if let Err(e) = self.grant(pid, &g.name, g.object, g.rights) {
                self.procs.remove(&pid);
                return Err(SpawnError::Caps(e));
            }
        }
        self.live += 1;
        *self.live_children.entry(spec.parent).or_default() += 1;
        *self.listed_children.entry(spec.parent).or_default() += 1;
        self.event(EventKind::Spawned {
            pid,
            package: pkg.name.clone(),
        });
        Ok(Spawned {
            pid,
            hash: pkg.hash,
            bytes: pkg.bytes,
            classes,
            memory_limit,
            recorded,
        })
    }

    /// The limit a spawn by `parent` would pass, and its value.
    fn check_limits(&self, parent: Pid) -> Result<(), (&'static str, u32)> {
        let l = self.config.limits;
        if self.live >= l.processes {
            return Err(("processes", l.processes));
        }
        if parent != KERNEL_PID && self.live_children.get(&parent).copied().unwrap_or(0) >= l.children {
            return Err(("children of one process", l.children));
        }
        let mut depth = 1;
        let mut at = parent;
        while let Some(p) = self.procs.get(&at).filter(|_| at != KERNEL_PID) {
            depth += 1;
            at = p.parent;
            if depth > l.depth {
                return Err(("spawn depth", l.depth));
            }
        }
        Ok(())
    }

    /// `pid`'s live descendants, each listed before its own descendants.
    pub fn descendants(&self, pid: Pid) -> Vec<Pid> {
        let mut out = Vec::new();
        let mut frontier = alloc::vec![pid];
        while let Some(p) = frontier.pop() {
            // Through ended processes too: a killed parent's children live on.
            for c in self.procs.values().filter(|c| c.parent == p && c.pid != p) {
                if !matches!(c.state, ProcState::Ended(_)) {
                    out.push(c.pid);
                }
                frontier.push(c.pid);
            }
        }
        out
    }

    /// The engine reports that `pid` is about to run its first instruction.
    pub fn started(&mut self, pid: Pid) {
        let now = self.now();
        if let Some(p) = self.procs.get_mut(&pid) {
            if p.state == ProcState::Starting {
                p.enter(ProcState::Running, || now);
            }
        }
    }

    /// The engine reports how much linear memory `pid` uses.
    pub fn report_memory(&mut self, pid: Pid, bytes: usize) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.memory_used = bytes;
        }
    }

    /// Ends a process: releases its capabilities (revoking what it
    /// delegated) and attachments, and records how it ended.
    pub fn exit(&mut self, pid: Pid, exit: Exit) {
        let now = self.now();
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        if matches!(p.state, ProcState::Ended(_)) {
            return;
        }
        p.enter(ProcState::Ended(exit.clone()), || now);
        p.trial = None;
        let parent = p.parent;
        if let Exit::Trap(t) = &exit {
            // Before its capabilities and attachments go: the dump shows
            // what it held when it trapped.
            if self.config.crash_dumps {
                let name = self.procs[&pid].name.clone();
                let reason = alloc::format!("pid {pid} `{name}` trapped: {t}");
                self.crash = Some(alloc::boxed::Box::new(self.dump(&reason, true)));
            }
        }
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        self.live -= 1;
        if let Some(n) = self.live_children.get_mut(&parent) {
            *n -= 1;
            if *n == 0 {
                self.live_children.remove(&parent);
            }
        }
        let handles: Vec<Handle> = p.caps.iter().map(|(h, _)| h).collect();
        for h in handles {
            self.remove_cap(CapRef { pid, handle: h });
        }
        self.detach_all(pid);
        self.report_suppressed(pid);
        for c in self.channels.values_mut() {
            c.readers_waiting.retain(|w| *w != pid);
            c.writers_waiting.retain(|w| *w != pid);
        }
        self.notify_parent(pid, &exit);
        self.event(EventKind::Ended { pid, exit });
        self.ended.push_back(pid);
        self.forget_ended();
    }

    /// Forgets the longest-ended processes past [`Config::ended_kept`],
    /// skipping any that a listed process names as its parent.
    fn forget_ended(&mut self) {
        while self.ended.len() > self.config.ended_kept {
            let Some(at) = self
                .ended
                .iter()
                .position(|pid| !self.listed_children.contains_key(pid))
            else {
                return;
            };
            let pid = self.ended.remove(at).expect("found");
            let Some(p) = self.procs.remove(&pid) else {
                continue;
            };
            if let Some(n) = self.listed_children.get_mut(&p.parent) {
                *n -= 1;
                if *n == 0 {
                    self.listed_children.remove(&p.parent);
                }
            }
        }
    }

    /// Asks the engine to kill `pid`.
    pub fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        match self.procs.get_mut(&pid) {
            Some(p) if !matches!(p.state, ProcState::Ended(_)) => {
                p.kill_requested = true;
                self.effects.kill.push(pid);
                Ok(())
            }
            Some(_) => Err(Error::Closed),
            None => Err(Error::NotFound),
        }
    }

    /// Asks the engine to kill `pid`'s live descendants, in one step: a
    /// process being killed spawns nothing, so none escapes (a spawn bomb's
    /// children included). Returns them.
    pub fn kill_descendants(&mut self, pid: Pid) -> Vec<Pid> {
        let ds = self.descendants(pid);
        for d in &ds {
            let _ = self.kill(*d);
        }
        ds
    }

    /// Marks `pid` as being killed by an engine that stops it itself (at
    /// the end of its turn): from now on it spawns nothing.
    pub fn killing(&mut self, pid: Pid) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.kill_requested = true;
        }
    }

    /// A process by pid.
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.procs.get(&pid).map(|p| &**p)
    }

    /// All processes, live and ended, by pid.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.values().map(|p| &**p)
    }

    fn live(&self, pid: Pid) -> Result<&Process, Error> {
        match self.procs.get(&pid) {
            Some(p) if !matches!(p.state, ProcState::Ended(_)) => Ok(p),
            _ => Err(Error::NotFound),
        }
    }

    // ----- capabilities -----

    fn object_exists(&self, o: Object) -> bool {
        match o {
            Object::Channel(id) => self.channels.get(&id).is_some_and(|c| !c.deleted),
            Object::Region(id) => self.arenas.region(id).is_some(),
        }
    }

    fn hold(&mut self, o: Object, delta: i32) {
        let n = match o {
            Object::Channel(id) => match self.channels.get_mut(&id) {
                Some(c) => {
                    c.holders = c.holders.saturating_add_signed(delta);
                    c.holders + u32::from(c.kernel_held)
                }
                None => return,
            },
            Object::Region(id) => {
                let h = self.region_holders.entry(id).or_default();
                *h = h.saturating_add_signed(delta);
                *h
            }
        };
        if n == 0 {
            self.destroy(o);
        }
    }

    fn destroy(&mut self, o: Object) {
        match o {
            Object::Channel(id) => {
                if let Some(c) = self.channels.remove(&id) {
                    for a in &c.attachments {
                        self.unmapped(a.pid, c.region);
                    }
                    self.arenas.free(c.region);
                    self.effects
                        .wake
                        .extend(c.readers_waiting.iter().chain(&c.writers_waiting));
                }
            }
            Object::Region(id) => {
                self.region_holders.remove(&id);
                self.arenas.free(id);
            }
        }
    }

    /// Gives `pid` a capability (the monitor's `grant`, and spawn grants).
    pub fn grant(
        &mut self,
        pid: Pid,
        name: &str,
        object: Object,
        rights: Rights,
    ) -> Result<Handle, Error> {
        self.insert_cap(
            pid,
            CapEntry {
                object,
                rights,
                name: name.into(),
                parent: None,
                children: Vec::new(),
            },
        )
    }

    fn insert_cap(&mut self, pid: Pid, entry: CapEntry) -> Result<Handle, Error> {
        if !self.object_exists(entry.object) {
            return Err(Error::Closed);
        }
        let object = entry.object;
        self.quota(pid, quota::Ask::Cap)?;
        let p = self
            .procs
            .get_mut(&pid)
            .filter(|p| !matches!(p.state, ProcState::Ended(_)))
            .ok_or(Error::NotFound)?;
        let h = p.caps.insert(entry)?;
        self.hold(object, 1);
        Ok(h)
    }

    /// Revokes `pid`'s capability `handle` and everything delegated from it
    /// (the monitor's `revoke`). Every copy of each handle is stale after.
    pub fn revoke(&mut self, pid: Pid, handle: Handle) -> Result<(), Error> {
        self.live(pid)?.caps.get(handle)?;
        self.remove_cap(CapRef { pid, handle });
        Ok(())
    }

    /// Revokes what was delegated from a capability, keeping it.
    pub fn revoke_children(&mut self, pid: Pid, handle: Handle) -> Result<usize, Error> {
        let p = self.procs.get_mut(&pid).ok_or(Error::NotFound)?;
        let children = core::mem::take(&mut p.caps.get_mut(handle)?.children);
        let n = children.len();
        for c in children {
            self.remove_cap(c);
        }
        Ok(n)
    }

    /// Removes one entry and, transitively, its delegated children.
    fn remove_cap(&mut self, r: CapRef) {
        let mut stack = alloc::vec![r];
        while let Some(r) = stack.pop() {
            let Some(p) = self.procs.get_mut(&r.pid) else {
                continue;
            };
            let Some(entry) = p.caps.remove(r.handle) else {
                continue;
            };
            stack.extend(entry.children.iter().copied());
            let still_held = p.caps.iter().any(|(_, e)| e.object == entry.object);
            if let Some(parent) = entry.parent {
                if let Some(pe) = self
                    .procs
                    .get_mut(&parent.pid)
                    .and_then(|pp| pp.caps.get_mut(parent.handle).ok())
                {
                    pe.children.retain(|c| *c != r);
                }
            }
            if !still_held {
                if let Object::Channel(id) = entry.object {
                    self.detach_channel(r.pid, id, None);
                }
            }
            self.hold(entry.object, -1);
        }
    }

    /// Delegates `from`'s capability to `to`, narrowed to `rights`.
    pub fn delegate(
        &mut self,
        from: Pid,
        handle: Handle,
        to: Pid,
        rights: Rights,
        name: &str,
    ) -> Result<Handle, Error> {
        let src = self.live(from)?.caps.get(handle)?.clone();
        if !src.rights.contains(Rights::GRANT) {
            return Err(Error::PermissionDenied);
        }
        self.live(to)?;
        let entry = CapEntry {
            object: src.object,
            rights: src.rights.and(rights),
            name: name.into(),
            parent: Some(CapRef { pid: from, handle }),
            children: Vec::new(),
        };
        let child = self.insert_cap(to, entry)?;
        self.procs
            .get_mut(&from)
            .expect("live")
            .caps
            .get_mut(handle)
            .expect("checked")
            .children
            .push(CapRef {
                pid: to,
                handle: child,
            });
        Ok(child)
    }

    // ----- regions -----

    /// Allocates a shared-memory region owned by `owner`, without granting it.
    pub fn alloc_region(&mut self, owner: Pid, size: usize, align: usize) -> Result<u32, Error> {
        self.quota(owner, quota::Ask::Region(size))?;
        let id = self.object_id();
        self.arenas
            .alloc(id, size, align, owner, arena::Purpose::Shm)?;
        self.region_holders.insert(id, 0);
        Ok(id)
    }

    /// Allocates a region owned by `owner` holding `bytes` (at least one
    /// byte long); it is freed when the last holder of a grant drops it.
    pub fn region_with(&mut self, owner: Pid, bytes: &[u8]) -> Result<u32, Error> {
        let id = self.alloc_region(owner, bytes.len().max(1), 8)?;
        let (base, len) = self.arenas.region_ptr(id).ok_or(Error::Closed)?;
        debug_assert!(len >= bytes.len());
        // SAFETY: the region was just allocated with at least this length.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), base, bytes.len()) };
        Ok(id)
    }

    /// Arenas, for introspection.
    pub fn arenas(&self) -> &Arenas {
        &self.arenas
    }
}

#[cfg(test)]
mod display_tests;
#[cfg(test)]
mod resolve_tests;
#[cfg(test)]
mod supervise_tests;
#[cfg(test)]
mod tests;
