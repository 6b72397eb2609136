//! Per-process quotas: what one process may make the kernel hold (channels,
//! shm regions, arena bytes, capability entries) and how fast it may log.
//! A quota that is hit is `LimitReached` to the caller and a `limit` event;
//! log lines past the rate are counted and reported in one `suppressed`
//! event per window, never buffered.

use tidemark_abi::Error;
use tidemark_protocol::{EventKind, Purpose};

use crate::{KERNEL_PID, Kernel, Pid};

/// The log window a process's [`crate::Limits::log_lines`] applies to.
pub const LOG_WINDOW_NS: u64 = 1_000_000_000;

/// One process's log rate: lines in the current window and lines dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogBudget {
    window_start_ns: u64,
    lines: u32,
    suppressed: u64,
}

/// What a process asks the kernel to hold more of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// A channel whose ring takes this many arena bytes.
    Channel(usize),
    /// A shm region of this many bytes.
    Region(usize),
    /// One more capability table entry.
    Cap,
}

impl Kernel {
    /// Checks that `pid` may hold what it asks for; records a `limit` event
    /// when it may not. The kernel itself (the monitor) has no quota.
    pub(crate) fn quota(&mut self, pid: Pid, ask: Ask) -> Result<(), Error> {
        match self.over_quota(pid, ask) {
            None => Ok(()),
            Some((limit, value)) => {
                self.event(EventKind::LimitReached {
                    pid,
                    limit: limit.into(),
                    value,
                });
                Err(Error::LimitReached)
            }
        }
    }

    fn over_quota(&self, pid: Pid, ask: Ask) -> Option<(&'static str, u32)> {
        if pid == KERNEL_PID {
            return None;
        }
        let l = self.config.limits;
        if ask == Ask::Cap {
            let held = self.procs.get(&pid).map_or(0, |p| p.caps.len() as u32);
            return (held >= l.caps).then_some(("capabilities of one process", l.caps));
        }
        // One walk over the regions for what `pid` holds in the arenas.
        let (mut channels, mut regions, mut bytes) = (0u32, 0u32, 0usize);
        for r in self
            .arenas
            .iter()
            .flat_map(|a| a.regions())
            .filter(|r| r.owner == pid)
        {
            match r.purpose {
                Purpose::Shm | Purpose::Display => regions += 1,
                Purpose::Channel(_) => channels += 1,
            }
            bytes += r.len;
        }
        match ask {
            Ask::Channel(_) if channels >= l.channels => {
                Some(("channels of one process", l.channels))
            }
            Ask::Region(_) if regions >= l.regions => {
                Some(("shm regions of one process", l.regions))
            }
            Ask::Channel(len) | Ask::Region(len)
                if bytes.saturating_add(len) > l.arena_bytes as usize =>
            {
                Some(("arena bytes of one process", l.arena_bytes))
            }
            _ => None,
        }
    }

    /// Counts a log line against `pid`'s rate: `true` if it may be kept.
    /// The first line of a new window reports what the last one dropped.
    pub(crate) fn log_allowed(&mut self, pid: Pid) -> bool {
        let now = self.now();
        let limit = self.config.limits.log_lines;
        let Some(p) = self.procs.get_mut(&pid) else {
            return false;
        };
        let b = &mut p.log;
        let mut dropped = 0;
        if now.saturating_sub(b.window_start_ns) >= LOG_WINDOW_NS {
            b.window_start_ns = now;
            b.lines = 0;
            dropped = core::mem::take(&mut b.suppressed);
        }
        let kept = b.lines < limit;
        if kept {
            b.lines += 1;
        } else {
            b.suppressed += 1;
        }
        self.suppressed_event(pid, dropped);
        kept
    }

    /// Reports (and forgets) the log lines `pid` had suppressed, if any,
    /// when the process ends.
    pub(crate) fn report_suppressed(&mut self, pid: Pid) {
        if let Some(p) = self.procs.get_mut(&pid) {
            let dropped = core::mem::take(&mut p.log.suppressed);
            self.suppressed_event(pid, dropped);
        }
    }

