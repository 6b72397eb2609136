//! The hosted engine: Tidemark's kernel core running guests on wasmtime,
//! inside an ordinary host process.
//!
//! * One [`wasmtime::Store`] and one OS thread per process. The host
//!   scheduler preempts threads, so a guest spinning forever costs one core's
//!   share and never stalls the others (or the monitor). On top of that,
//!   epoch interruption gives every guest a safe point at each loop back-edge
//!   and function entry: a ticker bumps the epoch every [`SLICE`], at which a
//!   guest yields its thread, and a kill bumps it at once, at which the
//!   guest traps.
//! * Blocking is this engine's concern, not the core's: when a hostcall
//!   answers [`Outcome::Block`] the thread parks and, once the kernel lists
//!   the process in [`Effects::wake`], retries the call.
//! * Per-process memory limits are enforced by a resource limiter that traps
//!   the process with the reason when it grows past its cap.
//! * Hostcalls of classes a process lacks are linked to stubs that return
//!   `PermissionDenied` (and record the denial), never to a trap.
//! * Channels are zero-copy by default ([`window`]): arenas live in memfds
//!   and each attachment maps the ring into the process's own linear memory,
//!   where the SDK runs it with wasm atomics. [`Options::zero_copy`] off
//!   keeps every frame on the copying hostcalls (the path boards use).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use tidemark_abi::{Class, Classes, ENTRY_EXPORT, IMPORT_MODULE};
use tidemark_kernel::caps::CapTable;
use tidemark_kernel::hostcall::{answer_local, is_local};
use tidemark_kernel::package::Hash;
use tidemark_kernel::{Config, Effects, Exit, Kernel, Outcome, Pid, Previous, SpawnError, SpawnSpec, Spawned, Time, Wait};
use wasmtime::{Caller, Engine, Instance, InstancePre, Linker, Memory, Module, ResourceLimiter, Store, UpdateDeadline};

pub use tidemark_kernel as kernel;

pub mod monitor;
mod pool;
pub mod window;

use pool::Pool;
use window::{MemfdBacking, Window, Windows};

/// Time slice: how often the epoch ticks and a running guest yields its thread.
pub const SLICE: Duration = Duration::from_millis(10);

/// Retries of a would-block hostcall before the thread parks.
const SPIN_RETRIES: u32 = 8;
/// Spin-loop hints between retries (a few hundred ns).
const SPIN_LOOPS: u32 = 200;

/// Errors of the hosted engine.
#[derive(Debug)]
pub enum HostedError {
    /// The kernel refused the spawn.
    Spawn(SpawnError),
    /// The module did not compile or link; the process was recorded as failed.
    Module {
        /// The failed process.
        pid: Pid,
        /// Wasmtime's message.
        message: String,
    },
    /// A reload was refused: the new module failed before it could take
    /// over, and the old instance keeps running.
    Reload {
        /// The process.
        pid: Pid,
        /// Why.
        message: String,
    },
}

impl std::fmt::Display for HostedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostedError::Spawn(e) => write!(f, "spawn refused: {e}"),
            HostedError::Module { pid, message } => write!(f, "process {pid} failed to start: {message}"),
            HostedError::Reload { pid, message } => write!(f, "reload of process {pid} refused, the old instance keeps running: {message}"),
        }
    }
}

impl std::error::Error for HostedError {}

/// Why a guest's wasm stopped short of returning: carried through wasmtime
/// as the error of the host call or safe point that stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// It asked to end with a code (`proc_exit`).
    Exit(i32),
    /// It was killed.
    Killed,
    /// It is being swapped for a new module (hot reload).
    Reload,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Exit(code) => write!(f, "exit({code})"),
            Stop::Killed => f.write_str("killed"),
            Stop::Reload => f.write_str("reloading"),
        }
    }
}
impl std::error::Error for Stop {}

/// Per-process state inside its store.
pub struct ProcData {
    pid: Pid,
    shared: Arc<Shared>,
    memory: Option<Memory>,
    memory_limit: usize,
    killed: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    /// Address space added for channel windows (not counted against the limit).
    window_bytes: usize,
    /// The engine, not the guest, is growing memory (for a window).
    growing_window: bool,
    /// Local hostcalls (see [`local`]): a copy of the process's capability
    /// table, the table's change counter, and the count the copy was taken at.
    caps: CapTable,
    caps_version: Arc<AtomicU32>,
    caps_seen: u32,
    time: Time,
    /// Local hostcalls not yet added to the kernel's counters.
    uncounted: u32,
    /// A reloaded instance on trial: what to put back if it fails first.
    trial: Option<Trial>,
}

/// Local hostcalls answered between two additions to the kernel's counters.
const COUNT_BATCH: u32 = 4096;

