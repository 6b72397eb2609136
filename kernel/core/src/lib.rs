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
pub mod channel;
pub mod hostcall;
pub mod manifest;
pub mod package;
pub mod snapshot;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

pub use tidemark_abi as abi;
use tidemark_abi::{Classes, Error, Handle, Rights};

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
    /// Default cap on a process's linear memory, in bytes.
    pub memory_limit: usize,
    /// Events kept for late readers.
    pub event_capacity: usize,
    /// Largest frame a `chan_read` copies through a bounce buffer (copying path).
    pub max_frame: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            arena_size: 1 << 20,
            arena_budget: 64 << 20,
            package_slots: PackageCache::DEFAULT_SLOTS,
            memory_limit: 16 << 20,
            event_capacity: 4096,
            max_frame: 1 << 20,
        }
    }
}

/// What a parked process waits for.
///
/// After `Readable`/`Writable` the engine retries the hostcall when woken;
/// after `Until`/`Yield` the call is complete and returns 0 once resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A frame on this channel.
    Readable(u32),
    /// Room on this channel.
    Writable(u32),
    /// This time (ns since boot).
    Until(u64),
    /// Nothing: the process yielded its slice.
    Yield,
}

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Returned from its entry point or called `proc_exit`.
    Code(i32),
    /// Trapped; the engine's description.
    Trap(String),
    /// Killed by another process or the monitor.
    Killed,
    /// Failed before its first instruction (compile, link or start).
    Failed(String),
}

/// A process's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Spawned, not yet started by the engine.
    Starting,
    /// Running (or runnable).
    Running,
    /// Parked in a hostcall.
    Blocked(Wait),
    /// Ended.
    Ended(Exit),
}

/// Per-process counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Hostcalls made.
    pub hostcalls: u64,
    /// Hostcalls refused for lack of a class or right.
    pub denials: u64,
    /// Frames written.
    pub frames_out: u64,
    /// Frames read.
    pub frames_in: u64,
    /// Times parked.
    pub parks: u64,
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
    /// State.
    pub state: ProcState,
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
        self.grants.push(Grant { name: name.into(), object, rights });
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
}

/// The module a process ran before a reload ([`Kernel::previous`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Previous {
    /// Module hash.
    pub hash: Hash,
    /// Package name.
    pub package: String,
    /// Classes granted.
    pub classes: Classes,
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
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::NoPackage(p) => write!(f, "no package `{p}` in the cache"),
            SpawnError::Manifest(e) => write!(f, "bad module manifest: {e:?}"),
            SpawnError::NoObject(o) => write!(f, "grant names a missing object {o:?}"),
            SpawnError::Caps(e) => write!(f, "capability table: {e}"),
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
}

impl Effects {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.wake.is_empty() && self.kill.is_empty() && self.spawn.is_empty()
    }
}

/// Something that happened, for the event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A guest's log line.
    Log {
        /// Writer.
        pid: Pid,
        /// Level.
        level: tidemark_abi::Level,
        /// Text.
        text: String,
    },
    /// A process was spawned.
    Spawned {
        /// Pid.
        pid: Pid,
        /// Package.
        package: String,
    },
    /// A process ended.
    Ended {
        /// Pid.
        pid: Pid,
        /// How.
        exit: Exit,
    },
    /// A hostcall was refused for lack of a class or right.
    Denied {
        /// Pid.
        pid: Pid,
        /// Hostcall name.
        hostcall: &'static str,
    },
    /// A process now runs a new module (hot reload), keeping its pid,
    /// capabilities and attachments.
    Reloaded {
        /// Pid.
        pid: Pid,
        /// Package.
        package: String,
        /// New module hash (hex).
        hash: String,
    },
    /// A reloaded process's new module failed before it served (trapped or
    /// exited with an error): the previous module runs again under the same
    /// pid, capabilities and attachments, with the state it handed over.
    RolledBack {
        /// Pid.
        pid: Pid,
        /// Package running again.
        package: String,
        /// Hash running again (hex).
        hash: String,
        /// Why the new module was given up (its trap or exit).
        reason: String,
    },
    /// A channel's ring failed validation.
    Corrupt {
        /// Channel id.
        channel: u32,
        /// What was wrong.
        what: &'static str,
    },
}

/// An event with its sequence number and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Monotonic sequence number.
    pub seq: u64,
    /// ns since boot.
    pub time_ns: u64,
    /// What happened.
    pub kind: EventKind,
}

