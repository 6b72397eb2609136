//! Real wasmtime, real guest binaries: the kernel-core behaviour end to end,
//! every test on both channel paths: zero-copy (rings mapped into the
//! guests, run in place by the SDK) and copying (every frame a hostcall).

#[macro_use]
mod common;
use common::{boot, chan, pair};

use std::time::{Duration, Instant};

use tidemark_abi::{Backpressure, Classes, Error, Rights};
use tidemark_hosted::kernel::caps::Object;
use tidemark_hosted::kernel::{EventKind, Exit, Pid, SpawnSpec};
use tidemark_hosted::{Hosted, HostedError, Options};

const LONG: Duration = Duration::from_secs(300);

on_both_paths!(
    ping_pong_exchange_100k_messages_under_park_with_none_lost,
    drop_backpressure_delivered_plus_dropped_adds_up_exactly,
    drop_backpressure_without_a_reader_keeps_exactly_the_ring,
    revoked_capability_fails_on_every_stale_copy_across_processes,
    forged_handles_never_grant_access,
    spinning_guests_do_not_stop_ping_pong_and_can_be_killed,
    growing_past_the_memory_limit_traps_that_guest_alone,
    out_of_bounds_pointers_get_error_codes_not_panics,
    scribbled_ring_header_reports_corruption_and_other_channels_work,
    missing_classes_get_permission_denied_not_a_trap,
    a_module_that_does_not_link_is_refused_with_the_reason,
    counter_service_answers_requests_from_the_kernel,
    a_revoked_window_shows_no_ring_and_the_others_run_on,
    park_backpressure_parks_the_writer_and_loses_nothing,
    frames_written_and_read_in_place_arrive_once_in_order_across_the_wrap,
);

fn wait(h: &Hosted, pid: Pid) -> Exit {
    h.wait(pid, LONG).unwrap_or_else(|| {
        let k = h.kernel();
        let events: Vec<_> = k.events_since(0).map(|e| format!("{:?}", e.kind)).collect();
        panic!(
            "process {pid} did not end; state: {:?}\nevents:\n{}",
            k.process(pid).map(|p| p.state.clone()),
            events.join("\n")
        )
    })
}

fn ping_pong_exchange_100k_messages_under_park_with_none_lost(path: Options) {
    let h = boot(path);
    let (ping, pong, there, back) = pair(&h, "pp", "rr 100000", "echo", Backpressure::Park);
    assert_eq!(
        wait(&h, ping),
        Exit::Code(0),
        "ping checks every echo in order"
    );
    assert_eq!(
        wait(&h, pong),
        Exit::Code(100_000),
        "pong echoed every request"
    );
    let k = h.kernel();
    // Frames are counted from the rings, whoever moved them: the same on both paths.
    let (p, q) = (k.process(ping).unwrap(), k.process(pong).unwrap());
    assert_eq!(
        (p.counters.frames_out, p.counters.frames_in),
        (100_001, 100_000)
    );
    assert_eq!(
        (q.counters.frames_in, q.counters.frames_out),
        (100_001, 100_000)
    );
    // Copying: at least a hostcall per frame each way. (Zero-copy guests call
    // only to park or wake, which depends on scheduling: not asserted.)
    if !path.zero_copy {
        assert!(
            p.counters.hostcalls >= 200_001 && q.counters.hostcalls >= 200_001,
            "{} {}",
            p.counters.hostcalls,
            q.counters.hostcalls
        );
    }
    let views = k.channel_views();
    for id in [there, back] {
        let v = views.iter().find(|c| c.id == id).unwrap();
        assert_eq!(v.drops, 0);
        assert_eq!(v.head_seq, if id == there { 100_001 } else { 100_000 });
    }
}

