//! Recording a process's boundary: every hostcall of a process spawned with
//! `record`, its arguments, what it returned and the bytes it wrote into
//! the guest ([`out_spans`]), for `tidemark replay` to run the module alone.
//!
//! A recorded process takes the copying path for channels (no ring window
//! is mapped into it), and its engine routes even the local hostcalls
//! (`time_now`, `cap_check`, `proc_self`) through [`Kernel::hostcall`], so
//! nothing enters the guest but through a recorded call.

use alloc::string::String;
use alloc::vec::Vec;
use tidemark_abi::{ChannelDescriptor, FrameMeta, ShmRegion, Wire, nr};
use tidemark_protocol::{Call, Recording, Returned, Wait, Written};

use crate::{EventKind, Kernel, Outcome, Pid};

/// What the kernel keeps for one recorded process.
#[derive(Debug, Default)]
pub struct Recorder {
    calls: Vec<Call>,
    bytes: usize,
    stopped: Option<String>,
}

impl Recorder {
    /// Stops recording (the calls so far stay), saying why.
    pub fn stop(&mut self, why: &str) {
        if self.stopped.is_none() {
            self.stopped = Some(why.into());
        }
    }
}

/// The guest memory hostcall `number` may have written, as (address,
/// length) pairs, given its arguments and result: the calls that take an
/// out-pointer. `result` is the value returned (negative: an error).
pub fn out_spans(number: u16, args: &[i64], result: i64) -> [Option<(i64, i64)>; 2] {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    let ok = result >= 0;
    let fixed = |ptr: i64, size: usize| (ptr != 0).then_some((ptr, size as i64));
    match number {
        nr::cap_info => [fixed(a(1), tidemark_abi::CapInfo::SIZE), None],
        nr::proc_args | nr::proc_state if ok => [Some((a(0), result.min(a(1)))), None],
        nr::chan_attach => [fixed(a(2), ChannelDescriptor::SIZE), None],
        nr::chan_read => [ok.then_some((a(1), result)), fixed(a(3), FrameMeta::SIZE)],
        nr::shm_attach => [fixed(a(1), ShmRegion::SIZE), None],
        nr::display_info if ok => [fixed(a(1), tidemark_abi::DisplayInfo::SIZE), None],
        nr::shm_read if ok => [Some((a(2), a(3))), None],
        nr::pkg_resolve if ok => [Some((a(2), 32)), None],
        _ => [None, None],
    }
}

impl Kernel {
    /// Records a call of a recorded process (a no-op for the rest).
    pub(crate) fn record_call(
        &mut self,
        pid: Pid,
        number: u16,
        args: &[i64],
        mem: &[u8],
        outcome: &Outcome,
    ) {
        let limit = self.config.max_recording;
        let Some(r) = self.procs.get_mut(&pid).and_then(|p| p.recording.as_mut()) else {
            return;
        };
        if r.stopped.is_some() {
            return;
        }
        let returned = match *outcome {
            Outcome::Return(v) => Returned::Value(v),
            Outcome::Block(w) => Returned::Parked(w),
            Outcome::Exit(c) => Returned::Exit(c),
        };
        let result = match returned {
            Returned::Value(v) => v,
            _ => -1,
        };
        let writes = out_spans(number, args, result)
            .into_iter()
            .flatten()
            .filter_map(|(at, len)| {
                let start = usize::try_from(at & 0xFFFF_FFFF).ok()?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                let bytes = mem.get(start..end)?;
                Some(Written {
                    at: start as u32,
                    bytes: bytes.to_vec(),
                })
            })
            .collect();
        let call = Call {
            number,
            args: args.to_vec(),
            returned,
            writes,
        };
        // A call retried after it parked (an engine's retries before it
        // sleeps, a wake that found nothing) that parks again on the same
        // thing replays the same: one record of it is enough. Yields and
        // sleeps are not retried: each is a call of its own.
        let retried = matches!(
            returned,
            Returned::Parked(
                Wait::Readable(_) | Wait::Writable(_) | Wait::Select(_) | Wait::Package
            )
        );
        if retried && r.calls.last() == Some(&call) {
            return;
        }
        if r.bytes + call.size() > limit {
            r.stop(&alloc::format!("its limit of {limit} bytes was reached"));
            self.event(EventKind::LimitReached {
                pid,
                limit: "recording bytes".into(),
                value: u32::try_from(limit).unwrap_or(u32::MAX),
            });
            return;
        }
        r.bytes += call.size();
        r.calls.push(call);
    }

    /// What a recorded process has done so far (`None`: no such process,
    /// or it was not spawned with `record`). `board` and `engine` name
    /// where it ran.
    pub fn recording(&self, pid: Pid, board: &str, engine: &str) -> Option<Recording> {
        let p = self.procs.get(&pid)?;
        let r = p.recording.as_ref()?;
        Some(Recording {
            pid,
            name: p.name.clone(),
            package: p.package.clone(),
            hash: p.hash.hex(),
            module: p.module.to_vec(),
            board: board.into(),
            engine: engine.into(),
            calls: r.calls.clone(),
            stopped: r.stopped.clone(),
            ended: !p.state.is_live(),
        })
    }
}

