//! Introspection: every kernel object as the protocol's wire types, the
//! data the monitor serves and the screen shows (one type end to end), and
//! the resolution of names in requests.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use tidemark_abi::Role;
use tidemark_protocol::{
    ArenaInfo, CacheInfo, CapInfo, ChanRef, ChannelInfo, KernelDump, KernelInfo, PackageInfo,
    ProcRef, ProcessCaps, ProcessInfo, ReaderInfo, RegionInfo, WriterInfo,
};

use crate::{Kernel, Pid};

/// The newest events a dump holds at most.
pub const DUMP_EVENTS: usize = 512;

impl Kernel {
    /// The kernel's whole inspectable state, for a dump (with the newest
    /// [`DUMP_EVENTS`] events when `with_events`). `info` carries
    /// the kernel's own fields and the uptime; a monitor fills in the
    /// board's (its name, engine, memory, link) when it serves the dump.
    pub fn dump(&self, reason: &str, with_events: bool) -> KernelDump {
        let ps = self.ps();
        KernelDump {
            reason: String::from(reason),
            info: KernelInfo {
                version: String::from(env!("CARGO_PKG_VERSION")),
                protocol: tidemark_protocol::PROTOCOL_VERSION,
                abi: tidemark_abi::ABI_VERSION,
                board: String::new(),
                engine: String::new(),
                uptime_ns: self.now(),
                memory: None,
                link: None,
                fetches: false,
            },
            caps: ps
                .iter()
                .map(|p| ProcessCaps {
                    pid: p.pid,
                    caps: self.caps(p.pid).unwrap_or_default(),
                })
                .collect(),
            ps,
            channels: self.channel_views(),
            arenas: self.arena_views(),
            packages: self.cache_view(),
            catalog: self.catalog_view(),
            events: if with_events {
                let n = self.events.len();
                self.events
                    .iter()
                    .skip(n.saturating_sub(DUMP_EVENTS))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
            // The engine holds guest memories: a monitor adds them.
            memories: Vec::new(),
        }
    }

    /// The dump taken when a process last trapped (before its
    /// capabilities were released), if one did.
    pub fn crash_dump(&self) -> Option<&KernelDump> {
        self.crash.as_deref()
    }

    /// Takes in the dump a board kept across the reset after a kernel
    /// panic (or why it does not read): `crash_dump` answers it until a
    /// process traps, and an event says the previous boot panicked.
    pub fn restore_crash_dump(&mut self, d: Result<KernelDump, alloc::string::String>) {
        let text = match d {
            Ok(d) => {
                let text = alloc::format!(
                    "the previous boot ended in a {}; `dump --crash FILE` writes its dump",
                    d.reason
                );
                self.crash = Some(alloc::boxed::Box::new(d));
                text
            }
            Err(e) => alloc::format!("the previous boot kept a panic dump that does not read: {e}"),
        };
        self.event(crate::EventKind::Log {
            pid: crate::KERNEL_PID,
            level: tidemark_abi::Level::Error,
            text,
        });
    }

    /// Every process.
    pub fn ps(&self) -> Vec<ProcessInfo> {
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
                ProcessInfo {
                    pid: p.pid,
                    name: p.name.clone(),
                    package: p.package.clone(),
                    hash: p.hash.hex(),
                    state: p.state.clone(),
                    since_ns: p.since_ns,
                    classes: p.classes,
                    caps: p.caps.len() as u32,
                    memory: p.memory_used as u64,
                    memory_limit: p.memory_limit as u64,
                    parent: p.parent,
                    reloads: p.reloads,
                    counters,
                }
            })
            .collect()
    }

    /// A process's capabilities.
    pub fn caps(&self, pid: Pid) -> Option<Vec<CapInfo>> {
        let p = self.procs.get(&pid)?;
        Some(
            p.caps
                .iter()
                .map(|(h, e)| CapInfo {
                    handle: h.to_raw(),
                    index: h.index,
                    generation: h.generation,
                    object: e.object,
                    rights: e.rights,
                    name: e.name.clone(),
                    parent: e.parent.map(|r| (r.pid, r.handle.to_raw())),
                    children: e.children.len() as u32,
                })
                .collect(),
        )
    }

    /// Every channel.
    pub fn channel_views(&self) -> Vec<ChannelInfo> {
        self.channels
            .values()
            .filter(|c| !c.deleted)
            .map(|c| self.channel_view(c))
            .collect()
    }

    /// One channel.
    pub fn channel_info(&self, id: u32) -> Option<ChannelInfo> {
        self.channels
            .get(&id)
            .filter(|c| !c.deleted)
            .map(|c| self.channel_view(c))
    }

    fn channel_view(&self, c: &crate::channel::Channel) -> ChannelInfo {
        let ring = c.ring(&self.arenas);
        let pid_of = |role: Role, ep: u32| {
            c.attachments
                .iter()
                .find(|a| a.role == role && a.endpoint == ep)
                .map_or(0, |a| a.pid)
        };
        let stats = ring.stats();
        let readers: Vec<ReaderInfo> = ring
            .readers()
            .map(|r| ReaderInfo {
                pid: pid_of(Role::Reader, r.slot),
                slot: r.slot,
                seq: r.seq,
                lag: r.lag,
            })
            .collect();
        let full = !c.writers_waiting.is_empty()
            || stats.frames_in_flight >= c.geo.frame_cap
            || u64::from(stats.data_in_flight) * 10 >= u64::from(c.geo.data_cap) * 9;
        let held_back_by = (c.backpressure() == tidemark_abi::Backpressure::Park && full)
            .then(|| {
                readers
                    .iter()
                    .filter(|r| r.lag > 0)
                    .max_by_key(|r| r.lag)
                    .cloned()
            })
            .flatten();
        ChannelInfo {
            id: c.id,
            name: c.name.clone(),
            backpressure: c.backpressure(),
            single: c.geo.single(),
            data_cap: c.geo.data_cap,
            frame_cap: c.geo.frame_cap,
            bytes_in_flight: stats.bytes_in_flight,
            data_in_flight: stats.data_in_flight,
            frames_in_flight: stats.frames_in_flight,
            head_seq: stats.head_seq,
            drops: stats.drops,
            readers,
            writers: ring
                .writers()
                .map(|w| WriterInfo {
                    pid: pid_of(Role::Writer, w.id),
                    id: w.id,
                    frames: w.frames,
                })
                .collect(),
            parked_readers: c.readers_waiting.clone(),
            parked_writers: c.writers_waiting.clone(),
            held_back_by,
            corrupt: c.corrupt.map(|x| String::from(x.describe())),
            holders: c.holders,
        }
    }

    /// Every arena.
    pub fn arena_views(&self) -> Vec<ArenaInfo> {
        self.arenas
            .iter()
            .map(|a| ArenaInfo {
                id: a.id,
                size: a.size() as u64,
                used: a.used() as u64,
                free: (a.size() - a.used()) as u64,
                high_water: a.high_water() as u64,
                fragmentation: a.fragmentation(),
                regions: a
                    .regions()
                    .map(|r| RegionInfo {
                        id: r.id,
                        offset: r.offset as u64,
                        len: r.len as u64,
                        owner: r.owner,
                        purpose: r.purpose,
                    })
                    .collect(),
            })
            .collect()
    }

    /// The package cache.
    pub fn cache_view(&self) -> CacheInfo {
        let c = &self.packages;
        CacheInfo {
            slots: c.slots() as u32,
            hits: c.counters().hits,
            misses: c.counters().misses,
            evictions: c.counters().evictions,
            verify_failures: self.fetch_counters().0,
            fetching: self.fetch_counters().1,
            packages: c.iter().map(crate::package::Package::info).collect(),
        }
    }

    /// The pid a request names: a pid the kernel has seen, or the newest
    /// live process of that name (else the newest of that name).
    pub fn resolve_process(&self, r: &ProcRef) -> Option<Pid> {
        match r {
            ProcRef::Pid(p) => self.procs.contains_key(p).then_some(*p),
            ProcRef::Name(n) => {
                let named = || self.procs.values().rev().filter(|p| p.name == *n);
                named()
                    .find(|p| p.state.is_live())
                    .or_else(|| named().next())
                    .map(|p| p.pid)
            }
        }
    }

    /// The channel id a request names (the oldest live channel of that name).
    pub fn resolve_channel(&self, r: &ChanRef) -> Option<u32> {
        match r {
            ChanRef::Id(id) => self.channels.get(id).filter(|c| !c.deleted).map(|c| c.id),
            ChanRef::Name(n) => self.channel_by_name(n),
        }
    }
}

impl crate::package::Package {
    /// As the protocol reports it.
    pub fn info(&self) -> PackageInfo {
        PackageInfo {
            name: self.name.clone(),
            hash: self.hash.hex(),
            size: self.bytes.len() as u64,
            pinned: self.pinned,
        }
    }
}