impl ProcData {
    fn new(pid: Pid, shared: Arc<Shared>, memory_limit: usize, killed: Arc<AtomicBool>, reload: Arc<AtomicBool>) -> ProcData {
        let (caps_version, time) = {
            let k = shared.kernel.lock();
            (k.process(pid).map_or_else(Default::default, |p| p.caps.version()), k.time())
        };
        ProcData {
            pid,
            shared,
            memory: None,
            memory_limit,
            killed,
            reload,
            window_bytes: 0,
            growing_window: false,
            caps: CapTable::default(),
            caps_version,
            // Never a counter's value before the first look: the copy starts stale.
            caps_seen: u32::MAX,
            time,
            uncounted: 0,
            trial: None,
        }
    }

    /// Ends a trial, if one runs and `serving` or its time is up: the new
    /// module has proven itself, the previous one is let go.
    fn settle(&mut self, serving: bool) {
        if self.trial.as_ref().is_some_and(|t| serving || t.since.elapsed() >= TRIAL) {
            let t = self.trial.take().expect("checked");
            let _ = t.verdict.send(Ok(t.since));
        }
    }

    /// Hands the local hostcalls counted so far to the kernel (lock held).
    fn count_local(&mut self, k: &mut Kernel) {
        count_local(self.pid, &mut self.uncounted, k);
    }

    /// Why the process must stop at this safe point, if it must.
    fn stop_reason(&self) -> Option<wasmtime::Error> {
        if self.killed.load(Ordering::Acquire) {
            Some(wasmtime::Error::new(Stop::Killed))
        } else if self.reload.load(Ordering::Acquire) {
            Some(wasmtime::Error::new(Stop::Reload))
        } else {
            None
        }
    }
}

/// A new instance waiting to take over a process at its next safe point.
struct Successor {
    store: Store<ProcData>,
    instance: Instance,
    entry: Entry,
    spawned: Spawned,
    /// The module running now, kept for a rollback.
    previous: Previous,
    previous_pre: InstancePre<ProcData>,
    verdict: mpsc::Sender<Verdict>,
}

/// How a reload ended, sent by the process thread: when the new instance
/// took over (it has since proven itself), or why it was rolled back.
type Verdict = Result<Instant, String>;

/// How long a reloaded instance is on trial unless it blocks first: the
/// budget a start function gets ([`START_BUDGET`] slices). A Rust guest has
/// no start function; its setup runs in `tidemark_main` after the swap, so
/// it gets the same bound there. Setup (look-ups, attaches, restoring state)
/// takes micro- to milliseconds, and a guest that serves blocks in a
/// hostcall at once; one that computes longer without blocking is taken as
/// running, so `reload` answers within ~0.1 s and the previous module and
/// its state are not held any longer.
const TRIAL: Duration = Duration::from_millis(SLICE.as_millis() as u64 * START_BUDGET);

/// A reloaded instance on trial: until it blocks in a hostcall (it serves)
/// or has run for [`TRIAL`], a trap or an error exit puts `pre` back under
/// the same pid with `state`.
struct Trial {
    previous: Previous,
    pre: InstancePre<ProcData>,
    state: Vec<u8>,
    /// When the new instance took over.
    since: Instant,
    verdict: mpsc::Sender<Verdict>,
}

/// What a hot reload did.
#[derive(Clone, Debug)]
pub struct Reloaded {
    /// The process (same pid as before).
    pub pid: Pid,
    /// Hash of the module now running, as the kernel reports it.
    pub hash: Hash,
    /// Compile, link and instantiate, while the old instance runs on.
    pub prepare: Duration,
    /// From asking the old instance to stop at a safe point to the new one
    /// running (state handed over): the time the process does not serve.
    pub swap: Duration,
}

