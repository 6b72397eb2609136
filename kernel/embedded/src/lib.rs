//! The embedded engine: Tidemark's kernel core on the wasmi interpreter,
//! single-threaded and `no_std + alloc`, for bare-metal boards (QEMU's
//! riscv32 `virt`, the ESP32-C6) and for tests on the host.
//!
//! * Every process is one wasmi [`Store`] whose entry point runs as a
//!   resumable call. Preemption is by fuel: each turn gets [`SLICE_FUEL`];
//!   a call that runs dry comes back as `OutOfFuel` and is resumed on its
//!   next turn, so a spinning guest only ever costs its own slices.
//! * Hostcall semantics are the core's ([`Kernel::hostcall`]), the same as
//!   on wasmtime. When the core answers "would block", the host function
//!   returns a [`Park`] host error: wasmi hands back a resumable invocation,
//!   the scheduler retries the hostcall on later turns and resumes the guest
//!   with its result, exactly the retry the threaded engine does after a park.
//! * The engine never blocks; the board's main loop calls [`Embedded::turn`]
//!   and serves the monitor between turns, and may sleep until
//!   [`Turn::next_deadline`] when nothing is runnable.

#![no_std]

extern crate alloc;

pub mod atomics;
mod reload;
pub mod replay;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use tidemark_abi::{Classes, ENTRY_EXPORT, IMPORT_MODULE};
use tidemark_kernel::lifecycle::{MAX_TABLE_ELEMENTS, memory_limit_exceeded};
use tidemark_kernel::package::Hash;
use tidemark_kernel::{
    Config, Effects, Exit, Kernel, Outcome, Pid, SpawnSpec, Spawned, Trap, Wait,
};
use wasmi::{
    Caller, Engine, Func, Instance, Linker, Memory, Module, ResumableCall, ResumableCallHostTrap,
    ResumableCallOutOfFuel, Store, Val,
};

/// Fuel per turn: about this many wasm instructions before the next process.
pub const SLICE_FUEL: u64 = 20_000;

/// Fuel a module's start function (and a state save at reload) may use.
pub const START_FUEL: u64 = 2_000_000;

/// Why a guest's call was suspended by a host function.
#[derive(Debug)]
enum Park {
    /// The core answered `Block`: retry `number(args)` when it may succeed.
    Blocked {
        number: u16,
        args: [i64; 8],
        argc: usize,
        wait: Wait,
    },
    /// `proc_exit`.
    Exit(i32),
}

impl fmt::Display for Park {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Park::Blocked { number, wait, .. } => write!(f, "hostcall {number} waits for {wait:?}"),
            Park::Exit(code) => write!(f, "exit({code})"),
        }
    }
}

impl core::error::Error for Park {}
impl wasmi::errors::HostError for Park {}

/// Per-process data inside its store.
pub struct ProcData {
    pid: Pid,
    kernel: Rc<RefCell<Kernel>>,
    memory: Option<Memory>,
    memory_limit: usize,
    /// The size a refused `memory.grow` asked for.
    over_limit: Option<usize>,
}

impl wasmi::ResourceLimiter for ProcData {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        if desired > self.memory_limit {
            // Trap, as the hosted engine does: a guest past its limit is a bug
            // worth seeing, not a `memory.grow` returning -1 it may ignore.
            self.over_limit = Some(desired);
            return Err(wasmi_core::LimiterError::ResourceLimiterDeniedAllocation);
        }
        self.kernel.borrow_mut().report_memory(self.pid, desired);
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        4
    }
    fn memories(&self) -> usize {
        1
    }
}

/// Where a process's entry-point call stands.
enum Run {
    /// Not started yet.
    Fresh(Func),
    /// Ran out of fuel: resume on its next turn.
    Sliced(ResumableCallOutOfFuel),
    /// Suspended in a hostcall the core said would block.
    Blocked {
        call: ResumableCallHostTrap,
        number: u16,
        args: [i64; 8],
        argc: usize,
        wait: Wait,
    },
}

struct Proc {
    store: Store<ProcData>,
    instance: Instance,
    run: Option<Run>,
}

/// Why a spawn or reload failed: the core's one lifecycle error.
pub use tidemark_kernel::lifecycle::EngineError;

