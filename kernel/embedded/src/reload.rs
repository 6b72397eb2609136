//! Hot reload on wasmi: the successor is instantiated while the old
//! instance waits between turns (every process is at a safe point there),
//! swapped in, and run on trial; the core's lifecycle records the swap and
//! gives the verdict when the successor ends on trial.

use alloc::string::String;
use alloc::vec::Vec;

use tidemark_kernel::lifecycle::{Verdict, rollback_message, saved_state};
use tidemark_kernel::{Exit, Pid};

use crate::{Embedded, EngineError, Proc, Reloaded, Run, SLICE_FUEL, START_FUEL, Step};

impl Embedded {
    /// Swaps `pid` to `package`: the new module is compiled and instantiated
    /// first; only if that works is the old one (stopped between turns, so at
    /// a safe point) asked for its state and replaced. Pid, capabilities and
    /// attachments stay.
    ///
    /// The successor is then on trial, as on the hosted engine: it runs
    /// (alone: this is one call on a single-threaded kernel) until it serves
    /// (blocks in a hostcall), ends, or has used [`START_FUEL`]. If it traps
    /// or exits with an error first, the core's verdict puts the previous
    /// module back under the same pid with the state it handed over, and the
    /// reload is refused.
    pub fn reload(&self, pid: Pid, package: &str) -> Result<Reloaded, EngineError> {
        let now = || self.kernel.borrow().now();
        let t0 = now();
        let s = self
            .kernel
            .borrow_mut()
            .prepare_reload(pid, package)
            .map_err(EngineError::Spawn)?;
        let fail = |message: String| EngineError::Reload { pid, message };
        if !self.is_live(pid) {
            return Err(fail("no live instance".into()));
        }
        let next = self.instantiate(&s).map_err(fail)?;
        let t1 = now();
        let state = {
            let mut inner = self.inner.borrow_mut();
            let old = inner.procs.get_mut(&pid).expect("checked live");
            save_state(old)
        };
        self.inner.borrow_mut().procs.insert(pid, next);
        self.kernel.borrow_mut().reloaded(&s, state);
        let swap = core::time::Duration::from_nanos(now() - t1);
        self.trial(pid)?;
        Ok(Reloaded {
            pid,
            hash: s.hash,
            prepare: core::time::Duration::from_nanos(t1 - t0),
            swap,
        })
    }

    /// Runs a reloaded process on trial until the core's lifecycle settles it.
    fn trial(&self, pid: Pid) -> Result<(), EngineError> {
        let mut fuel = 0;
        loop {
            let Some(mut p) = self.inner.borrow_mut().procs.remove(&pid) else {
                return Ok(());
            };
            let step = self.step(&mut p);
            let doomed = self.inner.borrow_mut().doomed.remove(&pid);
            let exit = match step {
                Step::Ended(exit) => exit,
                _ if doomed => Exit::Killed,
                Step::Ran if matches!(p.run, Some(Run::Sliced(_))) && fuel < START_FUEL => {
                    fuel += SLICE_FUEL;
                    self.inner.borrow_mut().procs.insert(pid, p);
                    continue;
                }
                // It serves (parked in a hostcall), or its budget is spent.
                _ => {
                    self.inner.borrow_mut().procs.insert(pid, p);
                    self.kernel.borrow_mut().trial_passed(pid);
                    return Ok(());
                }
            };
            drop(p);
            let verdict = self.kernel.borrow_mut().trial_ended(pid, &exit);
            return match verdict {
                Verdict::End => {
                    self.end(pid, exit);
                    Ok(())
                }
                Verdict::RollBack {
                    module,
                    state,
                    reason,
                } => match self.instantiate(&module) {
                    Ok(back) => {
                        self.inner.borrow_mut().procs.insert(pid, back);
                        self.kernel
                            .borrow_mut()
                            .rolled_back(pid, state, reason.clone());
                        Err(EngineError::Reload {
                            pid,
                            message: rollback_message(&reason, None),
                        })
                    }
                    Err(e) => {
                        let message = rollback_message(&reason, Some(&e));
                        self.end(pid, Exit::Failed(message.clone()));
                        Err(EngineError::Reload { pid, message })
                    }
                },
            };
        }
    }
}

/// Calls the old instance's `tidemark_save`, if any, within [`START_FUEL`];
/// returns the bytes it points at (empty when absent or misbehaving).
fn save_state(p: &mut Proc) -> Vec<u8> {
    let Ok(save) = p
        .instance
        .get_typed_func::<(), i64>(&p.store, tidemark_abi::SAVE_EXPORT)
    else {
        return Vec::new();
    };
    if p.store.set_fuel(START_FUEL).is_err() {
        return Vec::new();
    }
    let Ok(packed) = save.call(&mut p.store, ()) else {
        return Vec::new();
    };
    let Some(memory) = p.store.data().memory else {
        return Vec::new();
    };
    let max = p.store.data().kernel.borrow().config().max_state;
    saved_state(packed, memory.data(&p.store), max)
}