/// Answers a guest's hostcalls from a recording, one by one, the engine-free
/// half of `tidemark replay`: an engine links every hostcall to
/// [`Replay::call`] and runs the module's entry point.
#[derive(Debug)]
pub struct Replay {
    calls: Vec<Call>,
    at: usize,
    /// The recording holds the process's whole life: a call past its end
    /// is a divergence, not the end of what was recorded.
    complete: bool,
    /// Why [`Replay::call`] stopped the guest, once it has.
    stop: Option<Stop>,
}

/// What the guest gets back from a replayed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// This value.
    Return(i64),
    /// The process ends with this code.
    Exit(i32),
}

/// Why a replay stops before the guest does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The recording ends here: every call so far matched.
    End,
    /// The guest made another call than the recording says.
    Diverged(tidemark_protocol::ReplayEnd),
}

/// A call as the report names it.
pub fn site(number: u16, args: &[i64]) -> tidemark_protocol::CallSite {
    tidemark_protocol::CallSite {
        number,
        name: tidemark_abi::HOSTCALLS
            .iter()
            .find(|h| h.number == number)
            .map_or("?", |h| h.name)
            .into(),
        args: args.to_vec(),
    }
}

impl Replay {
    /// A replay of `rec`'s calls.
    pub fn new(rec: &Recording) -> Replay {
        Replay {
            calls: rec.calls.clone(),
            at: 0,
            complete: rec.ended && rec.stopped.is_none(),
            stop: None,
        }
    }

    /// Calls answered so far.
    pub fn replayed(&self) -> usize {
        self.at
    }

    /// Calls in the recording.
    pub fn total(&self) -> usize {
        self.calls.len()
    }

    /// Whether every recorded call has been answered.
    pub fn done(&self) -> bool {
        self.at == self.calls.len()
    }

    /// The guest calls `number` with `args`: checks it against the next
    /// recorded call, writes what that call wrote into `mem`, and answers
    /// what it returned. A call that parked and was retried is answered
    /// once, by its last record.
    pub fn call(&mut self, number: u16, args: &[i64], mem: &mut [u8]) -> Result<Step, Stop> {
        let r = self.answer(number, args, mem);
        if let Err(stop) = &r {
            self.stop = Some(stop.clone());
        }
        r
    }

    fn answer(&mut self, number: u16, args: &[i64], mem: &mut [u8]) -> Result<Step, Stop> {
        loop {
            let Some(c) = self.calls.get(self.at) else {
                if self.complete {
                    return Err(Stop::Diverged(tidemark_protocol::ReplayEnd::Diverged {
                        index: self.at,
                        expected: None,
                        got: Some(site(number, args)),
                        why: "the recorded process had ended here, but the guest made another call"
                            .into(),
                    }));
                }
                return Err(Stop::End);
            };
            if c.number != number || c.args != args {
                return Err(Stop::Diverged(tidemark_protocol::ReplayEnd::Diverged {
                    index: self.at,
                    expected: Some(site(c.number, &c.args)),
                    got: Some(site(number, args)),
                    why: "the guest made another call than the recording has".into(),
                }));
            }
            for w in &c.writes {
                let at = w.at as usize;
                let dst = at
                    .checked_add(w.bytes.len())
                    .and_then(|end| mem.get_mut(at..end));
                let Some(dst) = dst else {
                    return Err(Stop::Diverged(tidemark_protocol::ReplayEnd::Diverged {
                        index: self.at,
                        expected: Some(site(c.number, &c.args)),
                        got: Some(site(number, args)),
                        why: alloc::format!(
                            "the call wrote {} bytes at {at:#x}, outside the guest's memory ({} bytes) now",
                            w.bytes.len(),
                            mem.len()
                        ),
                    }));
                };
                dst.copy_from_slice(&w.bytes);
            }
            self.at += 1;
            match c.returned {
                Returned::Value(v) => return Ok(Step::Return(v)),
                Returned::Exit(code) => return Ok(Step::Exit(code)),
                Returned::Parked(
                    tidemark_protocol::Wait::Until(_) | tidemark_protocol::Wait::Yield,
                ) => {
                    return Ok(Step::Return(0));
                }
                // Retried when woken: the next record is the same call.
                Returned::Parked(_) => continue,
            }
        }
    }

    /// How the replay ended, once the guest's entry point returned: `ran`
    /// is its exit code (0 when it returned), or a trap's text; a stop
    /// [`Replay::call`] made comes first.
    pub fn end(&self, ran: Result<i32, String>) -> tidemark_protocol::ReplayEnd {
        match &self.stop {
            Some(Stop::Diverged(end)) => end.clone(),
            Some(Stop::End) => tidemark_protocol::ReplayEnd::Matched {
                then: "was still running where the recording ends".into(),
            },
            None => self.finish(ran),
        }
    }

    /// The report's ending for a guest whose entry point ended (`exit`:
    /// its code, or `Err` with a trap's text) with the replay at this point.
    pub fn finish(&self, exit: Result<i32, String>) -> tidemark_protocol::ReplayEnd {
        use tidemark_protocol::ReplayEnd;
        let then = match &exit {
            Ok(code) => alloc::format!("exited with code {code}"),
            Err(trap) => alloc::format!("trapped: {trap}"),
        };
        match self.calls.get(self.at) {
            None => ReplayEnd::Matched { then },
            Some(c) => ReplayEnd::Diverged {
                index: self.at,
                expected: Some(site(c.number, &c.args)),
                got: None,
                why: alloc::format!(
                    "the guest {then} after {} calls; the recording has {}",
                    self.at,
                    self.calls.len()
                ),
            },
        }
    }
}
