//! `init`: the supervisor. Its arguments are a [`Plan`] (built by the
//! workbench from `Tidemark.toml`, or a board's boot bundle); it holds
//! every capability the plan hands out, starts each unit once what it
//! comes `after` runs, handing it its grants before its first instruction,
//! and restarts a service that ends, after a delay that doubles per restart
//! up to a cap, until the restart budget of the window is spent (the
//! service is then `failed`). When a service ends, its clients' reply
//! channels get a restart notice, so a client waiting on it hears at once.
//! Every state change is a log event; its control connections (the
//! monitor's `svc` commands, the screen's services pane) answer `List`,
//! `Restart` and `Stop`.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use tidemark_sdk::cap::Cap;
use tidemark_sdk::channel::{self, Channel, Reader, Writer};
use tidemark_sdk::process::{self, ChildExit, Spawn};
use tidemark_sdk::svc::init::{Answer, Plan, Request, Start, State, Unit, UnitInfo};
use tidemark_sdk::svc::{MONITOR, SCREEN, Service, channel_name, postcard};
use tidemark_sdk::{Backpressure, Error, Rights, abi::Wire, info, time, warn};

// Every class: a child gets at most its parent's, and init's children are
// the whole system (vfs needs `shm` for its image, guests what they ask).
tidemark_sdk::main!(run, classes: log, time, channel, shm, process);

struct Running {
    unit: Unit,
    state: State,
    pid: Option<u32>,
    restarts: u32,
    /// Start times of the restarts inside the budget's window.
    recent: Vec<u64>,
    restart_at: Option<u64>,
    last_error: Option<String>,
    /// A requested restart: the next end is not a crash.
    asked: bool,
    notify: Vec<Writer>,
}

fn run() -> Result<(), Error> {
    let mut buf = vec![0u8; 64 * 1024];
    let plan: Plan = match postcard::from_bytes(process::args(&mut buf)) {
        Ok(p) => p,
        Err(e) => {
            tidemark_sdk::error!("init: the boot plan cannot be read: {e}");
            return Err(Error::InvalidArgument);
        }
    };
    let watch = Channel::create(4096, 64, Backpressure::Drop)?;
    let exits = watch.reader()?;
    process::watch(Some(watch.cap))?;
    // Control connections: the monitor's (`svc`) and the screen's (its
    // services pane), each a request reader and a reply writer.
    let control: Vec<(Reader, Writer)> = [MONITOR, SCREEN]
        .iter()
        .filter_map(|c| {
            let req = Channel::lookup(&channel_name(Service::Init, c, "req")).and_then(|c| c.reader()).ok()?;
            let resp = Channel::lookup(&channel_name(Service::Init, c, "resp")).and_then(|c| c.writer()).ok()?;
            Some((req, resp))
        })
        .collect();
    let policy = plan.restart;
    let mut units: Vec<Running> = plan
        .units
        .into_iter()
        .map(|unit| {
            let notify = unit.notify.iter().filter_map(|n| Channel::lookup(n).and_then(|c| c.writer()).ok()).collect();
            Running { unit, state: State::Waiting, pid: None, restarts: 0, recent: Vec::new(), restart_at: None, last_error: None, asked: false, notify }
        })
        .collect();
    check_order(&mut units);
    info!("init: {} units to start", units.len());
    loop {
        start_ready(&mut units);
        let now = time::now();
        for u in units.iter_mut() {
            if u.state == State::Backoff && u.restart_at.is_some_and(|t| t <= now) {
                u.restart_at = None;
                u.restarts += 1;
                spawn(u);
            }
        }
        let deadline = units.iter().filter_map(|u| u.restart_at).min();
        let mut readers: Vec<&Reader> = vec![&exits];
        readers.extend(control.iter().map(|(r, _)| r));
        match channel::select(&readers, deadline) {
            Ok(_) | Err(Error::Empty) => {}
            Err(e) => return Err(e),
        }
        while let Ok(f) = exits.try_read(&mut buf) {
            if f.len as usize == ChildExit::SIZE {
                ended(&mut units, ChildExit::decode(&buf[..ChildExit::SIZE]), &policy);
            }
        }
        for (c, a) in &control {
            while let Ok(f) = c.try_read(&mut buf) {
                let (id, req) = tidemark_sdk::svc::decode::<Request>(Service::Init, &buf[..f.len as usize]);
                let reply = match req {
                    Ok(r) => control_request(&mut units, r),
                    Err(e) => Err(e),
                };
                let _ = a.try_write(&tidemark_sdk::svc::encode(Service::Init, id, &reply));
            }
        }
    }
}

/// Marks units that wait on a unit the plan lacks, or on themselves
/// through a cycle, as failed: they could never start.
fn check_order(units: &mut [Running]) {
    let names: Vec<String> = units.iter().map(|u| u.unit.name.clone()).collect();
    for i in 0..units.len() {
        if let Some(missing) = units[i].unit.after.iter().find(|a| !names.contains(a)) {
            let why = format!("comes after `{missing}`, which the plan does not have");
            fail(&mut units[i], why);
            continue;
        }
        // Walk the `after` edges: reaching `i` again is a cycle.
        let mut seen = vec![false; units.len()];
        let mut stack: Vec<usize> = units[i].unit.after.iter().filter_map(|a| names.iter().position(|n| n == a)).collect();
        while let Some(j) = stack.pop() {
            if j == i {
                fail(&mut units[i], "its `after` list loops back to it".into());
                break;
            }
            if !core::mem::replace(&mut seen[j], true) {
                stack.extend(units[j].unit.after.iter().filter_map(|a| names.iter().position(|n| n == a)));
            }
        }
    }
}