impl ResourceLimiter for ProcData {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if !self.growing_window && desired.saturating_sub(self.window_bytes) > self.memory_limit {
            return Err(wasmtime::Error::msg(format!(
                "memory limit exceeded: grow to {desired} bytes, limit {} bytes",
                self.memory_limit
            )));
        }
        self.shared.kernel.lock().report_memory(self.pid, desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

struct ProcHandle {
    thread: Thread,
    killed: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    successor: Arc<Mutex<Option<Successor>>>,
    /// Held through a reload, trial included: one reload at a time.
    reloading: Arc<Mutex<()>>,
}

struct Shared {
    engine: Engine,
    kernel: Mutex<Kernel>,
    linkers: Mutex<HashMap<Classes, Arc<Linker<ProcData>>>>,
    modules: Mutex<HashMap<Hash, Module>>,
    pres: Mutex<HashMap<(Hash, Classes), InstancePre<ProcData>>>,
    procs: Mutex<HashMap<Pid, ProcHandle>>,
    ended: Condvar,
    ended_lock: Mutex<()>,
    /// Channel windows (zero-copy kernels only).
    windows: Option<Arc<Windows>>,
    /// The threads processes run on.
    pool: Arc<Pool>,
    me: Weak<Shared>,
}

/// A booted hosted kernel. Dropping it kills every process and joins their threads.
pub struct Hosted {
    shared: Arc<Shared>,
    ticker_stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The wasmtime configuration every hosted kernel uses (a zero-copy kernel
/// adds its memory creator).
pub fn engine_config() -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    c.epoch_interruption(true);
    // `perf record` then names guest functions (wasmtime writes /tmp/perf-PID.map).
    if std::env::var("TIDEMARK_WASM_PROFILE").is_ok_and(|v| v == "perfmap") {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // Guests are built with +atomics: the SDK runs rings in place with them.
    c.wasm_threads(true);
    c
}

/// How a hosted kernel runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Map channel rings into guests (memfd arenas, fixed guest memories) so
    /// the SDK reads and writes frames in place; off: every frame goes
    /// through the copying hostcalls.
    pub zero_copy: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { zero_copy: true }
    }
}

macro_rules! link_catalogue {
    ($( $(#[doc = $doc:literal])* $num:literal $class:ident $name:ident ( $( $arg:ident : $ty:ident ),* ) -> $ret:ident ; )*) => {
        /// Links every hostcall: the real call for granted classes, a
        /// `PermissionDenied` stub for the rest.
        fn link(linker: &mut Linker<ProcData>, classes: Classes) -> wasmtime::Result<()> {
            $(
                if classes.has(Class::$class) {
                    linker.func_wrap(IMPORT_MODULE, stringify!($name),
                        |mut caller: Caller<'_, ProcData>, $($arg: $ty),*| -> wasmtime::Result<$ret> {
                            if is_local($num) {
                                return Ok(local(caller.data_mut(), $num, &[$($arg as i64),*]) as $ret);
                            }
                            dispatch(&mut caller, $num, &[$($arg as i64),*]).map(|v| v as $ret)
                        })?;
                } else {
                    linker.func_wrap(IMPORT_MODULE, stringify!($name),
                        |caller: Caller<'_, ProcData>, $($arg: $ty),*| -> $ret {
                            $( let _ = $arg; )*
                            let d = caller.data();
                            d.shared.kernel.lock().deny(d.pid, $num) as $ret
                        })?;
                }
            )*
            Ok(())
        }
    };
}

tidemark_abi::for_each_hostcall!(link_catalogue);

/// [`ProcData::count_local`], for callers holding a borrow of another field.
fn count_local(pid: Pid, uncounted: &mut u32, k: &mut Kernel) {
    if *uncounted > 0 {
        k.count_hostcalls(pid, u64::from(std::mem::take(uncounted)));
    }
}

/// Answers a local hostcall ([`is_local`]) without the kernel lock, from
/// the process's copy of its capability table, refreshed when the kernel's
/// table has changed since.
#[inline(always)]
fn local(d: &mut ProcData, number: u16, args: &[i64]) -> i64 {
    d.uncounted += 1;
    if d.caps_version.load(Ordering::Acquire) != d.caps_seen || d.uncounted >= COUNT_BATCH {
        sync_local(d);
    }
    let time = d.time;
    answer_local(&d.caps, d.pid, number, args, || time.now()).unwrap_or(0)
}

/// Takes a fresh copy of the table if it changed, and hands the count of
/// local hostcalls to the kernel.
#[cold]
#[inline(never)]
fn sync_local(d: &mut ProcData) {
    let mut k = d.shared.kernel.lock();
    let version = d.caps_version.load(Ordering::Acquire);
    if version != d.caps_seen {
        // Changes happen only under the lock: the copy matches `version`.
        d.caps_seen = version;
        d.caps = k.process(d.pid).map_or_else(CapTable::default, |p| p.caps.clone());
    }
    count_local(d.pid, &mut d.uncounted, &mut k);
}

/// Runs one hostcall for the calling process, parking it as the kernel asks.
fn dispatch(caller: &mut Caller<'_, ProcData>, number: u16, args: &[i64]) -> wasmtime::Result<i64> {
    let mut spins = 0;
    loop {
        let memory = caller.data().memory;
        let (mem, data): (&mut [u8], &mut ProcData) = match memory {
            Some(m) => m.data_and_store_mut(&mut *caller),
            None => (&mut [], caller.data_mut()),
        };
        let pid = data.pid;
        let (outcome, effects, remaining) = {
            let mut k = data.shared.kernel.lock();
            count_local(pid, &mut data.uncounted, &mut k);
            let o = k.hostcall(pid, number, args, mem);
            let remaining = match o {
                Outcome::Block(Wait::Until(t)) => t.saturating_sub(k.now()),
                _ => 0,
            };
            (o, k.take_effects(), remaining)
        };
        if !effects.is_empty() {
            data.shared.apply(effects);
        }
        match outcome {
            Outcome::Return(0) if number == tidemark_abi::nr::chan_attach && args[2] != 0 => {
                map_window(caller, args[2]);
                return Ok(0);
            }
            Outcome::Return(v) => return Ok(v),
            Outcome::Exit(code) => return Err(wasmtime::Error::new(Stop::Exit(code))),
            Outcome::Block(Wait::Yield) => {
                data.settle(false);
                thread::yield_now();
                return Ok(0);
            }
            Outcome::Block(Wait::Until(_)) => {
                data.settle(true);
                let deadline = Instant::now() + Duration::from_nanos(remaining);
                while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
                    if let Some(stop) = data.stop_reason() {
                        return Err(stop);
                    }
                    thread::park_timeout(left);
                }
                return Ok(0);
            }
            Outcome::Block(Wait::Readable(_) | Wait::Writable(_)) => {
                data.settle(true);
                // The other side is usually mid-hostcall on another core:
                // retry a few times before paying for a park and an unpark.
                // Busy-wait rather than yield: a yield can hand the core to a
                // compute-bound guest for a whole slice.
                if spins < SPIN_RETRIES {
                    spins += 1;
                    for _ in 0..SPIN_LOOPS {
                        std::hint::spin_loop();
                    }
                    continue;
                }
                thread::park();
                if let Some(stop) = data.stop_reason() {
                    return Err(stop);
                }
            }
        }
    }
}

/// After a successful `chan_attach`: maps the ring into the caller's memory
/// and patches the window's address into the descriptor it was given. Any
/// failure leaves `mapped_at` 0, and the SDK uses the copying hostcalls.
fn map_window(caller: &mut Caller<'_, ProcData>, desc_ptr: i64) {
    use tidemark_abi::{ChannelDescriptor, Wire};
    let shared = caller.data().shared.clone();
    let (Some(windows), Some(memory)) = (shared.windows.as_ref(), caller.data().memory) else { return };
    let pid = caller.data().pid;
    let at = desc_ptr as u32 as usize..(desc_ptr as u32 as usize).saturating_add(ChannelDescriptor::SIZE);
    let Some(mut desc) = memory.data(&*caller).get(at.clone()).map(ChannelDescriptor::decode) else { return };
    // The ring's region, when its arena can be mapped page by page.
    let mappable = |k: &Kernel| -> Option<tidemark_kernel::arena::Region> {
        let c = k.channel(desc.channel).filter(|c| c.attachments.iter().any(|a| a.pid == pid))?;
        let r = *k.arenas().region(c.region)?;
        let memfd = k.arenas().arena(r.arena)?.backing().as_any().is::<MemfdBacking>();
        (memfd && r.offset % window::PAGE == 0 && r.len % window::PAGE == 0).then_some(r)
    };
    let Some(region) = mappable(&shared.kernel.lock()) else { return };
    let base = memory.data_ptr(&*caller) as usize;
    let wasm_addr = match windows.existing(base, region.id) {
        Some(w) => w.wasm_addr,
        None => {
            let pages = window::window_pages(region.len);
            caller.data_mut().growing_window = true;
            let grown = memory.grow(&mut *caller, pages);
            caller.data_mut().growing_window = false;
            let Ok(old) = grown else { return };
            caller.data_mut().window_bytes += pages as usize * 65536;
            match u32::try_from(old * 65536) {
                Ok(a) => a,
                Err(_) => return,
            }
        }
    };
    // Map under the kernel lock, and only if the attachment is still there:
    // a revoke in between would otherwise leave a window without a capability.
    let mapped = {
        let k = shared.kernel.lock();
        match mappable(&k).filter(|r| r.id == region.id) {
            Some(r) => {
                let arena = k.arenas().arena(r.arena).expect("region's arena");
                let backing = arena.backing().as_any().downcast_ref::<MemfdBacking>().expect("checked mappable");
                let w = Window { pid, region: r.id, memory: base, wasm_addr, len: r.len, arena: r.arena, offset: r.offset, mapped: true };
                windows.map(backing, w).is_ok()
            }
            None => false,
        }
    };
    if mapped {
        desc.mapped_at = wasm_addr;
        if let Some(out) = memory.data_mut(&mut *caller).get_mut(at) {
            desc.encode(out);
        }
    }
}

impl Shared {
    fn arc(&self) -> Arc<Shared> {
        self.me.upgrade().expect("engine alive while its processes run")
    }

