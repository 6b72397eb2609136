//! The hosted engine: Tidemark's kernel core running guests on wasmtime,
//! inside an ordinary host process.
//!
//! * One [`wasmtime::Store`] per process, run as an async call (a fiber) by
//!   a scheduler of a few worker threads, one per core (`sched`). Epoch
//!   interruption gives every guest a safe point at each loop back-edge and
//!   function entry: a ticker bumps the epoch every [`SLICE`], at which a
//!   guest yields its worker to the next process waiting, and a kill bumps
//!   it at once, at which the guest traps. A guest spinning forever costs
//!   its share of the workers and never stalls the others (or the monitor,
//!   which runs on threads of its own).
//! * Blocking is this engine's concern, not the core's: when a hostcall
//!   answers [`Outcome::Block`] the process's fiber is suspended (it costs
//!   no thread) and, once the kernel lists the process in
//!   [`Effects::wake`], it is queued again and retries the call.
//! * Per-process memory limits are enforced by a resource limiter that traps
//!   the process with the reason when it grows past its cap.
//! * Hostcalls of classes a process lacks are linked to stubs that return
//!   `PermissionDenied` (and record the denial), never to a trap.
//! * Channels are zero-copy by default ([`window`]): arenas live in memfds
//!   and each attachment maps the ring into the process's own linear memory,
//!   where the SDK runs it with wasm atomics. [`Options::zero_copy`] off
//!   keeps every frame on the copying hostcalls (the path boards use).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use tidemark_kernel::lifecycle::EngineError;
use tidemark_kernel::package::Hash;
use tidemark_kernel::{Config, Exit, Kernel, Pid, SpawnSpec};
use wasmtime::Engine;

pub use tidemark_kernel as kernel;
pub use tidemark_kernel::lifecycle::ReloadReport as Reloaded;

mod calls;
pub mod monitor;
mod proc;
mod reload;
pub mod replay;
mod sched;
mod shared;
mod stacks;
pub mod window;

use shared::Shared;
use window::{Window, Windows};

/// Time slice: how often the epoch ticks and a running guest yields its thread.
pub const SLICE: Duration = Duration::from_millis(10);

/// Errors of the hosted engine: the core's one lifecycle error.
pub type HostedError = EngineError;

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
    /// Worker threads processes run on (at least one): by default one per core.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            zero_copy: true,
            workers: thread::available_parallelism().map_or(2, |n| n.get()),
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
        // Fiber stacks are reused warm from one process to the next.
        wasm.with_host_stack(Arc::new(stacks::Stacks::default()));
        let (kernel, windows) = if options.zero_copy {
            let windows = Arc::new(Windows::default());
            wasm.with_host_memory(Arc::new(window::Creator {
                windows: windows.clone(),
            }));
            // Memories never move, so windows mapped into them stay put.
            wasm.memory_may_move(false);
            wasm.memory_reservation(1 << 32);
            // wasmtime 48 assumes copy-on-write images only for its own mmap
            // memories (an `unreachable!` otherwise): initialise by copying.
            wasm.memory_init_cow(false);
            let mut k =
                Kernel::with_arena_backing(config, clock, window::memfd_backing, window::PAGE);
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
            sched: sched::Scheduler::new(options.workers),
            fetcher: tidemark_fetch::Fetcher::default(),
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
        Hosted {
            shared,
            ticker_stop,
            ticker: Some(ticker),
        }
    }

    /// Whether channels are mapped into guests.
    pub fn zero_copy(&self) -> bool {
        self.shared.windows.is_some()
    }

    /// The channel windows mapped into `pid`'s instances (empty on the copying path).
    pub fn windows(&self, pid: Pid) -> Vec<Window> {
        self.shared
            .windows
            .as_ref()
            .map_or_else(Vec::new, |w| w.of(pid))
    }

    /// Copies of the linear memories of `pids`, each taken by the process
    /// itself at its next safe point (the end of a slice, or a wake while
    /// parked: its memory stands still there), within `within`; why not,
    /// for each that did not answer in time or is not running here.
    pub fn guest_memories(
        &self,
        pids: &[Pid],
        within: Duration,
    ) -> Vec<(Pid, Result<Vec<u8>, String>)> {
        static REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = REQUEST.fetch_add(1, Ordering::Relaxed);
        let asked: Vec<(Pid, Option<(Arc<proc::Control>, std::sync::mpsc::Receiver<Vec<u8>>)>)> = {
            let procs = self.shared.procs.lock();
            pids.iter()
                .map(|&pid| {
                    let asked = procs.get(&pid).map(|h| {
                        let (tx, rx) = std::sync::mpsc::channel();
                        h.control.memory_to.lock().push((id, tx));
                        h.control.memory_wanted.store(true, Ordering::Release);
                        h.control.signal.notify();
                        (h.control.clone(), rx)
                    });
                    (pid, asked)
                })
                .collect()
        };
        let deadline = Instant::now() + within;
        asked
            .into_iter()
            .map(|(pid, asked)| {
                let Some((control, rx)) = asked else {
                    return (pid, Err("it is not running on this engine".into()));
                };
                let got = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
                // Not answered: take this request back (only this one).
                let mut waiting = control.memory_to.lock();
                waiting.retain(|(i, _)| *i != id);
                if waiting.is_empty() {
                    control.memory_wanted.store(false, Ordering::Release);
                }
                (
                    pid,
                    got.map_err(|_| {
                        format!("it reached no safe point within {} ms", within.as_millis())
                    }),
                )
            })
            .collect()
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
        self.kernel()
            .install(name, Arc::from(bytes), false)
            .expect("package cache full of pinned packages")
    }

    /// Spawns a process and starts its thread. Compile and link errors are
    /// returned here (and recorded as the process's exit); traps later are
    /// recorded as exits.
    pub fn spawn(&self, spec: SpawnSpec) -> Result<Pid, HostedError> {
        let s = self.kernel().spawn(spec).map_err(HostedError::Spawn)?;
        self.shared.start(s)
    }

    /// Kills a process.
    pub fn kill(&self, pid: Pid) {
        // Through the kernel, which remembers it for a process still starting.
        if self.with_kernel(|k| k.kill(pid)).is_err() {
            self.shared.kill(pid);
        }
    }

    /// Waits until `pid` has ended, up to `timeout`, and returns how. `None`
    /// when it runs on past the timeout, and at once for a pid the kernel
    /// does not list (never spawned, or ended and forgotten: see
    /// `Config::ended_kept`).
    pub fn wait(&self, pid: Pid, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.ended_lock.lock();
        let mut timed_out = false;
        loop {
            match self.kernel().process(pid).map(|p| &p.state) {
                Some(tidemark_kernel::ProcState::Ended(e)) => return Some(e.clone()),
                Some(_) if !timed_out => {}
                _ => return None,
            }
            timed_out = self.shared.ended.wait_until(&mut g, deadline).timed_out();
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
                pids.into_iter()
                    .filter(|p| {
                        !matches!(
                            k.process(*p).map(|p| &p.state),
                            Some(tidemark_kernel::ProcState::Ended(_))
                        )
                    })
                    .collect()
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
        self.shared.sched.close();
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