/// What one [`Embedded::turn`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// Processes that ran wasm this turn.
    pub ran: usize,
    /// Processes still alive.
    pub live: usize,
    /// Earliest time (kernel ns) a sleeping process wakes, if any sleeps.
    pub next_deadline: Option<u64>,
}

/// What a hot reload did.
pub use tidemark_kernel::lifecycle::ReloadReport as Reloaded;

struct Inner {
    engine: Engine,
    linkers: BTreeMap<u32, Rc<Linker<ProcData>>>,
    modules: BTreeMap<Hash, Module>,
    procs: BTreeMap<Pid, Proc>,
    /// Killed while taking their turn (out of `procs`): ended after it.
    doomed: BTreeSet<Pid>,
}

/// A kernel on wasmi. Single-threaded: the board's loop owns it.
pub struct Embedded {
    kernel: Rc<RefCell<Kernel>>,
    inner: RefCell<Inner>,
    board: &'static str,
    memory: Option<fn() -> tidemark_kernel::protocol::BoardMemory>,
    link: core::cell::Cell<Option<tidemark_kernel::protocol::LinkStats>>,
}

/// Links every hostcall of the catalogue: the core's call for granted
/// classes, a `PermissionDenied` stub for the rest.
fn link(linker: &mut Linker<ProcData>, classes: Classes) -> Result<(), wasmi::Error> {
    link_each(linker, move |caller, h, args| {
        if classes.has(h.class) {
            dispatch(caller, h.number, args)
        } else {
            let d = caller.data();
            Ok(d.kernel.borrow_mut().deny(d.pid, h.number, args))
        }
    })
}