    /// Carries out what the kernel asked of the engine.
    fn apply(&self, effects: Effects) {
        if !effects.wake.is_empty() {
            let procs = self.procs.lock();
            for pid in effects.wake {
                if let Some(p) = procs.get(&pid) {
                    p.thread.unpark();
                }
            }
        }
        for pid in effects.kill {
            self.kill(pid);
        }
        for s in effects.spawn {
            let _ = self.start(s);
        }
    }

    fn kill(&self, pid: Pid) {
        if let Some(p) = self.procs.lock().get(&pid) {
            p.killed.store(true, Ordering::Release);
            p.thread.unpark();
        }
        // Reach a guest that is running wasm at its next safe point.
        self.engine.increment_epoch();
    }

    fn linker(&self, classes: Classes) -> wasmtime::Result<Arc<Linker<ProcData>>> {
        if let Some(l) = self.linkers.lock().get(&classes) {
            return Ok(l.clone());
        }
        let mut l = Linker::new(&self.engine);
        link(&mut l, classes)?;
        let l = Arc::new(l);
        self.linkers.lock().insert(classes, l.clone());
        Ok(l)
    }

    /// Compiles (cached by hash) and links (cached by hash and classes).
    fn prepare(&self, s: &Spawned) -> wasmtime::Result<InstancePre<ProcData>> {
        if let Some(pre) = self.pres.lock().get(&(s.hash, s.classes)) {
            return Ok(pre.clone());
        }
        let cached = self.modules.lock().get(&s.hash).cloned();
        let module = match cached {
            Some(m) => m,
            None => {
                let m = Module::new(&self.engine, &s.bytes)?;
                self.modules.lock().insert(s.hash, m.clone());
                m
            }
        };
        let pre = self.linker(s.classes)?.instantiate_pre(&module)?;
        self.pres.lock().insert((s.hash, s.classes), pre.clone());
        Ok(pre)
    }