fn frames_written_and_read_in_place_arrive_once_in_order_across_the_wrap(path: Options) {
    let h = boot(path);
    // 1000-byte frames in a 4 KiB data ring: most frames wrap round its end
    // sooner or later, so both parts of a loan are used.
    let data = chan(&h, "data", 4096, 16, Backpressure::Park);
    let ctl = chan(&h, "ctl", 256, 4, Backpressure::Park);
    let pong = h
        .spawn(SpawnSpec::new("pong").args(b"take 20000").grant(
            "in",
            Object::Channel(data),
            Rights::READ,
        ))
        .unwrap();
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .args(b"loan 20000 1000")
                .grant("out", Object::Channel(data), Rights::WRITE)
                .grant("ctl", Object::Channel(ctl), Rights::WRITE),
        )
        .unwrap();
    // pong checks every frame's number: each arrives once, in order.
    assert_eq!(wait(&h, pong), Exit::Code(20000));
    assert_eq!(wait(&h, ping), Exit::Code(0));
    let k = h.kernel();
    let v = k
        .channel_views()
        .into_iter()
        .find(|c| c.id == data)
        .unwrap();
    assert_eq!((v.head_seq, v.drops), (20000, 0));
}

fn park_backpressure_parks_the_writer_and_loses_nothing(path: Options) {
    let h = boot(path);
    // A 4-frame Park ring, far smaller than the stream.
    let data = chan(&h, "data", 256, 4, Backpressure::Park);
    let ctl = chan(&h, "ctl", 256, 4, Backpressure::Park);
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .args(b"stream 100000 8")
                .grant("out", Object::Channel(data), Rights::WRITE)
                .grant("ctl", Object::Channel(ctl), Rights::WRITE),
        )
        .unwrap();
    // No reader yet: the writer fills the ring and must park (not spin, not
    // drop). Only then does the reader start, so the park is certain.
    let start = Instant::now();
    let parked = |h: &Hosted| {
        let v = h
            .kernel()
            .channel_views()
            .into_iter()
            .find(|c| c.id == data)
            .unwrap();
        v.parked_writers.contains(&ping) && v.head_seq == 4
    };
    while !parked(&h) {
        assert!(
            start.elapsed() < LONG,
            "the writer never parked on the full ring: {:?}",
            h.kernel().process(ping).map(|p| p.state.clone())
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(
        h.kernel().process(ping).unwrap().state,
        tidemark_hosted::kernel::ProcState::Blocked(_)
    ));
    let pong = h
        .spawn(SpawnSpec::new("pong").args(b"sink 100000").grant(
            "in",
            Object::Channel(data),
            Rights::READ,
        ))
        .unwrap();
    assert_eq!(
        wait(&h, pong),
        Exit::Code(100_000),
        "the reader got every frame"
    );
    assert_eq!(wait(&h, ping), Exit::Code(0), "the writer dropped none");
    let k = h.kernel();
    let v = k
        .channel_views()
        .into_iter()
        .find(|c| c.id == data)
        .unwrap();
    assert_eq!((v.drops, v.head_seq), (0, 100_000));
    assert!(
        k.process(ping).unwrap().counters.parks >= 1,
        "the kernel counted the writer's park"
    );
}

fn drop_backpressure_delivered_plus_dropped_adds_up_exactly(path: Options) {
    let h = boot(path);
    // Concurrent: pong drains while ping floods a small Drop ring.
    let (ping, pong, there, _) = pair(&h, "drop", "stream 100000", "count", Backpressure::Drop);
    let Exit::Code(dropped) = wait(&h, ping) else {
        panic!("ping failed")
    };
    let Exit::Code(received) = wait(&h, pong) else {
        panic!("pong failed")
    };
    assert_eq!(received + dropped, 100_000);
    let drops = h
        .kernel()
        .channel_views()
        .iter()
        .find(|c| c.id == there)
        .unwrap()
        .drops;
    assert_eq!(
        drops as i32, dropped,
        "the ring's drop counter matches what the writer saw"
    );
}

fn drop_backpressure_without_a_reader_keeps_exactly_the_ring(path: Options) {
    let h = boot(path);
    let data = chan(&h, "data", 4096, 16, Backpressure::Drop);
    let ctl = chan(&h, "ctl", 256, 4, Backpressure::Park);
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .args(b"stream 5000")
                .grant("out", Object::Channel(data), Rights::WRITE)
                .grant("ctl", Object::Channel(ctl), Rights::WRITE),
        )
        .unwrap();
    assert_eq!(
        wait(&h, ping),
        Exit::Code(5000 - 16),
        "all but the 16 retained frames dropped"
    );
    let pong = h
        .spawn(
            SpawnSpec::new("pong")
                .args(b"count")
                .grant("in", Object::Channel(data), Rights::READ)
                .grant("ctl", Object::Channel(ctl), Rights::READ),
        )
        .unwrap();
    assert_eq!(wait(&h, pong), Exit::Code(16));
}