/// The kernel.
pub struct Kernel {
    config: Config,
    clock: fn() -> u64,
    boot_ns: u64,
    next_pid: Pid,
    next_object: u32,
    procs: BTreeMap<Pid, Process>,
    channels: BTreeMap<u32, Channel>,
    /// Holders (capability entries) per region id.
    region_holders: BTreeMap<u32, u32>,
    arenas: Arenas,
    packages: PackageCache,
    events: VecDeque<Event>,
    event_seq: u64,
    effects: Effects,
    unmap_hook: Option<alloc::boxed::Box<dyn FnMut(Pid, u32) + Send>>,
}

impl Kernel {
    /// A kernel with `config`, reading a monotonic time in ns from `clock`.
    pub fn new(config: Config, clock: fn() -> u64) -> Kernel {
        Kernel {
            arenas: Arenas::new(config.arena_size, config.arena_budget),
            packages: PackageCache::new(config.package_slots),
            config,
            clock,
            boot_ns: clock(),
            next_pid: 1,
            next_object: 1,
            procs: BTreeMap::new(),
            channels: BTreeMap::new(),
            region_holders: BTreeMap::new(),
            events: VecDeque::new(),
            event_seq: 0,
            effects: Effects::default(),
            unmap_hook: None,
        }
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
        let mut k = Kernel::new(config, clock);
        k.arenas = Arenas::with_backing(k.config.arena_size, k.config.arena_budget, backing, page);
        k
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
        Time { clock: self.clock, boot_ns: self.boot_ns }
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
        let e = Event { seq: self.event_seq, time_ns: self.now(), kind };
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

    /// Installs module bytes into the package cache.
    pub fn install(&mut self, name: &str, bytes: Arc<[u8]>, pinned: bool) -> Result<Hash, Error> {
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
        let pkg = self.packages.resolve(&spec.package).ok_or_else(|| SpawnError::NoPackage(spec.package.clone()))?.clone();
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
            Process {
                pid,
                name: spec.name.clone().unwrap_or_else(|| pkg.name.clone()),
                package: pkg.name.clone(),
                hash: pkg.hash,
                classes,
                allowed: spec.allowed,
                caps: CapTable::default(),
                args: spec.args,
                memory_limit,
                memory_used: 0,
                state: ProcState::Starting,
                parent: spec.parent,
                started_ns: self.now(),
                counters: Counters::default(),
                reloads: 0,
                state_blob: Vec::new(),
            },
        );
        for g in spec.grants {
            if let Err(e) = self.grant(pid, &g.name, g.object, g.rights) {
                self.procs.remove(&pid);
                return Err(SpawnError::Caps(e));
            }
        }
        self.event(EventKind::Spawned { pid, package: pkg.name.clone() });
        Ok(Spawned { pid, hash: pkg.hash, bytes: pkg.bytes, classes, memory_limit })
    }

    /// The engine reports that `pid` is about to run its first instruction.
    pub fn started(&mut self, pid: Pid) {
        if let Some(p) = self.procs.get_mut(&pid) {
            if p.state == ProcState::Starting {
                p.state = ProcState::Running;
            }
        }
    }

    /// Resolves the module a live process would be reloaded with, without
    /// changing anything: the engine instantiates it and, if that works,
    /// swaps it in and calls [`Kernel::reloaded`].
    pub fn prepare_reload(&mut self, pid: Pid, package: &str) -> Result<Spawned, SpawnError> {
        let (allowed, memory_limit) = match self.live(pid) {
            Ok(p) => (p.allowed, p.memory_limit),
            Err(_) => return Err(SpawnError::Caps(Error::NotFound)),
        };
        let pkg = self.packages.resolve(package).ok_or_else(|| SpawnError::NoPackage(package.into()))?.clone();
        let manifest = manifest::parse(&pkg.bytes).map_err(SpawnError::Manifest)?;
        Ok(Spawned { pid, hash: pkg.hash, bytes: pkg.bytes, classes: manifest.classes.and(allowed), memory_limit })
    }

    /// The engine swapped `pid` to the module of `s`; `state` is what the old
    /// instance handed over.
    pub fn reloaded(&mut self, s: &Spawned, state: Vec<u8>) {
        let Some(p) = self.procs.get_mut(&s.pid) else { return };
        let package = self.packages.iter().find(|x| x.hash == s.hash).map_or_else(|| p.package.clone(), |x| x.name.clone());
        p.hash = s.hash;
        p.package = package.clone();
        p.classes = s.classes;
        p.state_blob = state;
        p.reloads += 1;
        p.state = ProcState::Running;
        let hash = s.hash.hex();
        self.event(EventKind::Reloaded { pid: s.pid, package, hash });
    }