    /// The instance-to-be of the module `pid` runs now (`previous`), kept
    /// through a reload's trial: cached since it was started, or prepared
    /// again from the package cache.
    fn pre_of(&self, pid: Pid, previous: &Previous) -> wasmtime::Result<InstancePre<ProcData>> {
        if let Some(pre) = self.pres.lock().get(&(previous.hash, previous.classes)) {
            return Ok(pre.clone());
        }
        let s = self.kernel.lock().prepare_reload(pid, &previous.hash.hex()).map_err(|e| wasmtime::Error::msg(e.to_string()))?;
        self.prepare(&s)
    }

    /// Starts a process the kernel has created: compile and link (cached),
    /// instantiate on the caller's thread, so every failure before the first
    /// instruction is reported to the spawner, then run the entry point on the
    /// process's own thread.
    fn start(&self, s: Spawned) -> Result<Pid, HostedError> {
        let pid = s.pid;
        let killed = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        let data = ProcData::new(pid, self.arc(), s.memory_limit, killed.clone(), reload.clone());
        let (store, instance, entry) = match self.prepare(&s).and_then(|pre| instantiate(pre, data)) {
            Ok(ready) => ready,
            Err(e) => {
                let message = format!("{e:#}");
                self.end(pid, Exit::Failed(message.clone()));
                return Err(HostedError::Module { pid, message });
            }
        };
        // Registration happens under the procs lock before the thread can
        // look itself up, so wake-ups and kills always find it.
        let mut procs = self.procs.lock();
        let successor = Arc::new(Mutex::new(None));
        let next = successor.clone();
        let thread = self.pool.run(format!("pid-{pid}"), Box::new(move || run(store, instance, entry, next)));
        procs.insert(pid, ProcHandle { thread, killed, reload, successor, reloading: Arc::default() });
        Ok(pid)
    }

    fn end(&self, pid: Pid, exit: Exit) {
        let effects = {
            let mut k = self.kernel.lock();
            k.exit(pid, exit);
            k.take_effects()
        };
        self.apply(effects);
        self.notify_ended();
    }

    /// Wakes threads waiting for a process to end or be reloaded.
    fn notify_ended(&self) {
        let _g = self.ended_lock.lock();
        self.ended.notify_all();
    }
}

/// Slices a module's start function may run before it is refused.
const START_BUDGET: u64 = 10;

type Entry = wasmtime::TypedFunc<(), ()>;

/// Creates the process's store and instance, up to its entry point.
fn instantiate(pre: InstancePre<ProcData>, data: ProcData) -> wasmtime::Result<(Store<ProcData>, Instance, Entry)> {
    let pid = data.pid;
    let shared = data.shared.clone();
    let mut store = Store::new(pre.module().engine(), data);
    store.limiter(|d| d);
    // The start function runs on the spawner's thread: bound it.
    store.set_epoch_deadline(START_BUDGET);
    store.epoch_deadline_callback(|_| Err(wasmtime::Error::msg("start function ran past its time budget")));
    let instance = pre.instantiate(&mut store)?;
    let memory = instance.get_memory(&mut store, "memory");
    store.data_mut().memory = memory;
    if let Some(m) = memory {
        let size = m.data_size(&store);
        shared.kernel.lock().report_memory(pid, size);
    }
    let entry = instance.get_typed_func::<(), ()>(&mut store, ENTRY_EXPORT)?;
    Ok((store, instance, entry))
}

/// Largest state a process may hand to its successor.
const MAX_STATE: usize = 1 << 20;

/// Calls the old instance's `tidemark_save`, if it has one, within the start
/// budget; returns the bytes it points at (empty when absent or misbehaving).
fn save_state(store: &mut Store<ProcData>, instance: &Instance) -> Vec<u8> {
    let Ok(save) = instance.get_typed_func::<(), i64>(&mut *store, tidemark_abi::SAVE_EXPORT) else { return Vec::new() };
    store.set_epoch_deadline(START_BUDGET);
    store.epoch_deadline_callback(|_| Err(wasmtime::Error::msg("state save ran past its time budget")));
    let Ok(packed) = save.call(&mut *store, ()) else { return Vec::new() };
    let (ptr, len) = ((packed as u64 >> 32) as usize, (packed as u64 & 0xFFFF_FFFF) as usize);
    let Some(memory) = store.data().memory else { return Vec::new() };
    let data = memory.data(&*store);
    match ptr.checked_add(len) {
        Some(end) if end <= data.len() && len <= MAX_STATE => data[ptr..end].to_vec(),
        _ => Vec::new(),
    }
}

/// Arms the store's safe points for running: yield every slice, stop for a
/// kill or a reload.
fn arm(store: &mut Store<ProcData>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        if let Some(stop) = ctx.data().stop_reason() {
            return Err(stop);
        }
        ctx.data_mut().settle(false);
        thread::yield_now();
        Ok(UpdateDeadline::Continue(1))
    });
}

