//! What every process shares: the kernel, the engine's caches of compiled
//! modules and linkers, the process handles, the scheduler, and the steps
//! of starting and ending a process.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread;

use parking_lot::{Condvar, Mutex};
use tidemark_abi::{Classes, ENTRY_EXPORT};
use tidemark_kernel::lifecycle::{EngineError, saved_state};
use tidemark_kernel::package::Hash;
use tidemark_kernel::resolve::{Fetch, MAX_CATALOG};
use tidemark_kernel::{Effects, Exit, Kernel, Pid, Spawned};
use wasmtime::{Engine, Instance, InstancePre, Linker, Module, Store, UpdateDeadline};

use crate::calls::link;
use crate::proc::{Control, ProcData, ProcHandle};
use crate::reload::run;
use crate::sched::{Scheduler, block_on};
use crate::window::Windows;

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) kernel: Mutex<Kernel>,
    pub(crate) linkers: Mutex<HashMap<(Classes, bool), Arc<Linker<ProcData>>>>,
    pub(crate) modules: Mutex<HashMap<Hash, Module>>,
    pub(crate) pres: Mutex<HashMap<(Hash, Classes, bool), InstancePre<ProcData>>>,
    pub(crate) procs: Mutex<HashMap<Pid, ProcHandle>>,
    pub(crate) ended: Condvar,
    pub(crate) ended_lock: Mutex<()>,
    /// Channel windows (zero-copy kernels only).
    pub(crate) windows: Option<Arc<Windows>>,
    /// The workers processes run on.
    pub(crate) sched: Scheduler,
    /// The package server's client: this engine fetches for itself.
    pub(crate) fetcher: tidemark_fetch::Fetcher,
    pub(crate) me: Weak<Shared>,
}

impl Shared {
    pub(crate) fn arc(&self) -> Arc<Shared> {
        self.me
            .upgrade()
            .expect("engine alive while its processes run")
    }

    /// Carries out what the kernel asked of the engine.
    pub(crate) fn apply(&self, effects: Effects) {
        if !effects.wake.is_empty() {
            let procs = self.procs.lock();
            for pid in effects.wake {
                if let Some(p) = procs.get(&pid) {
                    p.control.signal.notify();
                }
            }
        }
        for pid in effects.kill {
            self.kill(pid);
        }
        for s in effects.spawn {
            let _ = self.start(s);
        }
        for f in effects.fetch {
            self.fetch(f);
        }
    }

    /// Fetches on a thread of its own (a slow server holds up nobody) and
    /// hands the answer to the kernel, which verifies it.
    fn fetch(&self, f: Fetch) {
        let me = self.me.clone();
        let fetcher = self.fetcher.clone();
        let _ = thread::Builder::new().name("fetch".into()).spawn(move || {
            let (url, max) = match &f {
                Fetch::Catalog { url } => (url.clone(), MAX_CATALOG),
                Fetch::Package { url, size, .. } => (url.clone(), *size as usize),
            };
            let got = fetcher.get(&url, max);
            let Some(shared) = me.upgrade() else {
                return;
            };
            let effects = {
                let mut k = shared.kernel.lock();
                match (f, got) {
                    (Fetch::Catalog { .. }, Ok(bytes)) => {
                        let _ = k.load_catalog(&bytes);
                    }
                    (Fetch::Catalog { .. }, Err(why)) => k.catalog_failed(&why),
                    (Fetch::Package { hash, .. }, got) => {
                        let _ =
                            k.deliver(hash, got.as_deref().map(Arc::from).map_err(|e| e.as_str()));
                    }
                }
                k.take_effects()
            };
            shared.apply(effects);
        });
    }

    pub(crate) fn kill(&self, pid: Pid) {
        if let Some(p) = self.procs.lock().get(&pid) {
            p.control.killed.store(true, Ordering::Release);
            p.control.signal.notify();
        }
        // Reach a guest that is running wasm at its next safe point.
        self.engine.increment_epoch();
    }

    fn linker(&self, classes: Classes, recorded: bool) -> wasmtime::Result<Arc<Linker<ProcData>>> {
        if let Some(l) = self.linkers.lock().get(&(classes, recorded)) {
            return Ok(l.clone());
        }
        let mut l = Linker::new(&self.engine);
        link(&mut l, classes, recorded)?;
        let l = Arc::new(l);
        self.linkers.lock().insert((classes, recorded), l.clone());
        Ok(l)
    }

