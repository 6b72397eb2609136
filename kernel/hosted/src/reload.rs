//! Hot reload on wasmtime: the successor is prepared while the old
//! instance runs, swapped in at the old one's next safe point, and kept on
//! trial; the core's lifecycle ([`tidemark_kernel::lifecycle`]) records the
//! swap and gives the verdict when a successor ends on trial.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tidemark_kernel::lifecycle::{EngineError, Verdict as Outcome, rollback_message};
use tidemark_kernel::{Exit, Pid, SpawnError, Spawned, Trap};
use wasmtime::{Instance, Store};

use crate::proc::{ProcData, Stop};
use crate::sched::block_on;
use crate::shared::{Entry, START_BUDGET, arm, instantiate, save_state};
use crate::{Hosted, Reloaded, SLICE};

/// A new instance waiting to take over a process at its next safe point.
pub(crate) struct Successor {
    store: Store<ProcData>,
    instance: Instance,
    entry: Entry,
    spawned: Spawned,
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
pub(crate) const TRIAL: Duration = Duration::from_millis(SLICE.as_millis() as u64 * START_BUDGET);

/// A reloaded instance on trial (the core holds what a rollback puts
/// back): until it blocks in a hostcall (it serves) or has run for
/// [`TRIAL`], a trap or an error exit rolls it back.
pub(crate) struct Trial {
    /// When the new instance took over.
    pub(crate) since: Instant,
    pub(crate) verdict: mpsc::Sender<Verdict>,
}

/// One line for a trap, with the full report kept beside it: the root
/// cause (`wasm \`unreachable\` instruction executed`) and where the
/// innermost wasm frame was.
pub(crate) fn trap(e: &wasmtime::Error) -> Trap {
    let root = e.root_cause().to_string();
    // wasmtime says `wasm trap: ...`; the words after it are wasmi's too.
    let reason =
        tidemark_kernel::protocol::first_line(root.strip_prefix("wasm trap: ").unwrap_or(&root))
            .to_string();
    let at = e
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|b| b.frames().first())
        .map(|f| {
            let func = f
                .func_name()
                .map_or_else(|| format!("func {}", f.func_index()), |n| format!("`{n}`"));
            match f.module_offset() {
                Some(off) => format!("{func} at {off:#x}"),
                None => func,
            }
        });
    let full = format!("{e:?}");
    let backtrace = (full.trim() != reason).then_some(full);
    Trap {
        reason,
        at,
        backtrace,
    }
}

/// A process's run (one scheduler task): run the entry point, swap in
/// successors on reload, report the exit.
pub(crate) async fn run(
    mut store: Store<ProcData>,
    mut instance: Instance,
    mut entry: Entry,
    successor: Arc<Mutex<Option<Successor>>>,
) {
    let pid = store.data().pid;
    let shared = store.data().shared.clone();
    shared.kernel.lock().started(pid);
    let exit = loop {
        // Killed before it ran (while it was being started): it never does.
        if store.data().control.killed.load(Ordering::Acquire) {
            break Exit::Killed;
        }
        arm(&mut store);
        let result = entry.call_async(&mut store, ()).await;
        if matches!(&result, Err(e) if e.downcast_ref::<Stop>() == Some(&Stop::Reload)) {
            let next = successor.lock().take();
            if let Some(next) = next {
                // Reloads are one at a time; should a trial still run, its
                // instance got this far, which is proof enough.
                store.data_mut().settle(true);
                let state = save_state(&mut store, &instance).await;
                store.data().control.reload.store(false, Ordering::Release);
                {
                    let mut k = shared.kernel.lock();
                    store.data_mut().count_local(&mut k);
                    k.reloaded(&next.spawned, state);
                }
                let old = std::mem::replace(&mut store, next.store);
                (instance, entry) = (next.instance, next.entry);
                store.data_mut().trial = Some(Trial {
                    since: Instant::now(),
                    verdict: next.verdict,
                });
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
                } else if e.downcast_ref::<Stop>() == Some(&Stop::Killed)
                    || store.data().control.killed.load(Ordering::Acquire)
                {
                    Exit::Killed
                } else {
                    Exit::Trap(trap(&e))
                }
            }
        };
        if let Some(trial) = store.data_mut().trial.take() {
            let verdict = shared.kernel.lock().trial_ended(pid, &exit);
            match verdict {
                // A clean exit is the module's own business; a kill is not its failure.
                Outcome::End => {
                    let _ = trial.verdict.send(if exit == Exit::Killed {
                        Err("killed during the reload".into())
                    } else {
                        Ok(trial.since)
                    });
                }
                Outcome::RollBack {
                    module,
                    state,
                    reason,
                } => match roll_back(store, trial, &module, state, reason).await {
                    Ok(back) => {
                        (store, instance, entry) = back;
                        shared.notify_ended();
                        continue;
                    }
                    Err(failed) => {
                        shared.end(pid, failed);
                        return;
                    }
                },
            }
        }
        break exit;
    };
    store.data_mut().count_local(&mut shared.kernel.lock());
    drop(store);
    shared.end(pid, exit.clone());
    // A reload that never got to swap: tell whoever waits for it.
    if let Some(next) = successor.lock().take() {
        let _ = next.verdict.send(Err(format!(
            "the process ended during the reload: {exit:?}"
        )));
    }
}