/// A process thread: run the entry point, swap in successors on reload,
/// report the exit.
fn run(mut store: Store<ProcData>, mut instance: Instance, mut entry: Entry, successor: Arc<Mutex<Option<Successor>>>) {
    let pid = store.data().pid;
    let shared = store.data().shared.clone();
    shared.kernel.lock().started(pid);
    let exit = loop {
        arm(&mut store);
        let result = entry.call(&mut store, ());
        if matches!(&result, Err(e) if e.downcast_ref::<Stop>() == Some(&Stop::Reload)) {
            if let Some(next) = successor.lock().take() {
                // Reloads are one at a time; should a trial still run, its
                // instance got this far, which is proof enough.
                store.data_mut().settle(true);
                let state = save_state(&mut store, &instance);
                store.data().reload.store(false, Ordering::Release);
                {
                    let mut k = shared.kernel.lock();
                    store.data_mut().count_local(&mut k);
                    k.reloaded(&next.spawned, state.clone());
                }
                let old = std::mem::replace(&mut store, next.store);
                (instance, entry) = (next.instance, next.entry);
                store.data_mut().trial =
                    Some(Trial { previous: next.previous, pre: next.previous_pre, state, since: Instant::now(), verdict: next.verdict });
                shared.notify_ended();
                // Unmapping the old instance's memory is not part of the swap.
                drop(old);
                continue;
            }
        }
        let exit = match result {
            Ok(()) => Exit::Code(0),
            Err(e) => {
                if let Some(Stop::Exit(code)) = e.downcast_ref::<Stop>() {
                    Exit::Code(*code)
                } else if e.downcast_ref::<Stop>() == Some(&Stop::Killed) || store.data().killed.load(Ordering::Acquire) {
                    Exit::Killed
                } else {
                    Exit::Trap(format!("{e:#}"))
                }
            }
        };
        if let Some(trial) = store.data_mut().trial.take() {
            let reason = match &exit {
                Exit::Trap(r) => format!("trapped: {r}"),
                Exit::Code(c) if *c != 0 => format!("exited with code {c}"),
                // A clean exit is the module's own business; a kill is not
                // its failure.
                _ => {
                    let _ = trial.verdict.send(if exit == Exit::Killed { Err("killed during the reload".into()) } else { Ok(trial.since) });
                    break exit;
                }
            };
            match roll_back(store, trial, reason) {
                Ok(back) => {
                    (store, instance, entry) = back;
                    shared.notify_ended();
                    continue;
                }
                Err(failed) => {
                    shared.end(pid, failed);
                    return;
                }
            }
        }
        break exit;
    };
    store.data_mut().count_local(&mut shared.kernel.lock());
    drop(store);
    shared.end(pid, exit.clone());
    // A reload that never got to swap: tell whoever waits for it.
    if let Some(next) = successor.lock().take() {
        let _ = next.verdict.send(Err(format!("the process ended during the reload: {exit:?}")));
    }
}