/// Links every hostcall of the catalogue to `call(caller, hostcall, args)`
/// (i32 arguments sign-extended; the result cut to the hostcall's type).
/// One dynamic trampoline serves them all (`func_new`), rather than a
/// monomorphized closure per hostcall: on a microcontroller the image size
/// matters more than the few nanoseconds a typed trampoline saves.
pub(crate) fn link_each<D: 'static>(
    linker: &mut Linker<D>,
    call: impl Fn(&mut Caller<'_, D>, &'static tidemark_abi::HostcallDesc, &[i64]) -> Result<i64, wasmi::Error>
    + Clone
    + Send
    + Sync
    + 'static,
) -> Result<(), wasmi::Error> {
    let ty = |t: tidemark_abi::ValType| match t {
        tidemark_abi::ValType::I32 => wasmi::ValType::I32,
        tidemark_abi::ValType::I64 => wasmi::ValType::I64,
    };
    for h in tidemark_abi::HOSTCALLS {
        let func_ty = wasmi::FuncType::new(h.params.iter().map(|p| ty(p.ty)), [ty(h.result)]);
        let wide = h.result == tidemark_abi::ValType::I64;
        let call = call.clone();
        linker.func_new(
            IMPORT_MODULE,
            h.name,
            func_ty,
            move |mut caller: Caller<'_, D>, params: &[Val], results: &mut [Val]| {
                let mut args = [0i64; 8];
                for (a, p) in args.iter_mut().zip(params) {
                    *a = match p {
                        Val::I32(v) => i64::from(*v),
                        Val::I64(v) => *v,
                        _ => 0,
                    };
                }
                let v = call(&mut caller, h, &args[..params.len()])?;
                results[0] = if wide {
                    Val::I64(v)
                } else {
                    Val::I32(v as i32)
                };
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// One hostcall from a running guest: the core's answer, or a [`Park`].
fn dispatch(
    caller: &mut Caller<'_, ProcData>,
    number: u16,
    args: &[i64],
) -> Result<i64, wasmi::Error> {
    let memory = caller.data().memory;
    let (mem, data): (&mut [u8], &mut ProcData) = match memory {
        Some(m) => m.data_and_store_mut(&mut *caller),
        None => (&mut [], caller.data_mut()),
    };
    let outcome = data
        .kernel
        .borrow_mut()
        .hostcall(data.pid, number, args, mem);
    match outcome {
        Outcome::Return(v) => Ok(v),
        Outcome::Exit(code) => Err(wasmi::Error::host(Park::Exit(code))),
        Outcome::Block(wait) => {
            let mut a = [0i64; 8];
            a[..args.len()].copy_from_slice(args);
            Err(wasmi::Error::host(Park::Blocked {
                number,
                args: a,
                argc: args.len(),
                wait,
            }))
        }
    }
}

fn engine_config() -> wasmi::Config {
    let mut c = wasmi::Config::default();
    c.consume_fuel(true);
    // Validated whole at spawn, translated a function at a time on its first
    // call, inside the slice that calls it: a module of 20,000 functions
    // costs the monitor no long turn. Translation is free in fuel because
    // wasmi 2 cannot resume a call that runs dry mid-translation (it
    // traps); a slice still translates at most what its fuel can call.
    c.compilation_mode(wasmi::CompilationMode::LazyTranslation);
    c.fuel_cost(wasmi::CustomFuelCosts {
        bytes_copied_per_fuel: 64,
        fuel_per_bytes_translated: 0,
        fuel_per_bytes_validated: 0,
    });
    c
}

impl Embedded {
    /// Boots a kernel on wasmi. `clock` gives ns since boot; `board` is what
    /// `info` reports.
    pub fn boot(config: Config, clock: fn() -> u64, board: &'static str) -> Embedded {
        Embedded {
            kernel: Rc::new(RefCell::new(Kernel::new(config, clock))),
            inner: RefCell::new(Inner {
                engine: Engine::new(&engine_config()),
                linkers: BTreeMap::new(),
                modules: BTreeMap::new(),
                procs: BTreeMap::new(),
                doomed: BTreeSet::new(),
            }),
            board,
            memory: None,
            link: core::cell::Cell::new(None),
        }
    }

    /// The kernel's state as it panicked with `message`, as a dump. It
    /// reads the kernel even when a call that was changing it is the one
    /// that panicked (the dump may then show that change half done): the
    /// caller never returns to that call.
    ///
    /// # Safety
    /// Only from a panic handler that never returns (the machine stops or
    /// resets after it), on the thread that ran the kernel.
    pub unsafe fn last_words(&self, message: &str) -> tidemark_kernel::protocol::KernelDump {
        let reason = format!("kernel panic: {message}");
        let mut d = match self.kernel.try_borrow() {
            Ok(k) => k.dump(&reason, true),
            // SAFETY: the holder of the mutable borrow is a frame that
            // panicked and never runs again (the caller's contract).
            Err(_) => unsafe { &*self.kernel.as_ptr() }.dump(&(reason + " (inside a kernel call)"), true),
        };
        d.info.board = self.board.into();
        d.info.engine = "wasmi 2".into();
        d.info.memory = self.memory.map(|probe| probe());
        d.info.link = self.link.get();
        d
    }

    /// How the board measures its memory (reported by `info`).
    pub fn set_memory_probe(&mut self, probe: fn() -> tidemark_kernel::protocol::BoardMemory) {
        self.memory = Some(probe);
    }

    /// The board's link statistics as of now (reported by `info`): the
    /// board's loop owns the transmitter and updates them every turn.
    pub fn set_link_stats(&self, stats: tidemark_kernel::protocol::LinkStats) {
        self.link.set(Some(stats));
    }

    /// Board name.
    pub fn board(&self) -> &'static str {
        self.board
    }

    /// Runs `f` on the kernel, then carries out the effects it produced.
    pub fn with_kernel<R>(&self, f: impl FnOnce(&mut Kernel) -> R) -> R {
        let (r, effects) = {
            let mut k = self.kernel.borrow_mut();
            let r = f(&mut k);
            (r, k.take_effects())
        };
        self.apply(effects);
        r
    }

    /// Installs a module into the package cache.
    pub fn install(&self, name: &str, bytes: &[u8]) -> Result<Hash, tidemark_abi::Error> {
        self.kernel
            .borrow_mut()
            .install(name, Arc::from(bytes), false)
    }

    /// Spawns a process and instantiates it (its start function runs now,
    /// within [`START_FUEL`]); its entry point runs on later turns.
    pub fn spawn(&self, spec: SpawnSpec) -> Result<Pid, EngineError> {
        let s = self
            .kernel
            .borrow_mut()
            .spawn(spec)
            .map_err(EngineError::Spawn)?;
        let pid = s.pid;
        self.start(s)?;
        Ok(pid)
    }

    /// Kills a process now (between turns every process is at a safe point).
    pub fn kill(&self, pid: Pid) {
        let removed = self.inner.borrow_mut().procs.remove(&pid).is_some();
        if removed {
            self.end(pid, Exit::Killed);
        } else if self
            .kernel
            .borrow()
            .process(pid)
            .is_some_and(|p| !matches!(p.state, tidemark_kernel::ProcState::Ended(_)))
        {
            // Mid-turn (a guest killing itself or the one running): after it.
            self.kernel.borrow_mut().killing(pid);
            self.inner.borrow_mut().doomed.insert(pid);
        }
    }

    /// Whether `pid` has a live instance.
    pub fn is_live(&self, pid: Pid) -> bool {
        self.inner.borrow().procs.contains_key(&pid)
    }

    /// Gives every runnable process one slice, in pid order; retries the
    /// hostcalls of blocked ones first. Never blocks.
    pub fn turn(&self) -> Turn {
        let pids: Vec<Pid> = self.inner.borrow().procs.keys().copied().collect();
        let mut turn = Turn::default();
        for pid in pids {
            let Some(mut p) = self.inner.borrow_mut().procs.remove(&pid) else {
                continue;
            };
            let outcome = self.step(&mut p);
            match outcome {
                Step::Ran | Step::Idle(None) => {}
                Step::Idle(Some(t)) => {
                    turn.next_deadline = Some(turn.next_deadline.map_or(t, |d: u64| d.min(t)))
                }
                Step::Ended(exit) => {
                    self.end(pid, exit);
                    turn.ran += 1;
                    continue;
                }
            }
            if matches!(outcome, Step::Ran) {
                turn.ran += 1;
            }
            if self.inner.borrow_mut().doomed.remove(&pid) {
                drop(p);
                self.end(pid, Exit::Killed);
                continue;
            }
            self.inner.borrow_mut().procs.insert(pid, p);
        }
        turn.live = self.inner.borrow().procs.len();
        turn
    }

    /// One turn of one process.
    fn step(&self, p: &mut Proc) -> Step {
        let Some(run) = p.run.take() else {
            return Step::Ended(Exit::Code(0));
        };
        let result = match run {
            Run::Fresh(f) => {
                let _ = p.store.set_fuel(SLICE_FUEL);
                let pid = p.store.data().pid;
                self.kernel.borrow_mut().started(pid);
                f.call_resumable(&mut p.store, &[], &mut [])
            }
            Run::Sliced(call) => {
                let _ = p.store.set_fuel(SLICE_FUEL);
                call.resume(&mut p.store, &mut [])
            }
            Run::Blocked {
                call,
                number,
                args,
                argc,
                wait,
            } => {
                let retried = match wait {
                    // Sleeps and yields complete once resumed; 0 is their result.
                    Wait::Until(t) if self.kernel.borrow().now() < t => {
                        p.run = Some(Run::Blocked {
                            call,
                            number,
                            args,
                            argc,
                            wait,
                        });
                        return Step::Idle(Some(t));
                    }
                    Wait::Until(_) | Wait::Yield => Outcome::Return(0),
                    Wait::Readable(_) | Wait::Writable(_) | Wait::Package | Wait::Select(_) => {
                        let pid = p.store.data().pid;
                        let (mem, data) = match p.store.data().memory {
                            Some(m) => m.data_and_store_mut(&mut p.store),
                            None => (&mut [][..], p.store.data_mut()),
                        };
                        let o = data
                            .kernel
                            .borrow_mut()
                            .hostcall(pid, number, &args[..argc], mem);
                        let effects = self.kernel.borrow_mut().take_effects();
                        self.apply(effects);
                        o
                    }
                };
                match retried {
                    Outcome::Block(w) => {
                        p.run = Some(Run::Blocked {
                            call,
                            number,
                            args,
                            argc,
                            wait: w,
                        });
                        return Step::Idle(match w {
                            Wait::Until(t) | Wait::Select(Some(t)) => Some(t),
                            _ => None,
                        });
                    }
                    Outcome::Exit(code) => return Step::Ended(Exit::Code(code)),
                    Outcome::Return(v) => {
                        let ty = call.host_func().ty(&p.store);
                        let value = match ty.results().first() {
                            Some(wasmi::ValType::I64) => Val::I64(v),
                            _ => Val::I32(v as i32),
                        };
                        let _ = p.store.set_fuel(SLICE_FUEL);
                        call.resume(&mut p.store, &[value], &mut [])
                    }
                }
            }
        };
        let effects = self.kernel.borrow_mut().take_effects();
        self.apply(effects);
        match result {
            Ok(ResumableCall::Finished) => Step::Ended(Exit::Code(0)),
            Ok(ResumableCall::OutOfFuel(call)) => {
                p.run = Some(Run::Sliced(call));
                Step::Ran
            }
            Ok(ResumableCall::HostTrap(call)) => match call.host_error().downcast_ref::<Park>() {
                Some(Park::Exit(code)) => Step::Ended(Exit::Code(*code)),
                Some(Park::Blocked {
                    number,
                    args,
                    argc,
                    wait,
                }) => {
                    let (number, args, argc, wait) = (*number, *args, *argc, *wait);
                    p.run = Some(Run::Blocked {
                        call,
                        number,
                        args,
                        argc,
                        wait,
                    });
                    Step::Ran
                }
                None => Step::Ended(Exit::Trap(Trap::new(call.host_error().to_string()))),
            },
            Err(e) => Step::Ended(Exit::Trap(Trap::new(trap_message(&e, p.store.data())))),
        }
    }

    /// Carries out what the kernel asked of the engine. Wake-ups need no
    /// work: blocked processes retry on every turn.
    fn apply(&self, effects: Effects) {
        for pid in effects.kill {
            self.kill(pid);
        }
        for s in effects.spawn {
            let _ = self.start(s);
        }
    }

    fn end(&self, pid: Pid, exit: Exit) {
        let effects = {
            let mut k = self.kernel.borrow_mut();
            k.exit(pid, exit);
            k.take_effects()
        };
        self.apply(effects);
    }

    fn start(&self, s: Spawned) -> Result<(), EngineError> {
        let pid = s.pid;
        match self.instantiate(&s) {
            Ok(p) => {
                self.inner.borrow_mut().procs.insert(pid, p);
                Ok(())
            }
            Err(message) => {
                self.end(pid, Exit::Failed(message.clone()));
                Err(EngineError::Module { pid, message })
            }
        }
    }

    /// Compiles (cached by hash), links (cached by classes) and instantiates,
    /// running the start function within [`START_FUEL`].
    fn instantiate(&self, s: &Spawned) -> Result<Proc, String> {
        let (engine, module, linker) = {
            let mut inner = self.inner.borrow_mut();
            let engine = inner.engine.clone();
            let module = match inner.modules.get(&s.hash) {
                Some(m) => m.clone(),
                None => {
                    // Same guest binaries as the hosted kernel: their atomics
                    // become plain accesses here (see `atomics`).
                    let lowered = atomics::lower_atomics(&s.bytes)?;
                    let m = Module::new(&engine, lowered.as_deref().unwrap_or(&s.bytes[..]))
                        .map_err(|e| format!("{e}"))?;
                    inner.modules.insert(s.hash, m.clone());
                    m
                }
            };
            let key = s.classes.0 as u32;
            let linker = match inner.linkers.get(&key) {
                Some(l) => l.clone(),
                None => {
                    let mut l = Linker::new(&engine);
                    link(&mut l, s.classes).map_err(|e| format!("{e}"))?;
                    let l = Rc::new(l);
                    inner.linkers.insert(key, l.clone());
                    l
                }
            };
            (engine, module, linker)
        };
        let data = ProcData {
            pid: s.pid,
            kernel: self.kernel.clone(),
            memory: None,
            memory_limit: s.memory_limit,
            over_limit: None,
        };
        let mut store = Store::new(&engine, data);
        store.limiter(|d| d as &mut dyn wasmi::ResourceLimiter);
        store.set_fuel(START_FUEL).map_err(|e| format!("{e}"))?;
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| start_error(&e))?;
        let memory = instance.get_memory(&store, "memory");
        store.data_mut().memory = memory;
        if let Some(m) = memory {
            let size = m.data_size(&store);
            self.kernel.borrow_mut().report_memory(s.pid, size);
        }
        let entry = instance
            .get_func(&store, ENTRY_EXPORT)
            .ok_or_else(|| format!("the module exports no `{ENTRY_EXPORT}`"))?;
        if entry.ty(&store).params().len() + entry.ty(&store).results().len() != 0 {
            return Err(format!("`{ENTRY_EXPORT}` must take and return nothing"));
        }
        Ok(Proc {
            store,
            instance,
            run: Some(Run::Fresh(entry)),
        })
    }
}

enum Step {
    Ran,
    Idle(Option<u64>),
    Ended(Exit),
}

fn start_error(e: &wasmi::Error) -> String {
    if e.as_trap_code() == Some(wasmi::TrapCode::OutOfFuel) {
        return format!("start function ran past its budget of {START_FUEL} fuel");
    }
    format!("{e}")
}

fn trap_message(e: &wasmi::Error, d: &ProcData) -> String {
    match d.over_limit {
        Some(desired) => memory_limit_exceeded(desired, d.memory_limit),
        None => format!("{e}"),
    }
}

impl tidemark_monitor::server::Target for Embedded {
    fn with_kernel(&self, f: &mut dyn FnMut(&mut Kernel)) {
        Embedded::with_kernel(self, |k| f(k));
    }
    fn spawn(&self, spec: SpawnSpec) -> Result<Pid, EngineError> {
        Embedded::spawn(self, spec)
    }
    fn kill(&self, pid: Pid) {
        Embedded::kill(self, pid);
    }
    fn reload(&self, pid: Pid, package: &str) -> Result<Reloaded, EngineError> {
        Embedded::reload(self, pid, package)
    }
    fn board(&self) -> String {
        self.board.into()
    }
    fn engine(&self) -> String {
        "wasmi 2".into()
    }
    fn memory(&self) -> Option<tidemark_kernel::protocol::BoardMemory> {
        self.memory.map(|probe| probe())
    }
    fn link(&self) -> Option<tidemark_kernel::protocol::LinkStats> {
        self.link.get()
    }
    fn panics(&self) -> bool {
        true
    }
    /// Between turns every process stands still: read at once.
    fn guest_memories(&self, pids: &[Pid]) -> Vec<(Pid, Result<Vec<u8>, String>)> {
        pids.iter()
            .map(|&pid| (pid, self.in_memory(pid, |m| m.to_vec())))
            .collect()
    }
    /// Pages straight from each memory: never a whole copy (the heap of a
    /// small board could not hold one), and none past the budget.
    fn guest_memory_pages(
        &self,
        pids: &[Pid],
        budget: Option<usize>,
    ) -> Vec<tidemark_kernel::protocol::GuestMemory> {
        use tidemark_kernel::protocol::{GuestMemory, MEMORY_PAGE};
        let mut left = budget.unwrap_or(usize::MAX);
        pids.iter()
            .map(|&pid| {
                let m = self.in_memory(pid, |mem| {
                    let bytes: usize = mem
                        .chunks(MEMORY_PAGE)
                        .filter(|p| p.iter().any(|b| *b != 0))
                        .map(<[u8]>::len)
                        .sum();
                    if bytes > left {
                        return GuestMemory::missing(
                            pid,
                            alloc::format!(
                                "its {bytes} bytes of pages would not fit this board's link queue"
                            ),
                        );
                    }
                    left -= bytes;
                    GuestMemory::of(pid, mem)
                });
                m.unwrap_or_else(|why| GuestMemory::missing(pid, why))
            })
            .collect()
    }
    fn peek_guest_memory(&self, pid: Pid, offset: u64, len: usize) -> Result<(u64, Vec<u8>), String> {
        self.in_memory(pid, |mem| {
            let start = offset.min(mem.len() as u64) as usize;
            let end = start.saturating_add(len).min(mem.len());
            (mem.len() as u64, mem[start..end].to_vec())
        })
    }
}

impl Embedded {
    /// `f` over process `pid`'s linear memory as it stands between turns.
    fn in_memory<R>(&self, pid: Pid, f: impl FnOnce(&[u8]) -> R) -> Result<R, String> {
        let inner = self.inner.borrow();
        let p = inner
            .procs
            .get(&pid)
            .ok_or_else(|| String::from("it is not running on this engine"))?;
        Ok(f(p.store.data().memory.map_or(&[][..], |m| m.data(&p.store))))
    }
}