/// Puts the module a reload replaced back under the same pid (capabilities
/// and attachments never left the process) after its successor failed on
/// trial for `reason`, hands it the state it had saved, and tells the
/// reloader. When even that fails, the exit to record.
async fn roll_back(
    failed: Store<ProcData>,
    trial: Trial,
    module: &Spawned,
    state: Vec<u8>,
    reason: String,
) -> Result<(Store<ProcData>, Instance, Entry), Exit> {
    let mut failed = failed;
    let d = failed.data_mut();
    let (pid, shared, limit, control) =
        (d.pid, d.shared.clone(), d.memory_limit, d.control.clone());
    d.count_local(&mut shared.kernel.lock());
    drop(failed);
    let data = ProcData::new(pid, shared.clone(), limit, control);
    let back = match shared.prepare(module) {
        Ok(pre) => instantiate(pre, data).await,
        Err(e) => Err(e),
    };
    match back {
        Ok(back) => {
            shared.kernel.lock().rolled_back(pid, state, reason.clone());
            let _ = trial.verdict.send(Err(rollback_message(&reason, None)));
            Ok(back)
        }
        Err(e) => {
            let message = rollback_message(&reason, Some(&format_args!("{e:#}")));
            let _ = trial.verdict.send(Err(message.clone()));
            Err(Exit::Failed(message))
        }
    }
}

impl Hosted {
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
    pub fn reload(&self, pid: Pid, package: &str) -> Result<Reloaded, EngineError> {
        let t0 = Instant::now();
        let s = self
            .kernel()
            .prepare_reload(pid, package)
            .map_err(EngineError::Spawn)?;
        let (control, slot, reloading) = {
            let procs = self.shared.procs.lock();
            let h = procs
                .get(&pid)
                .ok_or(EngineError::Spawn(SpawnError::NoProcess(pid)))?;
            (h.control.clone(), h.successor.clone(), h.reloading.clone())
        };
        let _one_at_a_time = reloading.lock();
        let refuse = |message: String| EngineError::Reload { pid, message };
        let data = ProcData::new(pid, self.shared.clone(), s.memory_limit, control.clone());
        let (store, instance, entry) = self
            .shared
            .prepare(&s)
            .and_then(|pre| block_on(instantiate(pre, data)))
            .map_err(|e| refuse(format!("{e:#}")))?;
        let hash = s.hash;
        let (verdict, verdicts) = mpsc::channel();
        *slot.lock() = Some(Successor {
            store,
            instance,
            entry,
            spawned: s,
            verdict,
        });
        let prepare = t0.elapsed();
        let t1 = Instant::now();
        control.reload.store(true, Ordering::Release);
        control.signal.notify();
        self.shared.engine.increment_epoch();
        let wait = Duration::from_secs(30);
        let deadline = Instant::now() + wait;
        let ended = || {
            matches!(
                self.kernel().process(pid).map(|p| p.state.clone()),
                Some(tidemark_kernel::ProcState::Ended(_))
            )
        };
        let verdict = loop {
            match verdicts.recv_timeout(Duration::from_millis(50)) {
                Ok(v) => break v,
                Err(RecvTimeoutError::Disconnected) => {
                    break Err("the process ended during the reload".into());
                }
                // It ended before its thread looked for a successor: nobody will.
                Err(RecvTimeoutError::Timeout) if ended() && slot.lock().take().is_some() => {
                    break Err("the process ended before it reached a safe point".into());
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(RecvTimeoutError::Timeout) if slot.lock().take().is_some() => {
                    control.reload.store(false, Ordering::Release);
                    break Err("the old instance did not reach a safe point in 30 s".into());
                }
                // Swapped: the trial ends within TRIAL of the new instance running.
                Err(RecvTimeoutError::Timeout) => {
                    break verdicts
                        .recv_timeout(wait)
                        .unwrap_or_else(|_| Err("the new module's trial did not end".into()));
                }
            }
        };
        match verdict {
            Ok(swapped) => Ok(Reloaded {
                pid,
                hash,
                prepare,
                swap: swapped.saturating_duration_since(t1),
            }),
            Err(message) => Err(refuse(message)),
        }
    }
}
