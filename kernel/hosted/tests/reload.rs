//! Hot reload: a process swaps modules keeping its pid, capabilities,
//! channel attachments and (through `tidemark_save`) its state; a module
//! that cannot start never displaces the running one.

use std::time::{Duration, Instant};

use tidemark_abi::{Backpressure, Rights};
use tidemark_hosted::kernel::caps::Object;
use tidemark_hosted::kernel::{Config, EventKind, Exit, KERNEL_PID, Pid, ProcState, SpawnSpec};
use tidemark_hosted::{Hosted, HostedError, Options};

/// Every guest installed, a cache slot each.
fn config() -> Config {
    Config {
        package_slots: tidemark_guest_artifacts::ALL.len(),
        ..Config::default()
    }
}

fn boot() -> Hosted {
    let h = Hosted::boot(config());
    for g in tidemark_guest_artifacts::ALL {
        h.install(g.name, g.bytes);
    }
    h
}

use tidemark_guest_artifacts::variant;

fn ask(h: &Hosted, req: u32, resp: u32, cmd: &str) -> Option<u64> {
    h.with_kernel(|k| k.send(req, cmd.as_bytes())).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    loop {
        if let Some(m) = h.with_kernel(|k| k.recv(resp, &mut buf)).unwrap() {
            return (m.len == 8).then(|| u64::from_le_bytes(buf[..8].try_into().unwrap()));
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no answer to {cmd}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn counter(h: &Hosted) -> (Pid, u32, u32) {
    let req = h
        .kernel()
        .create_channel("req", 1024, 16, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let resp = h
        .kernel()
        .create_channel("resp", 1024, 16, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let pid = h
        .spawn(
            SpawnSpec::new("counter")
                .grant("req", Object::Channel(req), Rights::READ)
                .grant("resp", Object::Channel(resp), Rights::WRITE),
        )
        .unwrap();
    (pid, req, resp)
}

#[test]
fn reload_keeps_pid_caps_attachments_and_state() {
    let h = boot();
    let (pid, req, resp) = counter(&h);
    assert_eq!(ask(&h, req, resp, "add 5"), Some(5));
    let caps_before = h.kernel().caps(pid).unwrap();
    let v2 = variant(tidemark_guest_artifacts::get("counter"), "v2");
    let v2_hash = h.install("counter-v2", &v2);
    let r = h.reload(pid, "counter-v2").unwrap();
    assert_eq!((r.pid, r.hash), (pid, v2_hash));
    {
        let k = h.kernel();
        let p = k.process(pid).unwrap();
        assert_eq!(
            (p.hash, p.package.as_str(), p.reloads),
            (v2_hash, "counter-v2", 1),
            "the hash running is the hash installed"
        );
        assert_eq!(
            k.caps(pid).unwrap(),
            caps_before,
            "same capability table, same handles"
        );
        let views = k.channel_views();
        let reqv = views.iter().find(|c| c.id == req).unwrap();
        assert_eq!(
            reqv.readers.iter().filter(|r| r.pid == pid).count(),
            1,
            "still one reader attachment"
        );
        assert!(k.events_since(0).any(|e| matches!(&e.kind, EventKind::Reloaded { pid: p, package, .. } if *p == pid && package == "counter-v2")));
    }
    assert_eq!(
        ask(&h, req, resp, "inc"),
        Some(6),
        "the count was handed over"
    );
    assert!(h.kernel().events_since(0).any(
        |e| matches!(&e.kind, EventKind::Log { text, .. } if text.contains("count 5 restored"))
    ));
}

#[test]
fn a_module_that_cannot_start_leaves_the_old_one_serving() {
    let h = boot();
    let (pid, req, resp) = counter(&h);
    assert_eq!(ask(&h, req, resp, "add 7"), Some(7));
    let hash = h.kernel().process(pid).unwrap().hash;
    for bad in ["badimport", "starttrap"] {
        match h.reload(pid, bad) {
            Err(HostedError::Reload { message, .. }) => assert!(!message.is_empty()),
            other => panic!("reloading {bad} gave {other:?}"),
        }
        assert_eq!(h.kernel().process(pid).unwrap().hash, hash);
        assert_eq!(
            ask(&h, req, resp, "get"),
            Some(7),
            "still serving after the failed {bad}"
        );
    }
    assert!(matches!(
        h.reload(pid, "nonexistent"),
        Err(HostedError::Spawn(_))
    ));
}

#[test]
fn a_module_that_traps_in_its_main_is_rolled_back() {
    for zero_copy in [true, false] {
        let h = Hosted::boot_with(
            config(),
            Options {
                zero_copy,
                ..Default::default()
            },
        );
        for g in tidemark_guest_artifacts::ALL {
            h.install(g.name, g.bytes);
        }
        let (pid, req, resp) = counter(&h);
        assert_eq!(ask(&h, req, resp, "add 9"), Some(9));
        let (hash, reloads, caps) = {
            let k = h.kernel();
            let p = k.process(pid).unwrap();
            (p.hash, p.reloads, k.caps(pid).unwrap())
        };
        // No start function: it instantiates, takes over, then traps in `tidemark_main`.
        match h.reload(pid, "maintrap") {
            Err(HostedError::Reload { pid: p, message }) => {
                assert_eq!(p, pid);
                assert!(
                    message.contains("unreachable"),
                    "the trap is reported: {message}"
                );
            }
            other => panic!("reloading maintrap gave {other:?}"),
        }
        {
            let k = h.kernel();
            let p = k.process(pid).unwrap();
            assert_eq!(
                (p.hash, p.package.as_str(), p.reloads),
                (hash, "counter", reloads),
                "the old hash runs again"
            );
            assert!(
                !matches!(p.state, ProcState::Ended(_)),
                "still alive: {:?}",
                p.state
            );
            assert_eq!(k.caps(pid).unwrap(), caps, "same capability table");
            assert!(k.events_since(0).any(|e| matches!(&e.kind,
                EventKind::RolledBack { pid: p, package, reason, .. } if *p == pid && package == "counter" && reason.contains("unreachable"))));
        }
        assert_eq!(
            ask(&h, req, resp, "inc"),
            Some(10),
            "serving on its channel, the count survived (zero_copy {zero_copy})"
        );
        assert!(h.kernel().events_since(0).any(
            |e| matches!(&e.kind, EventKind::Log { text, .. } if text.contains("count 9 restored"))
        ));
        // A good module still reloads over the rolled-back one.
        let v2 = variant(tidemark_guest_artifacts::get("counter"), "v2");
        let v2_hash = h.install("counter-v2", &v2);
        assert_eq!(h.reload(pid, "counter-v2").unwrap().hash, v2_hash);
        assert_eq!(h.kernel().process(pid).unwrap().reloads, reloads + 1);
        assert_eq!(ask(&h, req, resp, "get"), Some(10));
    }
}

#[test]
fn a_spinning_process_is_swapped_at_a_safe_point() {
    let h = boot();
    let pid = h.spawn(SpawnSpec::new("probe").args(b"spin")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let r = h.reload(pid, "spin").unwrap();
    assert_eq!(h.kernel().process(pid).unwrap().package, "spin");
    assert!(r.swap < Duration::from_secs(30));
    assert_eq!(h.kernel().process(pid).unwrap().state, ProcState::Running);
    h.kill(pid);
    assert_eq!(h.wait(pid, Duration::from_secs(60)), Some(Exit::Killed));
}
