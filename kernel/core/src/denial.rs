//! Why a hostcall was denied: every refusal for lack of a class or a right
//! is counted and recorded as a `Denied` event that says what was held,
//! from whom, and what the call would have needed.

use alloc::format;
use alloc::string::String;
use tidemark_abi::{self as abi, Classes, Error, Rights, Role, nr};

use crate::caps::CapRef;
use crate::{EventKind, Kernel, Pid};

/// The rights hostcall `number` needs from the capability its first
/// argument names, or `None` when the call takes no capability.
fn needs(number: u16, args: &[i64]) -> Option<Rights> {
    Some(match number {
        nr::chan_attach => match args.get(1).and_then(|r| Role::from_u32(*r as u32)) {
            Some(Role::Reader) => Rights::READ,
            _ => Rights::WRITE,
        },
        nr::chan_write | nr::shm_write => Rights::WRITE,
        nr::chan_read | nr::chan_drain | nr::shm_read => Rights::READ,
        nr::chan_delete => Rights::DELETE,
        nr::cap_revoke | nr::cap_delegate => Rights::GRANT,
        _ => return None,
    })
}

fn hostcall_name(number: u16) -> &'static str {
    abi::HOSTCALLS
        .iter()
        .find(|h| h.number == number)
        .map_or("?", |h| h.name)
}

/// `rw`, `g`, `none`: rights as letters, for sentences.
fn letters(r: Rights) -> String {
    let s: String = alloc::format!("{r}")
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if s.is_empty() { "none".into() } else { s }
}

fn class_list(c: Classes) -> String {
    let names: alloc::vec::Vec<&str> = c.iter().map(|c| c.name()).collect();
    names.join(",")
}

impl Kernel {
    /// What a `PermissionDenied` stub does for a hostcall whose class the
    /// process lacks: counts, records why (and, for a recorded process, the
    /// call), and returns the guest's error code.
    pub fn deny(&mut self, pid: Pid, number: u16, args: &[i64]) -> i64 {
        let code = Error::PermissionDenied.code() as i64;
        if self.procs.get(&pid).is_some_and(|p| p.recording.is_some()) {
            self.record_call(pid, number, args, &[], &crate::Outcome::Return(code));
        }
        let (class, held) = match (abi::signature(number), self.procs.get(&pid)) {
            (Some((class, _)), Some(p)) => (class.name(), class_list(p.classes)),
            _ => ("?", String::new()),
        };
        let why = format!("pid {pid} lacks class `{class}` (it has {held})");
        self.record_denial(pid, number, None, [None; 2], why);
        code
    }

    /// A hostcall answered `PermissionDenied` after its class check: says
    /// why from the capability it named (its rights and where they came
    /// from) and records it.
    pub(crate) fn explain_denial(&mut self, pid: Pid, number: u16, args: &[i64]) {
        let name = hostcall_name(number);
        let need = needs(number, args);
        let cap = args.first().and_then(|raw| self.handle(pid, *raw).ok());
        let (why, handle, rights) = match (need, cap) {
            (Some(need), Some((h, object, held))) => {
                let entry = &self.procs[&pid].caps;
                let cap_name = entry.get(h).map_or("?", |e| e.name.as_str());
                let mut why = format!("pid {pid} holds `{cap_name}` ({object}) {}", letters(held));
                why.push_str(&self.grant_chain(CapRef { pid, handle: h }));
                why.push_str(&format!("; {name} needs {}", letters(need)));
                why.push_str(&self.remedy(CapRef { pid, handle: h }, need));
                (why, Some(h.to_raw()), [Some(held), Some(need)])
            }
            _ if number == nr::proc_kill => (
                format!(
                    "pid {} is not a child of pid {pid}",
                    args.first().copied().unwrap_or(0)
                ),
                None,
                [None; 2],
            ),
            _ => (format!("{name} was refused to pid {pid}"), None, [None; 2]),
        };
        self.record_denial(pid, number, handle, rights, why);
    }

    fn record_denial(
        &mut self,
        pid: Pid,
        number: u16,
        handle: Option<i32>,
        [held, needed]: [Option<Rights>; 2],
        why: String,
    ) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.counters.denials += 1;
        }
        // Counted always; told within the process's log rate, so a guest
        // that calls what it may not in a loop cannot flood the log.
        if self.procs.contains_key(&pid) && !self.log_allowed(pid) {
            return;
        }
        self.event(EventKind::Denied {
            pid,
            hostcall: hostcall_name(number).into(),
            handle,
            held,
            needed,
            why,
        });
    }

    /// ` from pid 1 (rwg), granted by the kernel`: who delegated the
    /// capability, up to its root.
    fn grant_chain(&self, mut at: CapRef) -> String {
        let mut out = String::new();
        // Delegation depth is bounded by the cap tables; stop on a cycle anyway.
        for _ in 0..64 {
            let Some(e) = self
                .procs
                .get(&at.pid)
                .and_then(|p| p.caps.get(at.handle).ok())
            else {
                break;
            };
            match e.parent {
                Some(parent) => {
                    let rights = self
                        .procs
                        .get(&parent.pid)
                        .and_then(|p| p.caps.get(parent.handle).ok())
                        .map_or(Rights::NONE, |e| e.rights);
                    out.push_str(&format!(" from pid {} ({})", parent.pid, letters(rights)));
                    at = parent;
                }
                None => {
                    out.push_str(", granted by the kernel");
                    break;
                }
            }
        }
        out
    }

    /// `: pid 1 holds rwg and could delegate w`, or that no holder up the
    /// chain can.
    fn remedy(&self, mut at: CapRef, need: Rights) -> String {
        for _ in 0..64 {
            let Some(parent) = self
                .procs
                .get(&at.pid)
                .and_then(|p| p.caps.get(at.handle).ok())
                .and_then(|e| e.parent)
            else {
                break;
            };
            let rights = self
                .procs
                .get(&parent.pid)
                .and_then(|p| p.caps.get(parent.handle).ok())
                .map_or(Rights::NONE, |e| e.rights);
            if rights.contains(need.union(Rights::GRANT)) {
                return format!(
                    ": pid {} holds {} and could delegate {}",
                    parent.pid,
                    letters(rights),
                    letters(need)
                );
            }
            at = parent;
        }
        format!(
            ": no holder up the chain can delegate {}; a grant from the monitor can",
            letters(need)
        )
    }
}