/// Puts the module a reload replaced back under the same pid (capabilities
/// and attachments never left the process) after its successor failed on
/// trial for `reason`, hands it the state it had saved, and tells the
/// reloader. When even that fails, the exit to record.
fn roll_back(failed: Store<ProcData>, trial: Trial, reason: String) -> Result<(Store<ProcData>, Instance, Entry), Exit> {
    let mut failed = failed;
    let d = failed.data_mut();
    let (pid, shared, limit, killed, reload) = (d.pid, d.shared.clone(), d.memory_limit, d.killed.clone(), d.reload.clone());
    d.count_local(&mut shared.kernel.lock());
    drop(failed);
    let data = ProcData::new(pid, shared.clone(), limit, killed, reload);
    match instantiate(trial.pre, data) {
        Ok(back) => {
            shared.kernel.lock().rolled_back(pid, &trial.previous, trial.state, reason.clone());
            let _ = trial.verdict.send(Err(format!("the new module failed before serving and was rolled back: {reason}")));
            Ok(back)
        }
        Err(e) => {
            let message = format!("the new module {reason}, and the previous one could not be restarted: {e:#}");
            let _ = trial.verdict.send(Err(message.clone()));
            Err(Exit::Failed(message))
        }
    }
}

impl Hosted {
    /// Boots a hosted kernel with `config` and zero-copy channels.
    pub fn boot(config: Config) -> Hosted {
        Hosted::boot_with(config, Options::default())
    }