    /// What `pid` runs now, for the engine to keep while a reload is on
    /// trial (see [`Kernel::rolled_back`]).
    pub fn previous(&self, pid: Pid) -> Option<Previous> {
        let p = self.procs.get(&pid)?;
        Some(Previous { hash: p.hash, package: p.package.clone(), classes: p.classes })
    }

    /// The engine gave up the module `pid` was reloaded with (it failed
    /// before serving) and runs `prev` again, handing it `state`: undoes
    /// [`Kernel::reloaded`] (hash, package, classes, reload count) and
    /// records why.
    pub fn rolled_back(&mut self, pid: Pid, prev: &Previous, state: Vec<u8>, reason: String) {
        let Some(p) = self.procs.get_mut(&pid) else { return };
        p.hash = prev.hash;
        p.package = prev.package.clone();
        p.classes = prev.classes;
        p.state_blob = state;
        p.reloads = p.reloads.saturating_sub(1);
        p.state = ProcState::Running;
        let (package, hash) = (prev.package.clone(), prev.hash.hex());
        self.event(EventKind::RolledBack { pid, package, hash, reason });
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
        let Some(p) = self.procs.get_mut(&pid) else { return };
        if matches!(p.state, ProcState::Ended(_)) {
            return;
        }
        p.state = ProcState::Ended(exit.clone());
        let handles: Vec<Handle> = p.caps.iter().map(|(h, _)| h).collect();
        for h in handles {
            self.remove_cap(CapRef { pid, handle: h });
        }
        self.detach_all(pid);
        for c in self.channels.values_mut() {
            c.readers_waiting.retain(|w| *w != pid);
            c.writers_waiting.retain(|w| *w != pid);
        }
        self.event(EventKind::Ended { pid, exit });
    }

    /// Asks the engine to kill `pid`.
    pub fn kill(&mut self, pid: Pid) -> Result<(), Error> {
        match self.procs.get(&pid) {
            Some(p) if !matches!(p.state, ProcState::Ended(_)) => {
                self.effects.kill.push(pid);
                Ok(())
            }
            Some(_) => Err(Error::Closed),
            None => Err(Error::NotFound),
        }
    }

    /// A process by pid.
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// All processes, live and ended, by pid.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
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
                    self.effects.wake.extend(c.readers_waiting.iter().chain(&c.writers_waiting));
                }
            }
            Object::Region(id) => {
                self.region_holders.remove(&id);
                self.arenas.free(id);
            }
        }
    }

    /// Gives `pid` a capability (the monitor's `grant`, and spawn grants).
    pub fn grant(&mut self, pid: Pid, name: &str, object: Object, rights: Rights) -> Result<Handle, Error> {
        self.insert_cap(pid, CapEntry { object, rights, name: name.into(), parent: None, children: Vec::new() })
    }

    fn insert_cap(&mut self, pid: Pid, entry: CapEntry) -> Result<Handle, Error> {
        if !self.object_exists(entry.object) {
            return Err(Error::Closed);
        }
        let object = entry.object;
        let p = self.procs.get_mut(&pid).filter(|p| !matches!(p.state, ProcState::Ended(_))).ok_or(Error::NotFound)?;
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
            let Some(p) = self.procs.get_mut(&r.pid) else { continue };
            let Some(entry) = p.caps.remove(r.handle) else { continue };
            stack.extend(entry.children.iter().copied());
            let still_held = p.caps.iter().any(|(_, e)| e.object == entry.object);
            if let Some(parent) = entry.parent {
                if let Some(pe) = self.procs.get_mut(&parent.pid).and_then(|pp| pp.caps.get_mut(parent.handle).ok()) {
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
    pub fn delegate(&mut self, from: Pid, handle: Handle, to: Pid, rights: Rights, name: &str) -> Result<Handle, Error> {
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
        self.procs.get_mut(&from).expect("live").caps.get_mut(handle).expect("checked").children.push(CapRef { pid: to, handle: child });
        Ok(child)
    }

    // ----- regions -----

    /// Allocates a shared-memory region owned by `owner`, without granting it.
    pub fn alloc_region(&mut self, owner: Pid, size: usize, align: usize) -> Result<u32, Error> {
        let id = self.object_id();
        self.arenas.alloc(id, size, align, owner, arena::Purpose::Shm)?;
        self.region_holders.insert(id, 0);
        Ok(id)
    }

    /// Arenas, for introspection.
    pub fn arenas(&self) -> &Arenas {
        &self.arenas
    }
}

#[cfg(test)]
mod tests;