fn revoked_capability_fails_on_every_stale_copy_across_processes(path: Options) {
    let h = boot(path);
    let c = chan(&h, "c", 256, 4, Backpressure::Park);
    let holder = h.spawn(SpawnSpec::new("probe").args(b"hold")).unwrap();
    let owner = h
        .spawn(
            SpawnSpec::new("probe")
                .args(format!("delegate {holder}").as_bytes())
                .grant("c", Object::Channel(c), Rights::ALL),
        )
        .unwrap();
    // Revoke only once the holder has looked the handle up and copied it.
    let start = Instant::now();
    let holding = |h: &Hosted| {
        h.kernel().events_since(0).any(|e| matches!(&e.kind, EventKind::Log { pid, text, .. } if *pid == holder && text.contains("holding")))
    };
    while !holding(&h) {
        assert!(start.elapsed() < LONG, "delegation never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    let handle = h.kernel().process(owner).unwrap().caps.lookup("c").unwrap();
    h.with_kernel(|k| k.revoke(owner, handle)).unwrap();
    let revoked = Exit::Code(-Error::Revoked.code());
    assert_eq!(wait(&h, owner), revoked);
    assert_eq!(wait(&h, holder), revoked, "the delegated copy went with it");
}

fn forged_handles_never_grant_access(path: Options) {
    let h = boot(path);
    let secret = chan(&h, "secret", 256, 4, Backpressure::Park);
    let mine = chan(&h, "mine", 256, 4, Backpressure::Park);
    // One process holds nothing; one holds a read-only capability on another channel.
    let bare = h
        .spawn(SpawnSpec::new("probe").args(b"forge 99991 20000"))
        .unwrap();
    let some = h
        .spawn(SpawnSpec::new("probe").args(b"forge 4242 20000").grant(
            "m",
            Object::Channel(mine),
            Rights::READ,
        ))
        .unwrap();
    assert_eq!(wait(&h, bare), Exit::Code(0));
    assert_eq!(
        wait(&h, some),
        Exit::Code(0),
        "none of 140,000 forged calls succeeded"
    );
    let k = h.kernel();
    let v = k.channel_views();
    assert!(
        v.iter()
            .all(|c| c.head_seq == 0 && c.readers.is_empty() && c.writers.is_empty())
    );
    assert!(v.iter().any(|c| c.id == secret));
}

fn spinning_guests_do_not_stop_ping_pong_and_can_be_killed(path: Options) {
    let h = boot(path);
    let spinners: Vec<Pid> = (0..3)
        .map(|_| h.spawn(SpawnSpec::new("spin")).unwrap())
        .collect();
    let rust_spinner = h.spawn(SpawnSpec::new("probe").args(b"spin")).unwrap();
    let (ping, pong, _, _) = pair(&h, "spin", "rr 1000", "echo", Backpressure::Park);
    assert_eq!(wait(&h, ping), Exit::Code(0));
    assert_eq!(wait(&h, pong), Exit::Code(1000));
    for pid in spinners.iter().chain([&rust_spinner]) {
        assert!(
            h.kernel().process(*pid).unwrap().state == tidemark_hosted::kernel::ProcState::Running,
            "still spinning"
        );
        h.kill(*pid);
        assert_eq!(wait(&h, *pid), Exit::Killed);
    }
}

fn growing_past_the_memory_limit_traps_that_guest_alone(path: Options) {
    let h = boot(path);
    let grow = h
        .spawn(SpawnSpec::new("grow").memory_limit(4 << 20))
        .unwrap();
    let (ping, pong, _, _) = pair(&h, "grow", "rr 2000", "echo", Backpressure::Park);
    match wait(&h, grow) {
        Exit::Trap(reason) => assert!(reason.reason.contains("memory limit exceeded"), "{reason}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(wait(&h, ping), Exit::Code(0));
    assert_eq!(wait(&h, pong), Exit::Code(2000));
    assert!(h.kernel().process(grow).unwrap().memory_used <= 4 << 20);
}

fn out_of_bounds_pointers_get_error_codes_not_panics(path: Options) {
    let h = boot(path);
    let c = chan(&h, "c", 256, 4, Backpressure::Park);
    let oob = h
        .spawn(SpawnSpec::new("oob").grant(
            "c",
            Object::Channel(c),
            Rights::READ.union(Rights::WRITE),
        ))
        .unwrap();
    assert_eq!(
        wait(&h, oob),
        Exit::Code(0),
        "every out-of-bounds call returned an error"
    );
    // The kernel is fine: a pair still runs.
    let (ping, _, _, _) = pair(&h, "after", "rr 100", "echo", Backpressure::Park);
    assert_eq!(wait(&h, ping), Exit::Code(0));
}

fn scribbled_ring_header_reports_corruption_and_other_channels_work(path: Options) {
    let h = boot(path);
    let (ping_a, pong_a, there_a, _) = pair(&h, "a", "rr 100000000", "echo", Backpressure::Park);
    let (ping_b, pong_b, _, _) = pair(&h, "b", "rr 20000", "echo", Backpressure::Park);
    // Let pair A get going, then scribble on its ring's header.
    let start = Instant::now();
    while h
        .kernel()
        .channel_views()
        .iter()
        .find(|c| c.id == there_a)
        .unwrap()
        .head_seq
        < 100
    {
        assert!(start.elapsed() < LONG);
        std::thread::sleep(Duration::from_millis(1));
    }
    h.with_kernel(|k| k.channel_memory(there_a).unwrap()[..8].copy_from_slice(b"scribble"));
    // Whichever of the pair touches the ring next gets `Corrupt` and exits;
    // its peer may then wait forever on the healthy return channel, as any
    // reader of a channel whose writer died would, and is killed.
    let corrupt = Exit::Code(Error::Corrupt.code());
    let start = Instant::now();
    let ended = |pid| {
        matches!(
            h.kernel().process(pid).unwrap().state,
            tidemark_hosted::kernel::ProcState::Ended(_)
        )
    };
    while !ended(ping_a) && !ended(pong_a) {
        assert!(start.elapsed() < LONG, "nobody noticed the scribble");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    h.kill(ping_a);
    h.kill(pong_a);
    let exits = [wait(&h, ping_a), wait(&h, pong_a)];
    assert!(exits.contains(&corrupt), "{exits:?}");
    assert!(
        exits.iter().all(|e| *e == corrupt || *e == Exit::Killed),
        "{exits:?}"
    );
    assert_eq!(wait(&h, ping_b), Exit::Code(0));
    assert_eq!(wait(&h, pong_b), Exit::Code(20000));
    let k = h.kernel();
    assert!(
        k.events_since(0)
            .any(|e| matches!(e.kind, EventKind::Corrupt { channel, .. } if channel == there_a))
    );
}

fn missing_classes_get_permission_denied_not_a_trap(path: Options) {
    let h = boot(path);
    let (there, back) = (
        chan(&h, "t", 256, 4, Backpressure::Park),
        chan(&h, "b", 256, 4, Backpressure::Park),
    );
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .allow(Classes::CORE)
                .args(b"rr 1")
                .grant("out", Object::Channel(there), Rights::WRITE)
                .grant("in", Object::Channel(back), Rights::READ),
        )
        .unwrap();
    assert_eq!(wait(&h, ping), Exit::Code(Error::PermissionDenied.code()));
    let k = h.kernel();
    assert!(k.events_since(0).any(|e| matches!(&e.kind, EventKind::Denied { pid, hostcall, why, .. } if *pid == ping && hostcall == "chan_attach" && *why == format!("pid {ping} lacks class `channel` (it has core)"))));
    assert!(k.process(ping).unwrap().counters.denials >= 1);
}

fn a_module_that_does_not_link_is_refused_with_the_reason(path: Options) {
    let h = boot(path);
    match h.spawn(SpawnSpec::new("badimport")) {
        Err(HostedError::Module { pid, message }) => {
            assert!(message.contains("format_disk"), "{message}");
            assert!(matches!(
                h.kernel().process(pid).unwrap().state,
                tidemark_hosted::kernel::ProcState::Ended(Exit::Failed(_))
            ));
        }
        other => panic!("expected a link error, got {other:?}"),
    }
    assert!(matches!(
        h.spawn(SpawnSpec::new("nonexistent")),
        Err(HostedError::Spawn(_))
    ));
}

fn counter_service_answers_requests_from_the_kernel(path: Options) {
    let h = boot(path);
    let req = chan(&h, "req", 1024, 16, Backpressure::Park);
    let resp = chan(&h, "resp", 1024, 16, Backpressure::Park);
    let counter = h
        .spawn(
            SpawnSpec::new("counter")
                .grant("req", Object::Channel(req), Rights::READ)
                .grant("resp", Object::Channel(resp), Rights::WRITE),
        )
        .unwrap();
    let mut answers = Vec::new();
    for cmd in [
        "inc", "inc", "inc", "add 10", "get", "bogus", "reset", "get",
    ] {
        h.with_kernel(|k| k.send(req, cmd.as_bytes())).unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 16];
        loop {
            if let Some(meta) = h.with_kernel(|k| k.recv(resp, &mut buf)).unwrap() {
                assert_eq!(meta.pid, counter, "frames are attributed to their writer");
                answers.push(if meta.len == 8 {
                    Some(u64::from_le_bytes(buf[..8].try_into().unwrap()))
                } else {
                    None
                });
                break;
            }
            assert!(start.elapsed() < LONG, "no answer to {cmd}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(
        answers,
        [
            Some(1),
            Some(2),
            Some(3),
            Some(13),
            Some(13),
            None,
            Some(0),
            Some(0)
        ]
    );
    h.kill(counter);
    assert_eq!(wait(&h, counter), Exit::Killed);
}

fn a_revoked_window_shows_no_ring_and_the_others_run_on(path: Options) {
    let h = boot(path);
    let c = chan(&h, "c", 4096, 16, Backpressure::Park);
    let probe = h
        .spawn(SpawnSpec::new("probe").args(b"window").grant(
            "c",
            Object::Channel(c),
            Rights::READ.union(Rights::WRITE),
        ))
        .unwrap();
    let (ping, pong, _, _) = pair(&h, "bystander", "rr 20000", "echo", Backpressure::Park);
    let start = Instant::now();
    let logged = |h: &Hosted| {
        h.kernel().events_since(0).find_map(|e| match &e.kind {
            EventKind::Log { pid, text, .. } if *pid == probe && text.contains("window at") => {
                Some(text.clone())
            }
            _ => None,
        })
    };
    let line = loop {
        if let Some(l) = logged(&h) {
            break l;
        }
        assert!(start.elapsed() < LONG, "the probe never attached");
        std::thread::sleep(Duration::from_millis(1));
    };
    let region = h.kernel().channel(c).unwrap().region;
    let windows = h.windows(probe);
    if path.zero_copy {
        assert!(line.ends_with("in place true"), "{line}");
        // One window, onto exactly the ring's pages: no capability, no window.
        assert_eq!(windows.len(), 1, "{windows:?}");
        let r = *h.kernel().arenas().region(region).unwrap();
        let w = windows[0];
        assert!(
            w.mapped
                && w.region == region
                && w.arena == r.arena
                && w.offset == r.offset
                && w.len == r.len,
            "{w:?} vs {r:?}"
        );
        assert!(
            line.contains(&format!("window at {} ", w.wasm_addr)),
            "{line}"
        );
        assert!(
            h.windows(ping).iter().all(|w| w.region != region),
            "a bystander sees a ring it holds no capability for"
        );
    } else {
        assert!(
            line.starts_with("probe: window at 0 in place false"),
            "{line}"
        );
        assert!(windows.is_empty());
    }
    let handle = h.kernel().process(probe).unwrap().caps.lookup("c").unwrap();
    h.with_kernel(|k| k.revoke(probe, handle)).unwrap();
    assert!(
        h.windows(probe).iter().all(|w| !w.mapped),
        "the window outlived the capability"
    );
    assert_eq!(
        wait(&h, probe),
        Exit::Code(0),
        "the probe saw the ring gone and got Revoked"
    );
    // The ring is untouched by the scribbling: the one frame is there, intact.
    let mut buf = [0u8; 16];
    let meta = h
        .with_kernel(|k| k.recv(c, &mut buf))
        .unwrap()
        .expect("the frame written before the revoke");
    assert_eq!(&buf[..meta.len as usize], b"hello");
    assert!(h.kernel().channel(c).unwrap().corrupt.is_none());
    assert_eq!(wait(&h, ping), Exit::Code(0));
    assert_eq!(wait(&h, pong), Exit::Code(20000));
}