    /// Boots a hosted kernel with `config` and `options`.
    pub fn boot_with(config: Config, options: Options) -> Hosted {
        let mut wasm = engine_config();
        let (kernel, windows) = if options.zero_copy {
            let windows = Arc::new(Windows::default());
            wasm.with_host_memory(Arc::new(window::Creator { windows: windows.clone() }));
            // Memories never move, so windows mapped into them stay put.
            wasm.memory_may_move(false);
            wasm.memory_reservation(1 << 32);
            // wasmtime 48 assumes copy-on-write images only for its own mmap
            // memories (an `unreachable!` otherwise): initialise by copying.
            wasm.memory_init_cow(false);
            let mut k = Kernel::with_arena_backing(config, clock, window::memfd_backing, window::PAGE);
            let w = windows.clone();
            k.set_unmap_hook(Box::new(move |pid, region| w.unmap(pid, region)));
            (k, Some(windows))
        } else {
            (Kernel::new(config, clock), None)
        };
        let engine = Engine::new(&wasm).expect("wasmtime engine");
        let shared = Arc::new_cyclic(|me| Shared {
            engine: engine.clone(),
            kernel: Mutex::new(kernel),
            windows,
            linkers: Mutex::default(),
            modules: Mutex::default(),
            pres: Mutex::default(),
            procs: Mutex::default(),
            ended: Condvar::new(),
            ended_lock: Mutex::new(()),
            pool: Arc::default(),
            me: me.clone(),
        });
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let ticker = thread::Builder::new()
            .name("epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    thread::sleep(SLICE);
                    engine.increment_epoch();
                }
            })
            .expect("epoch thread");
        Hosted { shared, ticker_stop, ticker: Some(ticker) }
    }

    /// Whether channels are mapped into guests.
    pub fn zero_copy(&self) -> bool {
        self.shared.windows.is_some()
    }

    /// The channel windows mapped into `pid`'s instances (empty on the copying path).
    pub fn windows(&self, pid: Pid) -> Vec<Window> {
        self.shared.windows.as_ref().map_or_else(Vec::new, |w| w.of(pid))
    }

    /// The wasmtime engine (for baselines measured on the same configuration).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Locks the kernel. Engine work the kernel asks for while locked
    /// (wake-ups, kills) is carried out by [`Hosted::with_kernel`]; prefer it
    /// for anything but reading.
    pub fn kernel(&self) -> MutexGuard<'_, Kernel> {
        self.shared.kernel.lock()
    }

    /// Runs `f` on the kernel, then carries out the effects it produced.
    pub fn with_kernel<R>(&self, f: impl FnOnce(&mut Kernel) -> R) -> R {
        let (r, effects) = {
            let mut k = self.shared.kernel.lock();
            let r = f(&mut k);
            (r, k.take_effects())
        };
        self.shared.apply(effects);
        r
    }

    /// Installs a module into the package cache.
    pub fn install(&self, name: &str, bytes: &[u8]) -> Hash {
        self.kernel().install(name, Arc::from(bytes), false).expect("package cache full of pinned packages")
    }

    /// Spawns a process and starts its thread. Compile and link errors are
    /// returned here (and recorded as the process's exit); traps later are
    /// recorded as exits.
    pub fn spawn(&self, spec: SpawnSpec) -> Result<Pid, HostedError> {
        let s = self.kernel().spawn(spec).map_err(HostedError::Spawn)?;
        self.shared.start(s)
    }

    /// Hot-reloads process `pid` with `package` from the cache: the new
    /// module is compiled, linked and instantiated (its start function run)
    /// while the old one keeps running; only then is the old instance stopped
    /// at its next safe point, its `tidemark_save` export called, and the new
    /// one started under the same pid with the same capabilities and channel
    /// attachments. If the new module fails before that, the old one never
    /// stopped and the error is returned.
    ///
    /// The new instance is then on trial until it blocks in a hostcall (it
    /// serves) or has run for [`TRIAL`] (100 ms); this returns once the
    /// trial is over. If it traps or exits with an error code before then
    /// (a Rust guest's setup runs in `tidemark_main`, after the swap), the
    /// old module is instantiated again under the same pid, capabilities and
    /// attachments, gets the state it saved, the kernel records a
    /// `RolledBack` event and reports the old hash again, and the error is
    /// returned.
    pub fn reload(&self, pid: Pid, package: &str) -> Result<Reloaded, HostedError> {
        let t0 = Instant::now();
        let s = self.kernel().prepare_reload(pid, package).map_err(HostedError::Spawn)?;
        let (thread, killed, reload, slot, reloading) = {
            let procs = self.shared.procs.lock();
            let h = procs.get(&pid).ok_or(HostedError::Spawn(SpawnError::Caps(tidemark_abi::Error::NotFound)))?;
            (h.thread.clone(), h.killed.clone(), h.reload.clone(), h.successor.clone(), h.reloading.clone())
        };
        let _one_at_a_time = reloading.lock();
        let refuse = |message: String| HostedError::Reload { pid, message };
        let previous = self.kernel().previous(pid).ok_or_else(|| refuse("the process is gone".into()))?;
        let previous_pre =
            self.shared.pre_of(pid, &previous).map_err(|e| refuse(format!("the running module cannot be kept for a rollback: {e:#}")))?;
        let data = ProcData::new(pid, self.shared.clone(), s.memory_limit, killed, reload.clone());
        let (store, instance, entry) =
            self.shared.prepare(&s).and_then(|pre| instantiate(pre, data)).map_err(|e| refuse(format!("{e:#}")))?;
        let hash = s.hash;
        let (verdict, verdicts) = mpsc::channel();
        *slot.lock() = Some(Successor { store, instance, entry, spawned: s, previous, previous_pre, verdict });
        let prepare = t0.elapsed();
        let t1 = Instant::now();
        reload.store(true, Ordering::Release);
        thread.unpark();
        self.shared.engine.increment_epoch();
        let wait = Duration::from_secs(30);
        let deadline = Instant::now() + wait;
        let ended = || matches!(self.kernel().process(pid).map(|p| p.state.clone()), Some(tidemark_kernel::ProcState::Ended(_)));
        let verdict = loop {
            match verdicts.recv_timeout(Duration::from_millis(50)) {
                Ok(v) => break v,
                Err(RecvTimeoutError::Disconnected) => break Err("the process ended during the reload".into()),
                // It ended before its thread looked for a successor: nobody will.
                Err(RecvTimeoutError::Timeout) if ended() && slot.lock().take().is_some() => {
                    break Err("the process ended before it reached a safe point".into());
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(RecvTimeoutError::Timeout) if slot.lock().take().is_some() => {
                    reload.store(false, Ordering::Release);
                    break Err("the old instance did not reach a safe point in 30 s".into());
                }
                // Swapped: the trial ends within TRIAL of the new instance running.
                Err(RecvTimeoutError::Timeout) => {
                    break verdicts.recv_timeout(wait).unwrap_or_else(|_| Err("the new module's trial did not end".into()));
                }
            }
        };
        match verdict {
            Ok(swapped) => Ok(Reloaded { pid, hash, prepare, swap: swapped.saturating_duration_since(t1) }),
            Err(message) => Err(refuse(message)),
        }
    }

    /// Kills a process.
    pub fn kill(&self, pid: Pid) {
        self.shared.kill(pid);
    }

    /// Waits until `pid` has ended, up to `timeout`.
    pub fn wait(&self, pid: Pid, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.ended_lock.lock();
        loop {
            if let Some(tidemark_kernel::ProcState::Ended(e)) = self.kernel().process(pid).map(|p| p.state.clone()) {
                return Some(e);
            }
            if self.shared.ended.wait_until(&mut g, deadline).timed_out() {
                return match self.kernel().process(pid).map(|p| p.state.clone()) {
                    Some(tidemark_kernel::ProcState::Ended(e)) => Some(e),
                    _ => None,
                };
            }
        }
    }

    /// Kills every process and waits for their threads.
    pub fn shutdown(&mut self) {
        // Kill until nothing runs: a process may spawn a child while the
        // others are being killed. (Bounded, in case one never stops.)
        for _ in 0..10 {
            let pids: Vec<Pid> = self.shared.procs.lock().keys().copied().collect();
            let live: Vec<Pid> = {
                let k = self.kernel();
                pids.into_iter().filter(|p| !matches!(k.process(*p).map(|p| &p.state), Some(tidemark_kernel::ProcState::Ended(_)))).collect()
            };
            if live.is_empty() {
                break;
            }
            for pid in &live {
                self.shared.kill(*pid);
            }
            for pid in &live {
                self.wait(*pid, Duration::from_secs(5));
            }
        }
        self.shared.pool.close();
        self.ticker_stop.store(true, Ordering::Release);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        self.shutdown();
    }
}
