//! What a process waits for, and on whom: the chains `why` prints and the
//! deadlocks it calls out, worked out from a dump's views (park records,
//! ring cursors and capability tables), so it runs the same on a live
//! kernel and on a dump.
//!
//! A process parked reading a channel waits for any live process holding
//! that channel with write rights; one parked writing waits for the reader
//! holding the ring back. A set of parked processes each of whose wakers
//! is in the set can never run again: a deadlock (with the monitor, which
//! can always `chan send` or kill, as the only way out).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tidemark_abi::Rights;
use tidemark_protocol::{ChannelInfo, KernelDump, Object, ProcState, ProcessInfo, Wait};

/// What one process in a chain waits for.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Waits {
    /// Not parked.
    Running,
    /// Spawned, not yet started.
    Starting,
    /// A frame on a channel, from any of `writers`.
    Read {
        /// Channel id.
        channel: u32,
        /// The live processes that could write it.
        writers: Vec<u32>,
    },
    /// Room on a full channel, which `reader` holds back (0: the monitor's
    /// own reader, `chan tail`).
    Write {
        /// Channel id.
        channel: u32,
        /// The reader at the oldest cursor.
        reader: Option<u32>,
    },
    /// A frame on any of the channels it reads (`chan_select`).
    Select {
        /// Channels it holds with read rights.
        channels: Vec<u32>,
        /// The live processes that could write any of them.
        writers: Vec<u32>,
        /// When it gives up waiting (ns since boot).
        deadline_ns: Option<u64>,
    },
    /// A sleep until this time (ns since boot).
    Sleep {
        /// When it wakes.
        until_ns: u64,
    },
    /// A package being fetched.
    Package,
    /// It has ended.
    Ended {
        /// How (`exited`, `trapped`, ...).
        how: String,
    },
}

/// One process in a chain.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Link {
    /// Pid.
    pub pid: u32,
    /// Name.
    pub name: String,
    /// What it waits for.
    pub waits: Waits,
    /// How long it has been in that state (ns).
    pub for_ns: u64,
    /// What it waits for, in words (without the time, which `for_ns` gives).
    pub text: String,
}

/// How a chain ends.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum End {
    /// The last process can run (or is sleeping, or fetching): the chain
    /// moves when it does.
    Progress,
    /// The monitor's own reader holds the ring back: `chan tail` it, or
    /// `chan untail`.
    Monitor,
    /// No live process can write the channel read: only the monitor can.
    NoWriter {
        /// Channel id.
        channel: u32,
    },
    /// A cycle of parked processes, each waiting only on others in a set
    /// that can never run again.
    Deadlock {
        /// The cycle, starting and ending with the same pid.
        cycle: Vec<u32>,
    },
    /// The process asked about has ended.
    Ended,
}

/// `why PID`'s result.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Why {
    /// The chain, starting with the process asked about.
    pub chain: Vec<Link>,
    /// How it ends.
    pub end: End,
    /// The same, in words.
    pub verdict: String,
}

/// The dump's views, indexed for walking waits.
pub struct Waiting<'a> {
    d: &'a KernelDump,
    procs: BTreeMap<u32, &'a ProcessInfo>,
    channels: BTreeMap<u32, &'a ChannelInfo>,
    deadlocked: BTreeSet<u32>,
}

