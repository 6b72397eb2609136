//! Processes are fibers on a few workers: many busy guests share them
//! fairly, a guest waiting on channels still answers beside them, and idle
//! guests cost no thread.

mod common;

use std::time::{Duration, Instant};

use tidemark_abi::Backpressure;
use tidemark_hosted::kernel::{Config, Exit, Pid, ProcState, SpawnSpec, Wait};
use tidemark_hosted::{Hosted, Options};

/// Threads of this test process (the kernel's workers, timer and ticker among them).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn hostcalls(h: &Hosted, pid: Pid) -> u64 {
    h.kernel().process(pid).map_or(0, |p| p.counters.hostcalls)
}

/// A kernel with the test guests and the scale fixtures (`busy`, `idle`),
/// allowed `processes` live processes.
fn boot(processes: u32) -> Hosted {
    let mut config = Config::default();
    config.limits.processes = processes;
    // Every exit stays listed, so each kill's exit can be checked.
    config.ended_kept = processes as usize;
    config.package_slots = 32;
    let h = common::boot_with(config, Options::default());
    for g in tidemark_guest_artifacts::BENCHES {
        h.install(g.name, g.bytes);
    }
    h
}

fn kill_all(h: &Hosted, pids: &[Pid]) {
    for &pid in pids {
        h.kill(pid);
    }
    for &pid in pids {
        assert_eq!(h.wait(pid, Duration::from_secs(60)), Some(Exit::Killed));
    }
}

#[test]
fn a_thousand_busy_guests_each_make_progress_and_ping_pong_still_runs() {
    let h = boot(1024);
    let busy: Vec<Pid> = (0..1000)
        .map(|_| h.spawn(SpawnSpec::new("busy")).unwrap())
        .collect();
    let (ping, pong, _, _) = common::pair(&h, "pp", "rr 200", "echo", Backpressure::Park);
    // A woken guest goes ahead of the busy ones: 200 round trips while a
    // thousand guests compute.
    assert_eq!(h.wait(ping, Duration::from_secs(120)), Some(Exit::Code(0)));
    assert_eq!(h.wait(pong, Duration::from_secs(10)), Some(Exit::Code(200)));
    // Every busy guest got worker time: none starves.
    let deadline = Instant::now() + Duration::from_secs(240);
    let starved = loop {
        let starved: Vec<Pid> = busy
            .iter()
            .copied()
            .filter(|&p| hostcalls(&h, p) == 0)
            .collect();
        if starved.is_empty() || Instant::now() > deadline {
            break starved;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        starved.is_empty(),
        "{} of 1000 busy guests never ran: {:?}",
        starved.len(),
        &starved[..starved.len().min(10)]
    );
    // And they keep running: each makes progress again.
    let before: Vec<u64> = busy.iter().map(|&p| hostcalls(&h, p)).collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let behind = busy
            .iter()
            .zip(&before)
            .filter(|&(&p, &b)| hostcalls(&h, p) <= b)
            .count();
        if behind == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{behind} busy guests stopped making progress"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(threads() < 50, "{} threads for 1000 processes", threads());
    kill_all(&h, &busy);
}

#[test]
fn two_thousand_idle_guests_cost_no_thread_each_and_can_be_killed() {
    let h = boot(4096);
    let before = threads();
    let idle: Vec<Pid> = (0..2000)
        .map(|_| h.spawn(SpawnSpec::new("idle")).unwrap())
        .collect();
    // Each is parked in its sleep once its first slice is over (it ran on
    // this thread, inside `spawn`, unless an epoch tick cut that slice short
    // and queued the rest for a worker: wait for those).
    let deadline = Instant::now() + Duration::from_secs(60);
    for &pid in &idle {
        loop {
            let state = h.kernel().process(pid).map(|p| p.state.clone());
            if matches!(state, Some(ProcState::Blocked(Wait::Until(_)))) {
                break;
            }
            assert!(Instant::now() < deadline, "{pid}: {state:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // The workers are started at boot; a process adds none. (Other tests
    // in this binary run beside this one and may add their kernel's few.)
    assert!(
        threads() < before + 20,
        "{before} threads before, {} with 2000 idle processes",
        threads()
    );
    kill_all(&h, &idle);
}

#[test]
fn ended_processes_past_the_kept_number_are_forgotten() {
    let mut config = Config::default();
    config.package_slots = 32;
    let kept = config.ended_kept;
    let h = common::boot_with(config, Options::default());
    for g in tidemark_guest_artifacts::BENCHES {
        h.install(g.name, g.bytes);
    }
    let pids: Vec<Pid> = (0..kept + 100)
        .map(|_| {
            let pid = h.spawn(SpawnSpec::new("first")).unwrap();
            assert!(matches!(h.wait(pid, Duration::from_secs(60)), Some(Exit::Code(_))));
            pid
        })
        .collect();
    // The newest `kept` are listed with their exits; the first 100 are gone,
    // and waiting for one answers at once that the kernel does not know it.
    let listed: Vec<Pid> = h.kernel().processes().map(|p| p.pid).collect();
    assert_eq!(listed, pids[100..]);
    assert_eq!(h.wait(pids[0], Duration::from_secs(3600)), None);
}
