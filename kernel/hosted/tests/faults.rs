//! Channels under faults, end to end on real wasmtime and real guests: the
//! benchmark's 4-writer/4-reader shape at a reduced size, and a storm of
//! writers and readers killed at random mid-stream, on both channel paths. Every sink
//! checks that each writer process's numbered frames arrive once and in
//! order (`pong sink`), so a lost or repeated frame fails the test.

#[macro_use]
mod common;
use common::{boot, boot_with};

use std::time::{Duration, Instant};

use tidemark_abi::{Backpressure, Rights};
use tidemark_hosted::kernel::caps::Object;
use tidemark_hosted::kernel::{Config, EventKind, Exit, KERNEL_PID, Pid, SpawnSpec};
use tidemark_hosted::{Hosted, Options};

const LONG: Duration = Duration::from_secs(300);

on_both_paths!(
    four_writers_four_readers_move_every_frame_once,
    writers_and_readers_killed_mid_stream_lose_and_repeat_nothing,
    a_spawn_bomb_hits_the_limits_and_harms_no_one_else
);

fn code(h: &Hosted, pid: Pid) -> i32 {
    match h.wait(pid, LONG) {
        Some(Exit::Code(c)) if c >= 0 => c,
        other => {
            let events: Vec<_> = h
                .kernel()
                .events_since(0)
                .map(|e| format!("{:?}", e.kind))
                .collect();
            panic!("process {pid}: {other:?}\n{}", events.join("\n"))
        }
    }
}

fn sinks(h: &Hosted, data: u32, n: usize, frames: u64) -> Vec<Pid> {
    let pids: Vec<Pid> = (0..n)
        .map(|_| {
            h.spawn(
                SpawnSpec::new("pong")
                    .args(format!("sink {frames}").as_bytes())
                    .grant("in", Object::Channel(data), Rights::READ),
            )
            .unwrap()
        })
        .collect();
    // Every reader holds a cursor before the first frame.
    let deadline = Instant::now() + LONG;
    while h
        .kernel()
        .channel_views()
        .iter()
        .find(|c| c.id == data)
        .unwrap()
        .readers
        .len()
        < n
    {
        assert!(Instant::now() < deadline, "readers never attached");
        std::thread::sleep(Duration::from_millis(1));
    }
    pids
}

fn writer(h: &Hosted, data: u32, ctl: u32, frames: u64) -> Pid {
    h.spawn(
        SpawnSpec::new("ping")
            .args(format!("stream {frames} 8").as_bytes())
            .grant("out", Object::Channel(data), Rights::WRITE)
            .grant("ctl", Object::Channel(ctl), Rights::WRITE),
    )
    .unwrap()
}

fn no_corruption(h: &Hosted) {
    let k = h.kernel();
    let bad: Vec<_> = k
        .events_since(0)
        .filter(|e| matches!(e.kind, EventKind::Corrupt { .. }))
        .map(|e| format!("{:?}", e.kind))
        .collect();
    assert!(
        bad.is_empty(),
        "a fault the kernel can attribute marked a channel corrupt: {bad:?}"
    );
}