    /// Compiles (cached by hash) and links (cached by hash and classes).
    pub(crate) fn prepare(&self, s: &Spawned) -> wasmtime::Result<InstancePre<ProcData>> {
        if let Some(pre) = self.pres.lock().get(&(s.hash, s.classes, s.recorded)) {
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
        let pre = self.linker(s.classes, s.recorded)?.instantiate_pre(&module)?;
        self.pres.lock().insert((s.hash, s.classes, s.recorded), pre.clone());
        Ok(pre)
    }

    /// Starts a process the kernel has created: compile and link (cached),
    /// instantiate on the caller's thread, so every failure before the first
    /// instruction is reported to the spawner, then hand the entry point to
    /// the scheduler.
    pub(crate) fn start(&self, s: Spawned) -> Result<Pid, EngineError> {
        let pid = s.pid;
        let control = Arc::new(Control::default());
        let data = ProcData::new(pid, self.arc(), s.memory_limit, control.clone());
        let ready = self
            .prepare(&s)
            .and_then(|pre| block_on(instantiate(pre, data)));
        let (store, instance, entry) = match ready {
            Ok(ready) => ready,
            Err(e) => {
                let message = format!("{e:#}");
                self.end(pid, Exit::Failed(message.clone()));
                return Err(EngineError::Module { pid, message });
            }
        };
        // Registered before it first runs, so wake-ups and kills always find it.
        let successor = Arc::new(Mutex::new(None));
        self.procs.lock().insert(
            pid,
            ProcHandle {
                control,
                successor: successor.clone(),
                reloading: Arc::default(),
            },
        );
        // A kill asked of the kernel before the process was registered here
        // (while the kernel created it, or while it was instantiated).
        if self
            .kernel
            .lock()
            .process(pid)
            .is_some_and(|p| p.kill_requested)
        {
            self.kill(pid);
        }
        self.sched
            .spawn(Box::pin(run(store, instance, entry, successor)));
        Ok(pid)
    }

    pub(crate) fn end(&self, pid: Pid, exit: Exit) {
        // Nothing wakes, kills or reloads it any more.
        self.procs.lock().remove(&pid);
        let effects = {
            let mut k = self.kernel.lock();
            k.exit(pid, exit);
            k.take_effects()
        };
        self.apply(effects);
        self.notify_ended();
    }

    /// Wakes threads waiting for a process to end or be reloaded.
    pub(crate) fn notify_ended(&self) {
        let _g = self.ended_lock.lock();
        self.ended.notify_all();
    }
}

pub(crate) const START_BUDGET: u64 = 10;

pub(crate) type Entry = wasmtime::TypedFunc<(), ()>;

/// Creates the process's store and instance, up to its entry point.
pub(crate) async fn instantiate(
    pre: InstancePre<ProcData>,
    data: ProcData,
) -> wasmtime::Result<(Store<ProcData>, Instance, Entry)> {
    let pid = data.pid;
    let shared = data.shared.clone();
    let mut store = Store::new(pre.module().engine(), data);
    store.limiter(|d| d);
    // The start function runs on the spawner's thread: bound it.
    store.set_epoch_deadline(START_BUDGET);
    store.epoch_deadline_callback(|_| {
        Err(wasmtime::Error::msg(
            "start function ran past its time budget",
        ))
    });
    let instance = pre.instantiate_async(&mut store).await?;
    let memory = instance.get_memory(&mut store, "memory");
    store.data_mut().memory = memory;
    if let Some(m) = memory {
        let size = m.data_size(&store);
        shared.kernel.lock().report_memory(pid, size);
    }
    let entry = instance.get_typed_func::<(), ()>(&mut store, ENTRY_EXPORT)?;
    Ok((store, instance, entry))
}

/// Calls the old instance's `tidemark_save`, if it has one, within the start
/// budget; returns the bytes it points at (empty when absent or misbehaving).
pub(crate) async fn save_state(store: &mut Store<ProcData>, instance: &Instance) -> Vec<u8> {
    let Ok(save) = instance.get_typed_func::<(), i64>(&mut *store, tidemark_abi::SAVE_EXPORT)
    else {
        return Vec::new();
    };
    store.set_epoch_deadline(START_BUDGET);
    store.epoch_deadline_callback(|_| {
        Err(wasmtime::Error::msg("state save ran past its time budget"))
    });
    let Ok(packed) = save.call_async(&mut *store, ()).await else {
        return Vec::new();
    };
    let max = store.data().shared.kernel.lock().config().max_state;
    let Some(memory) = store.data().memory else {
        return Vec::new();
    };
    saved_state(packed, memory.data(&*store), max)
}

/// Arms the store's safe points for running: yield the worker every slice
/// (to the back of the queue), stop for a kill or a reload.
pub(crate) fn arm(store: &mut Store<ProcData>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        if let Some(stop) = ctx.data().stop_reason() {
            return Err(stop);
        }
        let d = ctx.data_mut();
        d.settle(false);
        // The local hostcalls of the slice that ended (see `calls::local`).
        if d.uncounted > 0 {
            crate::calls::count_local(d.pid, &mut d.uncounted, &mut d.shared.kernel.lock());
        }
        crate::proc::serve_memory(&mut ctx);
        Ok(UpdateDeadline::Yield(1))
    });
}
