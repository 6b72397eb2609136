//! Introspection: plain views of every kernel object, the data the monitor
//! serves and the REPL shows.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use tidemark_abi::{Classes, Rights, Role};

use crate::arena::Purpose;
use crate::caps::Object;
use crate::{Counters, Kernel, Pid, ProcState};

/// A process.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessView {
    /// Pid.
    pub pid: Pid,
    /// Name.
    pub name: String,
    /// Package.
    pub package: String,
    /// Module hash (hex).
    pub hash: String,
    /// State.
    pub state: ProcState,
    /// Classes granted.
    pub classes: Classes,
    /// Live capabilities.
    pub caps: usize,
    /// Linear memory used / limit.
    pub memory: (usize, usize),
    /// Parent.
    pub parent: Pid,
    /// Counters.
    pub counters: Counters,
}

/// A capability of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapView {
    /// Raw handle value the guest holds.
    pub handle: i32,
    /// Slot index.
    pub index: u16,
    /// Generation.
    pub generation: u16,
    /// Object.
    pub object: Object,
    /// Rights.
    pub rights: Rights,
    /// Name.
    pub name: String,
    /// Delegated from (pid, raw handle).
    pub parent: Option<(Pid, i32)>,
    /// Delegated copies.
    pub children: usize,
}

/// A channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelView {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Payload capacity.
    pub data_cap: u32,
    /// Frame capacity.
    pub frame_cap: u32,
    /// Backpressure name.
    pub backpressure: &'static str,
    /// Ring counters.
    pub stats: tidemark_ring::RingStats,
    /// Reader cursors: (pid, slot, next seq, lag).
    pub readers: Vec<(Pid, u32, u32, u32)>,
    /// Writers: (pid, id, frames).
    pub writers: Vec<(Pid, u32, u32)>,
    /// Pids parked reading / writing.
    pub parked: (Vec<Pid>, Vec<Pid>),
    /// Corruption found, if any.
    pub corrupt: Option<&'static str>,
    /// Capability holders.
    pub holders: u32,
}

/// An arena.
#[derive(Clone, Debug, PartialEq)]
pub struct ArenaView {
    /// Id.
    pub id: u32,
    /// Size.
    pub size: usize,
    /// Used.
    pub used: usize,
    /// High-water mark.
    pub high_water: usize,
    /// Fragmentation (0 = one free gap).
    pub fragmentation: f32,
    /// Regions: (id, offset, len, owner, purpose).
    pub regions: Vec<(u32, usize, usize, Pid, Purpose)>,
}

impl Kernel {
    /// Every process.
    pub fn ps(&self) -> Vec<ProcessView> {
        // Frames moved through live attachments, counted from the rings.
        let mut live: BTreeMap<Pid, (u64, u64)> = BTreeMap::new();
        for c in self.channels.values() {
            let ring = c.ring(&self.arenas);
            for a in c.attachments.iter().filter(|a| a.pid != crate::KERNEL_PID) {
                let e = live.entry(a.pid).or_default();
                match a.role {
                    Role::Reader => e.0 += u64::from(a.frames(&ring)),
                    Role::Writer => e.1 += u64::from(a.frames(&ring)),
                }
            }
        }
        self.procs
            .values()
            .map(|p| {
                let mut counters = p.counters;
                if let Some((frames_in, frames_out)) = live.get(&p.pid) {
                    counters.frames_in += frames_in;
                    counters.frames_out += frames_out;
                }
                ProcessView {
                    pid: p.pid,
                    name: p.name.clone(),
                    package: p.package.clone(),
                    hash: p.hash.hex(),
                    state: p.state.clone(),
                    classes: p.classes,
                    caps: p.caps.len(),
                    memory: (p.memory_used, p.memory_limit),
                    parent: p.parent,
                    counters,
                }
            })
            .collect()
    }

    /// A process's capabilities.
    pub fn caps(&self, pid: Pid) -> Option<Vec<CapView>> {
        let p = self.procs.get(&pid)?;
        Some(
            p.caps
                .iter()
                .map(|(h, e)| CapView {
                    handle: h.to_raw(),
                    index: h.index,
                    generation: h.generation,
                    object: e.object,
                    rights: e.rights,
                    name: e.name.clone(),
                    parent: e.parent.map(|r| (r.pid, r.handle.to_raw())),
                    children: e.children.len(),
                })
                .collect(),
        )
    }

    /// Every channel.
    pub fn channel_views(&self) -> Vec<ChannelView> {
        self.channels
            .values()
            .filter(|c| !c.deleted)
            .map(|c| {
                let ring = c.ring(&self.arenas);
                let pid_of = |role: Role, ep: u32| {
                    c.attachments.iter().find(|a| a.role == role && a.endpoint == ep).map_or(0, |a| a.pid)
                };
                ChannelView {
                    id: c.id,
                    name: c.name.clone(),
                    data_cap: c.geo.data_cap,
                    frame_cap: c.geo.frame_cap,
                    backpressure: c.backpressure().name(),
                    stats: ring.stats(),
                    readers: ring.readers().map(|r| (pid_of(Role::Reader, r.slot), r.slot, r.seq, r.lag)).collect(),
                    writers: ring.writers().map(|w| (pid_of(Role::Writer, w.id), w.id, w.frames)).collect(),
                    parked: (c.readers_waiting.clone(), c.writers_waiting.clone()),
                    corrupt: c.corrupt.map(|x| x.describe()),
                    holders: c.holders,
                }
            })
            .collect()
    }

    /// Every arena.
    pub fn arena_views(&self) -> Vec<ArenaView> {
        self.arenas
            .iter()
            .map(|a| ArenaView {
                id: a.id,
                size: a.size(),
                used: a.used(),
                high_water: a.high_water(),
                fragmentation: a.fragmentation(),
                regions: a.regions().map(|r| (r.id, r.offset, r.len, r.owner, r.purpose)).collect(),
            })
            .collect()
    }
}
