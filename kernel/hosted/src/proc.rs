//! A process's data inside its wasmtime store, its resource limits, and
//! the handle the engine keeps to stop, wake or reload it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use parking_lot::Mutex;
use tidemark_kernel::caps::CapTable;
use tidemark_kernel::lifecycle::{MAX_TABLE_ELEMENTS, memory_limit_exceeded};
use tidemark_kernel::{Kernel, Pid, Time};
use wasmtime::{Memory, ResourceLimiter};

use crate::calls::count_local;
use crate::reload::{Successor, TRIAL, Trial};
use crate::sched::Signal;
use crate::shared::Shared;

/// Why a guest's wasm stopped short of returning: carried through wasmtime
/// as the error of the host call or safe point that stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
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
    pub(crate) pid: Pid,
    pub(crate) shared: Arc<Shared>,
    pub(crate) memory: Option<Memory>,
    pub(crate) memory_limit: usize,
    pub(crate) control: Arc<Control>,
    /// Address space added for channel windows (not counted against the limit).
    pub(crate) window_bytes: usize,
    /// The engine, not the guest, is growing memory (for a window).
    pub(crate) growing_window: bool,
    /// Local hostcalls (see [`local`]): a copy of the process's capability
    /// table, the table's change counter, and the count the copy was taken at.
    pub(crate) caps: CapTable,
    pub(crate) caps_version: Arc<AtomicU32>,
    pub(crate) caps_seen: u32,
    pub(crate) time: Time,
    /// Local hostcalls not yet added to the kernel's counters.
    pub(crate) uncounted: u64,
    /// A reloaded instance on trial: what to put back if it fails first.
    pub(crate) trial: Option<Trial>,
}

impl ProcData {
    pub(crate) fn new(
        pid: Pid,
        shared: Arc<Shared>,
        memory_limit: usize,
        control: Arc<Control>,
    ) -> ProcData {
        // The copy of the table is taken here, under the lock the spawn
        // takes anyway, so the first local hostcall need not take it again.
        let (caps_version, caps, caps_seen, time) = {
            let k = shared.kernel.lock();
            let (version, caps) = k
                .process(pid)
                .map_or_else(Default::default, |p| (p.caps.version(), p.caps.clone()));
            // Changes happen only under the lock: the copy matches this.
            let seen = version.load(Ordering::Acquire);
            (version, caps, seen, k.time())
        };
        ProcData {
            pid,
            shared,
            memory: None,
            memory_limit,
            control,
            window_bytes: 0,
            growing_window: false,
            caps,
            caps_version,
            caps_seen,
            time,
            uncounted: 0,
            trial: None,
        }
    }

    /// Ends a trial, if one runs and `serving` or its time is up: the new
    /// module has proven itself, the previous one is let go.
    pub(crate) fn settle(&mut self, serving: bool) {
        if self
            .trial
            .as_ref()
            .is_some_and(|t| serving || t.since.elapsed() >= TRIAL)
        {
            let t = self.trial.take().expect("checked");
            self.shared.kernel.lock().trial_passed(self.pid);
            let _ = t.verdict.send(Ok(t.since));
        }
    }

    /// Hands the local hostcalls counted so far to the kernel (lock held).
    pub(crate) fn count_local(&mut self, k: &mut Kernel) {
        count_local(self.pid, &mut self.uncounted, k);
    }

    /// Why the process must stop at this safe point, if it must.
    pub(crate) fn stop_reason(&self) -> Option<wasmtime::Error> {
        self.control.stop_reason()
    }
}

/// What the engine tells a running process: stop (killed, or reloading),
/// wake up, hand over a copy of your memory. Shared by its store and its
/// handle.
#[derive(Default)]
pub(crate) struct Control {
    pub(crate) killed: AtomicBool,
    pub(crate) reload: AtomicBool,
    pub(crate) signal: Arc<Signal>,
    /// A monitor wants this process's memory ([`serve_memory`]): who, by
    /// request id (several monitors may ask at once).
    pub(crate) memory_wanted: AtomicBool,
    pub(crate) memory_to: Mutex<Vec<(u64, std::sync::mpsc::Sender<Vec<u8>>)>>,
}

/// At a safe point of the process's own (a slice's end, a wake while
/// parked): when a monitor asked for its memory, sends a copy. Only the
/// process's own thread runs its wasm, so its memory stands still here.
/// Channel windows are left out (zeroes): their rings are shared with
/// other processes, and a channel's state is in the dump already.
pub(crate) fn serve_memory(mut ctx: impl wasmtime::AsContextMut<Data = ProcData>) {
    let ctx = ctx.as_context_mut();
    let d = ctx.data();
    if !d.control.memory_wanted.swap(false, Ordering::AcqRel) {
        return;
    }
    let to = std::mem::take(&mut *d.control.memory_to.lock());
    if to.is_empty() {
        return;
    }
    let windows = d.shared.windows.as_ref().map(|w| w.of(d.pid)).unwrap_or_default();
    let mem = d.memory.map_or(&[][..], |m| m.data(&ctx));
    let mut copy = vec![0u8; mem.len()];
    let mut at = 0;
    let mut holes: Vec<(usize, usize)> = windows
        .iter()
        .map(|w| (w.wasm_addr as usize, w.wasm_addr as usize + w.len))
        .collect();
    holes.sort_unstable();
    for (start, end) in holes.into_iter().chain([(mem.len(), mem.len())]) {
        let (start, end) = (start.min(mem.len()), end.min(mem.len()));
        if at < start {
            copy[at..start].copy_from_slice(&mem[at..start]);
        }
        at = at.max(end);
    }
    for (_, tx) in &to {
        let _ = tx.send(copy.clone());
    }
}

impl Control {
    /// Why the process must stop at this safe point, if it must.
    pub(crate) fn stop_reason(&self) -> Option<wasmtime::Error> {
        if self.killed.load(Ordering::Acquire) {
            Some(wasmtime::Error::new(Stop::Killed))
        } else if self.reload.load(Ordering::Acquire) {
            Some(wasmtime::Error::new(Stop::Reload))
        } else {
            None
        }
    }
}

impl ResourceLimiter for ProcData {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if !self.growing_window && desired.saturating_sub(self.window_bytes) > self.memory_limit {
            return Err(wasmtime::Error::msg(memory_limit_exceeded(
                desired,
                self.memory_limit,
            )));
        }
        self.shared.kernel.lock().report_memory(self.pid, desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

pub(crate) struct ProcHandle {
    pub(crate) control: Arc<Control>,
    pub(crate) successor: Arc<Mutex<Option<Successor>>>,
    /// Held through a reload, trial included: one reload at a time.
    pub(crate) reloading: Arc<Mutex<()>>,
}