fn four_writers_four_readers_move_every_frame_once(path: Options) {
    const PER: u64 = 20_000;
    let h = boot(path);
    let data = h
        .kernel()
        .create_channel("fan", 1 << 12, 64, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let ctl = h
        .kernel()
        .create_channel("fan-ctl", 4096, 64, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let readers = sinks(&h, data, 4, 4 * PER);
    let writers: Vec<Pid> = (0..4).map(|_| writer(&h, data, ctl, PER)).collect();
    for pid in readers {
        assert_eq!(code(&h, pid), 4 * PER as i32, "sink {pid}");
    }
    for pid in writers {
        assert_eq!(code(&h, pid), 0, "nothing dropped under Park");
    }
    no_corruption(&h);
}

/// Writers are killed at random points of their streams and replaced, while
/// sinks read; so is a reader that joined mid-stream (its replacement joins
/// at the slowest live cursor). A killed writer's frames stop, but none is
/// lost before that point or delivered twice to any reader, no ring is left
/// locked or blocked, and no channel is marked corrupt.
fn writers_and_readers_killed_mid_stream_lose_and_repeat_nothing(path: Options) {
    const TOTAL: u64 = 60_000;
    let h = boot(path);
    let data = h
        .kernel()
        .create_channel("storm", 1 << 10, 16, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let ctl = h
        .kernel()
        .create_channel("storm-ctl", 1 << 16, 1024, Backpressure::Drop, KERNEL_PID)
        .unwrap();
    let readers = sinks(&h, data, 2, TOTAL);
    let mut live: Vec<Pid> = (0..3)
        .map(|_| writer(&h, data, ctl, u32::MAX as u64))
        .collect();
    let joiner = |h: &Hosted| {
        h.spawn(SpawnSpec::new("pong").args(b"join 2000000000").grant(
            "in",
            Object::Channel(data),
            Rights::READ,
        ))
        .unwrap()
    };
    let mut joined = joiner(&h);
    let (mut killed, mut readers_killed) = (0, 0);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let deadline = Instant::now() + LONG;
    while readers.iter().any(|p| {
        h.kernel()
            .process(*p)
            .is_some_and(|p| !matches!(p.state, tidemark_hosted::kernel::ProcState::Ended(_)))
    }) {
        assert!(
            Instant::now() < deadline,
            "the sinks never got their frames"
        );
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(200 + rng % 3000));
        if rng % 4 == 0 {
            // The joined reader: killed, not ended on its own (-2: a frame
            // lost or repeated).
            h.kill(joined);
            assert_eq!(h.wait(joined, LONG), Some(Exit::Killed), "joined reader");
            readers_killed += 1;
            joined = joiner(&h);
            continue;
        }
        let victim = live.remove((rng % live.len() as u64) as usize);
        h.kill(victim);
        assert_eq!(h.wait(victim, LONG), Some(Exit::Killed));
        killed += 1;
        live.push(writer(&h, data, ctl, u32::MAX as u64));
    }
    for pid in readers {
        assert_eq!(
            code(&h, pid),
            TOTAL as i32,
            "sink {pid}: a frame lost or repeated"
        );
    }
    h.kill(joined);
    assert_eq!(h.wait(joined, LONG), Some(Exit::Killed), "joined reader");
    for pid in live {
        h.kill(pid);
    }
    assert!(killed > 3, "the storm killed {killed} writers");
    assert!(readers_killed > 0, "the storm killed no reader");
    println!(
        "storm: {TOTAL} frames to each of 2 sinks, {killed} writers and {readers_killed} joined readers killed, none lost or repeated"
    );
    no_corruption(&h);
}

/// A guest with the `process` class that spawns itself in a loop (it once
/// took the whole hosted kernel down at ~6,800 threads): the limits refuse
/// it with `LimitReached` and an event, ping-pong running beside it goes on
/// to the end, and killing the bomb's tree leaves nothing behind.
fn a_spawn_bomb_hits_the_limits_and_harms_no_one_else(path: Options) {
    use tidemark_hosted::kernel::{Limits, ProcState};
    let limits = Limits {
        processes: 120,
        children: 6,
        depth: 4,
        ..Limits::default()
    };
    let h = boot_with(
        Config {
            limits,
            ..Config::default()
        },
        path,
    );
    let data = h
        .kernel()
        .create_channel("ok", 4096, 64, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let back = h
        .kernel()
        .create_channel("ok-back", 4096, 64, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let pong = h
        .spawn(
            SpawnSpec::new("pong")
                .args(b"echo")
                .grant("in", Object::Channel(data), Rights::READ)
                .grant("out", Object::Channel(back), Rights::WRITE)
                .grant("ctl", Object::Channel(back), Rights::READ),
        )
        .unwrap();
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .args(b"rr 20000")
                .grant("out", Object::Channel(data), Rights::WRITE)
                .grant("in", Object::Channel(back), Rights::READ)
                .grant("ctl", Object::Channel(back), Rights::WRITE),
        )
        .unwrap();
    let root = h
        .spawn(
            SpawnSpec::new("probe")
                .args(b"bomb")
                .allow(tidemark_abi::Classes::ALL),
        )
        .unwrap();
    let live = |h: &Hosted| {
        h.kernel()
            .processes()
            .filter(|p| !matches!(p.state, ProcState::Ended(_)))
            .count()
    };
    // Depth 4 and 6 children each: 1 + 6 + 36 + 216 would pass 118, so the
    // process limit is what stops it (the others refuse on the way).
    let deadline = Instant::now() + LONG;
    while !h
        .kernel()
        .events_since(0)
        .any(|e| matches!(&e.kind, EventKind::LimitReached { limit, .. } if limit == "processes"))
    {
        assert!(
            Instant::now() < deadline,
            "the bomb never reached the process limit"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        live(&h) <= limits.processes as usize,
        "{} live processes",
        live(&h)
    );
    assert_eq!(code(&h, ping), 0, "ping-pong beside the bomb");
    assert_eq!(code(&h, pong), 20000);
    // The tree, killed as a whole (what `kill --tree` does), even while
    // parts of it are still starting.
    let tree = h.kernel().descendants(root);
    for d in tree.iter().rev() {
        h.kill(*d);
    }
    h.kill(root);
    for p in tree.iter().chain([&root]) {
        let state = h.kernel().process(*p).map(|p| p.state.clone());
        assert!(
            h.wait(*p, LONG).is_some(),
            "pid {p} ({state:?}) outlived its tree's kill"
        );
    }
    // Children spawned in the last instant, after the tree was listed.
    for _ in 0..10 {
        let rest = h.kernel().descendants(root);
        for d in &rest {
            h.kill(*d);
            h.wait(*d, LONG);
        }
    }
    assert_eq!(live(&h), 0);
}