    fn suppressed_event(&mut self, pid: Pid, lines: u64) {
        if lines > 0 {
            let per_second = self.config.limits.log_lines;
            self.event(EventKind::Suppressed {
                pid,
                lines,
                per_second,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use alloc::sync::Arc;
    use alloc::vec;
    use core::sync::atomic::{AtomicU64, Ordering};
    use tidemark_abi::{Backpressure, Classes, Rights, nr};

    use super::*;
    use crate::{Config, Limits, Object, Outcome, SpawnSpec};

    static NOW: AtomicU64 = AtomicU64::new(0);

    fn clock() -> u64 {
        NOW.load(Ordering::Relaxed)
    }

    fn kernel(limits: Limits) -> (Kernel, Pid) {
        let mut k = Kernel::new(
            Config {
                limits,
                ..Config::default()
            },
            clock,
        );
        k.install("empty", Arc::from(&b"\0asm\x01\0\0\0"[..]), true)
            .unwrap();
        let pid = k.spawn(SpawnSpec::new("empty")).unwrap().pid;
        k.started(pid);
        k.procs.get_mut(&pid).unwrap().classes = Classes::ALL;
        (k, pid)
    }

    fn limit_events(k: &Kernel, pid: Pid) -> vec::Vec<alloc::string::String> {
        k.events_since(0)
            .filter_map(|e| match &e.kind {
                EventKind::LimitReached { pid: p, limit, .. } if *p == pid => Some(limit.clone()),
                _ => None,
            })
            .collect()
    }

    fn ret(o: Outcome) -> i64 {
        match o {
            Outcome::Return(v) => v,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn channels_past_the_quota_are_refused_and_the_monitor_is_not_counted() {
        let (mut k, pid) = kernel(Limits {
            channels: 2,
            ..Limits::default()
        });
        let mut mem = vec![0u8; 16];
        for _ in 0..2 {
            assert!(ret(k.hostcall(pid, nr::chan_create, &[256, 4, 0], &mut mem)) > 0);
        }
        assert_eq!(
            ret(k.hostcall(pid, nr::chan_create, &[256, 4, 0], &mut mem)),
            Error::LimitReached.code() as i64
        );
        assert_eq!(limit_events(&k, pid), ["channels of one process"]);
        // The kernel (the monitor) is not held to a process's quota.
        for i in 0..4 {
            let name = alloc::format!("k{i}");
            k.create_channel(&name, 256, 4, Backpressure::Park, KERNEL_PID)
                .unwrap();
        }
        // Deleting one and dropping its handle frees its place (its ring
        // stays while a handle holds it).
        let h = k.procs[&pid].caps.iter().next().unwrap().0.to_raw() as i64;
        assert_eq!(ret(k.hostcall(pid, nr::chan_delete, &[h], &mut mem)), 0);
        assert_eq!(
            ret(k.hostcall(pid, nr::chan_create, &[256, 4, 0], &mut mem)),
            Error::LimitReached.code() as i64
        );
        assert_eq!(ret(k.hostcall(pid, nr::cap_drop, &[h], &mut mem)), 0);
        assert!(ret(k.hostcall(pid, nr::chan_create, &[256, 4, 0], &mut mem)) > 0);
    }

    #[test]
    fn arena_bytes_count_channels_and_regions_together() {
        let (mut k, pid) = kernel(Limits {
            arena_bytes: 64 << 10,
            ..Limits::default()
        });
        let mut mem = vec![0u8; 16];
        assert!(ret(k.hostcall(pid, nr::shm_alloc, &[48 << 10, 8], &mut mem)) > 0);
        // A 16 KiB ring does not fit beside 48 KiB of shm (its header takes a page).
        assert_eq!(
            ret(k.hostcall(pid, nr::chan_create, &[16 << 10, 4, 0], &mut mem)),
            Error::LimitReached.code() as i64
        );
        assert!(ret(k.hostcall(pid, nr::shm_alloc, &[16 << 10, 8], &mut mem)) > 0);
        assert_eq!(
            ret(k.hostcall(pid, nr::shm_alloc, &[1, 8], &mut mem)),
            Error::LimitReached.code() as i64
        );
        assert_eq!(
            limit_events(&k, pid),
            ["arena bytes of one process", "arena bytes of one process"]
        );
    }

    #[test]
    fn regions_and_capability_entries_have_their_own_quotas() {
        let (mut k, pid) = kernel(Limits {
            regions: 3,
            caps: 4,
            ..Limits::default()
        });
        let mut mem = vec![0u8; 16];
        for _ in 0..3 {
            assert!(ret(k.hostcall(pid, nr::shm_alloc, &[64, 8], &mut mem)) > 0);
        }
        assert_eq!(
            ret(k.hostcall(pid, nr::shm_alloc, &[64, 8], &mut mem)),
            Error::LimitReached.code() as i64
        );
        // A fourth entry fits; a fifth, granted by the monitor, does not.
        let ch = k
            .create_channel("c", 256, 4, Backpressure::Park, KERNEL_PID)
            .unwrap();
        k.grant(pid, "a", Object::Channel(ch), Rights::READ)
            .unwrap();
        assert_eq!(
            k.grant(pid, "b", Object::Channel(ch), Rights::READ),
            Err(Error::LimitReached)
        );
        assert_eq!(
            limit_events(&k, pid),
            ["shm regions of one process", "capabilities of one process"]
        );
        // The refused grant took no entry.
        assert_eq!(k.procs[&pid].caps.len(), 4);
    }

    #[test]
    fn a_log_flood_keeps_the_rate_and_reports_what_it_dropped() {
        NOW.store(0, Ordering::Relaxed);
        let (mut k, pid) = kernel(Limits {
            log_lines: 10,
            ..Limits::default()
        });
        let mut mem = vec![b'x'; 16];
        let mut kept = 0;
        for i in 0..1000u64 {
            // 1000 lines over 2.5 s: 10 a second are kept.
            NOW.store(i * 2_500_000, Ordering::Relaxed);
            if ret(k.hostcall(pid, nr::log, &[2, 0, 4], &mut mem)) == 0 {
                kept += 1;
            }
        }
        assert_eq!(kept, 30);
        k.exit(pid, tidemark_protocol::Exit::Code(0));
        let logs = k
            .events_since(0)
            .filter(|e| matches!(e.kind, EventKind::Log { .. }))
            .count();
        assert_eq!(logs, 30);
        let suppressed: vec::Vec<u64> = k
            .events_since(0)
            .filter_map(|e| match e.kind {
                EventKind::Suppressed {
                    lines,
                    per_second: 10,
                    ..
                } => Some(lines),
                _ => None,
            })
            .collect();
        // Two full windows (400 lines each, 390 dropped), then the last
        // half window's 190 dropped, reported when the process ended.
        assert_eq!(suppressed, [390, 390, 190]);
        assert_eq!(suppressed.iter().sum::<u64>() + kept, 1000);
    }
}