fn fail(u: &mut Running, why: String) {
    warn!("init: {} failed: {why}", u.unit.name);
    u.state = State::Failed;
    u.pid = None;
    u.restart_at = None;
    u.last_error = Some(why);
}

fn start_ready(units: &mut [Running]) {
    loop {
        let running: Vec<String> = units.iter().filter(|u| u.state == State::Running).map(|u| u.unit.name.clone()).collect();
        let Some(u) = units.iter_mut().find(|u| u.state == State::Waiting && u.unit.after.iter().all(|a| running.contains(a))) else {
            return;
        };
        spawn(u);
    }
}

fn spawn(u: &mut Running) {
    let result = (|| {
        let mut s = Spawn::new(&u.unit.package);
        for g in &u.unit.grants {
            let cap = Cap::lookup(&g.cap).map_err(|e| format!("init holds no `{}`: {e}", g.cap))?;
            s = s.grant(cap, Rights(g.rights), &g.name).map_err(|e| format!("grant `{}`: {e}", g.name))?;
        }
        let args = match u.unit.service {
            Some(_) => postcard::to_allocvec(&Start { restarts: u.restarts, args: u.unit.args.clone() }).unwrap_or_default(),
            None => u.unit.args.clone(),
        };
        s.run(&args).map_err(|e| format!("spawn `{}`: {e}", u.unit.package))
    })();
    match result {
        Ok(pid) => {
            info!("init: {} running (pid {pid}{})", u.unit.name, if u.restarts > 0 { format!(", restart {}", u.restarts) } else { String::new() });
            u.state = State::Running;
            u.pid = Some(pid);
        }
        Err(why) => fail(u, why),
    }
}

fn ended(units: &mut [Running], e: ChildExit, policy: &tidemark_sdk::svc::init::RestartPolicy) {
    let Some(u) = units.iter_mut().find(|u| u.pid == Some(e.pid)) else {
        return;
    };
    let how = match e.kind {
        ChildExit::EXITED => format!("exited with code {}", e.code as i32),
        ChildExit::TRAPPED => "trapped".into(),
        ChildExit::KILLED => "was killed".into(),
        _ => "failed to start".into(),
    };
    u.pid = None;
    if let Some(service) = u.unit.service {
        let notice = tidemark_sdk::svc::restarted_notice(service);
        for w in &u.notify {
            let _ = w.try_write(&notice);
        }
    }
    if core::mem::take(&mut u.asked) {
        info!("init: {} {how}; restarting as asked", u.unit.name);
        u.restarts += 1;
        spawn(u);
        return;
    }
    if u.state == State::Stopped {
        info!("init: {} stopped ({how})", u.unit.name);
        return;
    }
    u.last_error = Some(how.clone());
    if !u.unit.restart {
        info!("init: {} {how}", u.unit.name);
        u.state = State::Exited;
        return;
    }
    let now = time::now();
    let window = u64::from(policy.window_ms) * 1_000_000;
    u.recent.retain(|t| now.saturating_sub(*t) < window);
    if u.recent.len() as u32 >= policy.budget {
        let why = format!("{how}; out of restarts ({} in {} ms)", policy.budget, policy.window_ms);
        fail(u, why);
        return;
    }
    u.recent.push(now);
    let delay_ms = (u64::from(policy.base_ms) << (u.recent.len() - 1).min(20)).min(u64::from(policy.max_ms));
    warn!("init: {} {how}; restart {} in {delay_ms} ms", u.unit.name, u.restarts + 1);
    u.state = State::Backoff;
    u.restart_at = Some(now + delay_ms * 1_000_000);
}

fn control_request(units: &mut [Running], req: Request) -> tidemark_sdk::svc::Reply<Answer> {
    use tidemark_sdk::svc::SvcError;
    let find = |units: &mut [Running], name: &str| units.iter().position(|u| u.unit.name == name).ok_or_else(|| SvcError::NotFound(format!("unit `{name}`")));
    match req {
        Request::List => Ok(Answer::Units(
            units
                .iter()
                .map(|u| UnitInfo {
                    name: u.unit.name.clone(),
                    package: u.unit.package.clone(),
                    state: u.state,
                    pid: u.pid,
                    restarts: u.restarts,
                    last_error: u.last_error.clone(),
                    after: u.unit.after.clone(),
                })
                .collect(),
        )),
        Request::Restart(name) => {
            let i = find(units, &name)?;
            let u = &mut units[i];
            u.recent.clear();
            match u.pid {
                Some(pid) => {
                    u.asked = true;
                    process::kill(pid).map_err(|e| SvcError::Unavailable(format!("kill pid {pid}: {e}")))?;
                }
                None => {
                    u.restart_at = None;
                    u.restarts += 1;
                    spawn(u);
                }
            }
            Ok(Answer::Done)
        }
        Request::Stop(name) => {
            let i = find(units, &name)?;
            let u = &mut units[i];
            u.state = State::Stopped;
            u.restart_at = None;
            if let Some(pid) = u.pid {
                process::kill(pid).map_err(|e| SvcError::Unavailable(format!("kill pid {pid}: {e}")))?;
            }
            Ok(Answer::Done)
        }
    }
}