impl<'a> Waiting<'a> {
    /// Indexes `d` and finds the processes that can never run again.
    pub fn new(d: &'a KernelDump) -> Waiting<'a> {
        let mut w = Waiting {
            d,
            procs: d.ps.iter().map(|p| (p.pid, p)).collect(),
            channels: d.channels.iter().map(|c| (c.id, c)).collect(),
            deadlocked: BTreeSet::new(),
        };
        w.deadlocked = w.knot();
        w
    }

    /// The live processes other than `but` that hold `channel` with `rights`.
    fn holders(&self, channel: u32, rights: Rights, but: u32) -> Vec<u32> {
        self.d
            .caps
            .iter()
            .filter(|pc| {
                pc.pid != but && self.procs.get(&pc.pid).is_some_and(|p| p.state.is_live())
            })
            .filter(|pc| {
                pc.caps
                    .iter()
                    .any(|c| c.object == Object::Channel(channel) && c.rights.contains(rights))
            })
            .map(|pc| pc.pid)
            .collect()
    }

    /// What `p` waits for.
    pub fn waits(&self, p: &ProcessInfo) -> Waits {
        match &p.state {
            ProcState::Starting => Waits::Starting,
            ProcState::Running | ProcState::Blocked(Wait::Yield) => Waits::Running,
            ProcState::Blocked(Wait::Readable(c)) => Waits::Read {
                channel: *c,
                writers: self.holders(*c, Rights::WRITE, p.pid),
            },
            ProcState::Blocked(Wait::Writable(c)) => Waits::Write {
                channel: *c,
                reader: self
                    .channels
                    .get(c)
                    .and_then(|c| c.held_back_by.as_ref())
                    .map(|r| r.pid),
            },
            ProcState::Blocked(Wait::Select(deadline)) => {
                let channels: Vec<u32> = self
                    .d
                    .caps_of(p.pid)
                    .iter()
                    .filter_map(|c| match c.object {
                        Object::Channel(id) if c.rights.contains(Rights::READ) => Some(id),
                        _ => None,
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let writers: BTreeSet<u32> = channels
                    .iter()
                    .flat_map(|c| self.holders(*c, Rights::WRITE, p.pid))
                    .collect();
                Waits::Select {
                    channels,
                    writers: writers.into_iter().collect(),
                    deadline_ns: *deadline,
                }
            }
            ProcState::Blocked(Wait::Until(t)) => Waits::Sleep { until_ns: *t },
            ProcState::Blocked(Wait::Package) => Waits::Package,
            ProcState::Ended(_) => Waits::Ended {
                how: format!("{} {}", p.state.name(), p.state.detail())
                    .trim_end()
                    .into(),
            },
        }
    }

    /// Who could wake `p`: `None` when something outside the processes
    /// can (time, a fetch, the monitor's reader) or it is not parked.
    fn wakers(&self, p: &ProcessInfo) -> Option<Vec<u32>> {
        if !self.parked(p) {
            return None;
        }
        match self.waits(p) {
            Waits::Read { writers, .. } => Some(writers),
            Waits::Select {
                writers,
                deadline_ns: None,
                ..
            } => Some(writers),
            Waits::Write {
                reader: Some(r), ..
            } if r != 0 => Some(vec![r]),
            _ => None,
        }
    }

    /// The largest set of parked processes whose every waker is in the set
    /// (and that have one): none of them can ever run again.
    fn knot(&self) -> BTreeSet<u32> {
        let wakers: BTreeMap<u32, Vec<u32>> = self
            .procs
            .values()
            .filter_map(|p| self.wakers(p).filter(|w| !w.is_empty()).map(|w| (p.pid, w)))
            .collect();
        let mut set: BTreeSet<u32> = wakers.keys().copied().collect();
        loop {
            let out: Vec<u32> = set
                .iter()
                .copied()
                .filter(|p| wakers[p].iter().any(|w| !set.contains(w)))
                .collect();
            if out.is_empty() {
                return set;
            }
            for p in out {
                set.remove(&p);
            }
        }
    }

    /// Whether `p`, blocked on a channel, is still on the channel's list of
    /// parked parties: one a wake took off the list has not retried its
    /// call yet, and runs next (a dump can catch it in between).
    fn parked(&self, p: &ProcessInfo) -> bool {
        let listed = |c: &u32, readers: bool| {
            self.channels.get(c).is_some_and(|c| {
                let list = if readers {
                    &c.parked_readers
                } else {
                    &c.parked_writers
                };
                list.contains(&p.pid)
            })
        };
        match p.state {
            ProcState::Blocked(Wait::Readable(c)) => listed(&c, true),
            ProcState::Blocked(Wait::Writable(c)) => listed(&c, false),
            _ => true,
        }
    }

    /// Whether `pid` can never run again.
    pub fn is_deadlocked(&self, pid: u32) -> bool {
        self.deadlocked.contains(&pid)
    }

    fn proc_name(&self, pid: u32) -> String {
        match self.procs.get(&pid) {
            Some(p) => format!("pid {pid} `{}`", p.name),
            None if pid == 0 => "the monitor".into(),
            None => format!("pid {pid}"),
        }
    }

    fn chan_name(&self, id: u32) -> String {
        match self.channels.get(&id) {
            Some(c) => format!("chan {id} `{}`", c.name),
            None => format!("chan {id}"),
        }
    }

    fn list(&self, pids: &[u32]) -> String {
        match pids {
            [] => "none".into(),
            [one] => self.proc_name(*one),
            many => many
                .iter()
                .map(|p| self.proc_name(*p))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn link(&self, p: &ProcessInfo) -> Link {
        let waits = self.waits(p);
        let for_ns = self.d.info.uptime_ns.saturating_sub(p.since_ns);
        let who = self.proc_name(p.pid);
        let text = match &waits {
            Waits::Running => format!("{who} is running"),
            Waits::Starting => format!("{who} is starting"),
            Waits::Read { channel, writers } => format!(
                "{who} waits to read {}; {}",
                self.chan_name(*channel),
                match writers.len() {
                    0 => "no live process can write it".to_string(),
                    1 => format!("its only writer is {}", self.list(writers)),
                    _ => format!("its writers are {}", self.list(writers)),
                }
            ),
            Waits::Write { channel, reader } => {
                let c = self.channels.get(channel);
                let (n, cap) = c.map_or((0, 0), |c| (c.frames_in_flight, c.frame_cap));
                let lag = c
                    .and_then(|c| c.held_back_by.as_ref())
                    .map_or(String::new(), |r| {
                        format!(" at seq {}, {} frames behind", r.seq, r.lag)
                    });
                format!(
                    "{who} waits to write {}, full ({n}/{cap} frames) because {} has not read{lag}",
                    self.chan_name(*channel),
                    reader.map_or("a reader".into(), |r| self.proc_name(r)),
                )
            }
            Waits::Select {
                channels, writers, ..
            } => format!(
                "{who} waits for a frame on any of {}; their writers are {}",
                channels
                    .iter()
                    .map(|c| self.chan_name(*c))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.list(writers)
            ),
            Waits::Sleep { .. } => format!("{who} is sleeping"),
            Waits::Package => format!("{who} waits for a package fetch"),
            Waits::Ended { how } => format!("{who} has ended ({how})"),
        };
        Link {
            pid: p.pid,
            name: p.name.clone(),
            waits,
            for_ns,
            text,
        }
    }

    /// The next process to follow from `p`. When `p` can never run again,
    /// a waker in the same stuck set (the walk then closes a cycle).
    /// Otherwise one not already on the chain: one that can move first
    /// (it ends the chain), else one that waits in turn.
    fn next(&self, p: &ProcessInfo, chain: &[Link]) -> Option<u32> {
        let wakers = self.wakers(p)?;
        if self.is_deadlocked(p.pid) {
            return wakers.into_iter().find(|w| self.is_deadlocked(*w));
        }
        let fresh: Vec<u32> = wakers
            .into_iter()
            .filter(|w| !chain.iter().any(|l| l.pid == *w) && !self.is_deadlocked(*w))
            .collect();
        let can_move = |w: &u32| self.procs.get(w).is_some_and(|x| self.wakers(x).is_none());
        fresh
            .iter()
            .find(|w| can_move(w))
            .or(fresh.first())
            .copied()
    }

    /// The chain of waits from `pid`.
    pub fn why(&self, pid: u32) -> Option<Why> {
        let mut chain: Vec<Link> = Vec::new();
        let mut at = *self.procs.get(&pid)?;
        loop {
            chain.push(self.link(at));
            let Some(next) = self.next(at, &chain) else {
                break;
            };
            if let Some(i) = chain.iter().position(|l| l.pid == next) {
                let mut cycle: Vec<u32> = chain[i..].iter().map(|l| l.pid).collect();
                cycle.push(next);
                let verdict = format!(
                    "deadlock: {} (each waits on the next; none can run again until the monitor sends to one of their channels or kills one)",
                    cycle
                        .iter()
                        .map(|p| format!("pid {p}"))
                        .collect::<Vec<_>>()
                        .join(" → ")
                );
                return Some(Why {
                    chain,
                    end: End::Deadlock { cycle },
                    verdict,
                });
            }
            let Some(n) = self.procs.get(&next) else {
                break;
            };
            at = n;
        }
        let last = chain.last().expect("one link");
        let (end, verdict) = match &last.waits {
            Waits::Ended { .. } if chain.len() == 1 => {
                (End::Ended, "it waits for nothing: it has ended".into())
            }
            Waits::Read { channel, writers } if writers.is_empty() => (
                End::NoWriter { channel: *channel },
                format!(
                    "stuck: no live process holds {} with write rights (only the monitor can send to it)",
                    self.chan_name(*channel)
                ),
            ),
            Waits::Write {
                channel,
                reader: Some(0),
            } => (
                End::Monitor,
                format!(
                    "the monitor's own reader of {} holds it back: `chan tail` it, or `chan untail` it",
                    self.chan_name(*channel)
                ),
            ),
            _ => (
                End::Progress,
                format!("{} and can move the chain on", last.text),
            ),
        };
        Some(Why {
            chain,
            end,
            verdict,
        })
    }
}

/// `4.0 s`, `12 ms`.
pub fn seconds(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else {
        format!("{} ms", ns / 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_abi::{Backpressure, Classes};
    use tidemark_protocol::*;

    fn proc_(pid: u32, state: ProcState) -> ProcessInfo {
        ProcessInfo {
            pid,
            name: format!("p{pid}"),
            package: "x".into(),
            hash: String::new(),
            state,
            since_ns: 0,
            classes: Classes::ALL,
            caps: 0,
            memory: 0,
            memory_limit: 0,
            parent: 0,
            reloads: 0,
            counters: Counters::default(),
        }
    }

    fn chan(id: u32, parked_readers: Vec<u32>) -> ChannelInfo {
        ChannelInfo {
            id,
            name: format!("c{id}"),
            backpressure: Backpressure::Park,
            single: false,
            data_cap: 64,
            frame_cap: 4,
            bytes_in_flight: 0,
            data_in_flight: 0,
            frames_in_flight: 0,
            head_seq: 0,
            drops: 0,
            readers: vec![],
            writers: vec![],
            parked_readers,
            parked_writers: vec![],
            held_back_by: None,
            corrupt: None,
            holders: 0,
        }
    }

    /// `writes[pid]`: the channels it may write.
    fn dump(ps: Vec<ProcessInfo>, channels: Vec<ChannelInfo>, writes: &[(u32, u32)]) -> KernelDump {
        let caps = ps
            .iter()
            .map(|p| ProcessCaps {
                pid: p.pid,
                caps: writes
                    .iter()
                    .filter(|(w, _)| *w == p.pid)
                    .map(|(_, c)| CapInfo {
                        handle: 0x10000,
                        index: 0,
                        generation: 1,
                        object: Object::Channel(*c),
                        rights: Rights::WRITE,
                        name: "out".into(),
                        parent: None,
                        children: 0,
                    })
                    .collect(),
            })
            .collect();
        KernelDump {
            reason: "test".into(),
            info: KernelInfo {
                version: String::new(),
                protocol: PROTOCOL_VERSION,
                abi: 1,
                board: "test".into(),
                engine: String::new(),
                uptime_ns: 0,
                memory: None,
                link: None,
                fetches: false,
            },
            ps,
            caps,
            channels,
            arenas: vec![],
            packages: Default::default(),
            catalog: Default::default(),
            events: vec![],
            memories: vec![],
        }
    }

    fn reading(c: u32) -> ProcState {
        ProcState::Blocked(Wait::Readable(c))
    }

    #[test]
    fn a_cycle_one_of_whose_members_a_running_process_can_wake_is_no_deadlock() {
        // 1 reads chan 1 (written by 2, parked, and 3, running); 2 reads
        // chan 2, written only by 1.
        let d = dump(
            vec![
                proc_(1, reading(1)),
                proc_(2, reading(2)),
                proc_(3, ProcState::Running),
            ],
            vec![chan(1, vec![1]), chan(2, vec![2])],
            &[(2, 1), (3, 1), (1, 2)],
        );
        let w = Waiting::new(&d);
        assert!(!w.is_deadlocked(1) && !w.is_deadlocked(2));
        let why = w.why(1).unwrap();
        assert_eq!(why.end, End::Progress, "{}", why.verdict);
        assert_eq!(
            why.chain.last().unwrap().pid,
            3,
            "it follows the one that can move"
        );
        // Without 3 the two wait on each other for good.
        let d = dump(
            vec![proc_(1, reading(1)), proc_(2, reading(2))],
            vec![chan(1, vec![1]), chan(2, vec![2])],
            &[(2, 1), (1, 2)],
        );
        let why = Waiting::new(&d).why(2).unwrap();
        assert_eq!(
            why.end,
            End::Deadlock {
                cycle: vec![2, 1, 2]
            }
        );
    }

    #[test]
    fn a_process_woken_but_not_yet_retried_is_not_stuck() {
        // 2 was woken (no longer on chan 2's parked readers): it runs next.
        let d = dump(
            vec![proc_(1, reading(1)), proc_(2, reading(2))],
            vec![chan(1, vec![1]), chan(2, vec![])],
            &[(2, 1), (1, 2)],
        );
        let w = Waiting::new(&d);
        assert!(!w.is_deadlocked(1) && !w.is_deadlocked(2));
        assert_eq!(w.why(1).unwrap().end, End::Progress);
    }
}
