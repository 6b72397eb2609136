//! Engine-free tests of hostcall semantics (the engines' own tests run real guests).

extern crate std;

use alloc::sync::Arc;
use alloc::vec;
use tidemark_abi::{self as abi, Backpressure, Error, Handle, Rights, Role, Wire, nr};

use super::*;

fn clock() -> u64 {
    42
}

fn kernel() -> Kernel {
    let mut k = Kernel::new(Config::default(), clock);
    k.install("empty", Arc::from(&b"\0asm\x01\0\0\0"[..]), true)
        .unwrap();
    k
}

fn spawn(k: &mut Kernel, grants: &[(&str, Object, Rights)]) -> Pid {
    let mut spec = SpawnSpec::new("empty");
    for (n, o, r) in grants {
        spec = spec.grant(n, *o, *r);
    }
    let s = k.spawn(spec).unwrap();
    k.started(s.pid);
    s.pid
}

/// A process with every class (hostcall tests reach past the class check).
fn spawn_all(k: &mut Kernel, grants: &[(&str, Object, Rights)]) -> Pid {
    let pid = spawn(k, grants);
    k.procs.get_mut(&pid).unwrap().classes = Classes::ALL;
    pid
}

fn call(k: &mut Kernel, pid: Pid, number: u16, args: &[i64], mem: &mut [u8]) -> Outcome {
    k.hostcall(pid, number, args, mem)
}

#[test]
fn manifest_without_classes_gets_permission_denied_and_an_event() {
    let mut k = kernel();
    let pid = spawn(&mut k, &[]);
    let mut mem = vec![0u8; 64];
    assert_eq!(
        call(&mut k, pid, nr::log, &[3, 0, 4], &mut mem),
        Outcome::Return(Error::PermissionDenied.code() as i64)
    );
    assert_eq!(k.process(pid).unwrap().counters.denials, 1);
    assert!(
        k.events_since(0)
            .any(|e| matches!(&e.kind, EventKind::Denied { hostcall, .. } if hostcall == "log"))
    );
}

#[test]
fn a_rights_denial_says_what_was_held_from_whom_and_who_could_delegate() {
    let mut k = kernel();
    let ch = k
        .create_channel("req", 256, 8, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let grantor = spawn_all(&mut k, &[("req", Object::Channel(ch), Rights::ALL)]);
    let narrow = spawn_all(&mut k, &[("req", Object::Channel(ch), Rights::READ.union(Rights::GRANT))]);
    let (a, b) = (spawn_all(&mut k, &[]), spawn_all(&mut k, &[]));
    let held = |k: &Kernel, p: Pid| k.procs[&p].caps.lookup("req").unwrap();
    let (g, n) = (held(&k, grantor), held(&k, narrow));
    k.delegate(grantor, g, a, Rights::READ, "req").unwrap();
    k.delegate(narrow, n, b, Rights::READ, "req").unwrap();
    let mut mem = vec![0u8; 64];
    let denied = |k: &mut Kernel, pid: Pid, mem: &mut [u8]| {
        let h = i64::from(held(k, pid).to_raw());
        assert_eq!(
            call(k, pid, nr::chan_write, &[h, 0, 4, 0], mem),
            Outcome::Return(Error::PermissionDenied.code() as i64)
        );
        match &k.events_since(0).last().unwrap().kind {
            EventKind::Denied { pid: p, hostcall, handle, held, needed, why } => {
                assert_eq!((*p, hostcall.as_str(), *handle), (pid, "chan_write", Some(h as i32)));
                assert_eq!((*held, *needed), (Some(Rights::READ), Some(Rights::WRITE)));
                why.clone()
            }
            e => panic!("{e:?}"),
        }
    };
    assert_eq!(
        denied(&mut k, a, &mut mem),
        alloc::format!(
            "pid {a} holds `req` (channel {ch}) r from pid {grantor} (rwgd), granted by the kernel; \
             chan_write needs w: pid {grantor} holds rwgd and could delegate w"
        )
    );
    assert_eq!(
        denied(&mut k, b, &mut mem),
        alloc::format!(
            "pid {b} holds `req` (channel {ch}) r from pid {narrow} (rg), granted by the kernel; \
             chan_write needs w: no holder up the chain can delegate w; a grant from the monitor can"
        )
    );
    assert_eq!(k.process(a).unwrap().counters.denials, 1);
}

#[test]
fn a_process_notes_when_it_entered_its_state() {
    let mut k = kernel();
    let ch = k
        .create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let r = spawn_all(&mut k, &[("c", Object::Channel(ch), Rights::READ)]);
    let h = i64::from(k.procs[&r].caps.lookup("c").unwrap().to_raw());
    let mut mem = vec![0u8; 128];
    call(&mut k, r, nr::chan_attach, &[h, 1, 0], &mut mem);
    k.procs.get_mut(&r).unwrap().since_ns = 7;
    assert_eq!(call(&mut k, r, nr::chan_read, &[h, 16, 64, 0, 0], &mut mem), Outcome::Block(Wait::Readable(ch)));
    let p = k.ps().into_iter().find(|p| p.pid == r).unwrap();
    assert_eq!((p.state, p.since_ns), (ProcState::Blocked(Wait::Readable(ch)), 0));
    // Woken and retried, it parks again on the same channel: it keeps the
    // time it first parked.
    k.procs.get_mut(&r).unwrap().since_ns = 7;
    assert_eq!(call(&mut k, r, nr::chan_read, &[h, 16, 64, 0, 0], &mut mem), Outcome::Block(Wait::Readable(ch)));
    assert_eq!(k.procs[&r].since_ns, 7);
    k.procs.get_mut(&r).unwrap().enter(ProcState::Blocked(Wait::Readable(ch)), || 99);
    assert_eq!(k.procs[&r].since_ns, 7);
}

#[test]
fn frames_flow_between_processes_and_parked_readers_are_woken() {
    let mut k = kernel();
    let ch = k
        .create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let w = spawn(&mut k, &[("c", Object::Channel(ch), Rights::WRITE)]);
    let r = spawn(&mut k, &[("c", Object::Channel(ch), Rights::READ)]);
    for p in [w, r] {
        k.procs.get_mut(&p).unwrap().classes = Classes::ALL;
    }
    let mut wm = vec![0u8; 128];
    let mut rm = vec![0u8; 128];
    wm[..1].copy_from_slice(b"c");
    rm[..1].copy_from_slice(b"c");
    let wh = match call(&mut k, w, nr::cap_lookup, &[0, 1], &mut wm) {
        Outcome::Return(h) => h,
        o => panic!("{o:?}"),
    };
    let rh = match call(&mut k, r, nr::cap_lookup, &[0, 1], &mut rm) {
        Outcome::Return(h) => h,
        o => panic!("{o:?}"),
    };
    assert_eq!(
        call(&mut k, w, nr::chan_attach, &[wh, 2, 0], &mut wm),
        Outcome::Return(0)
    );
    assert_eq!(
        call(&mut k, r, nr::chan_attach, &[rh, 2, 0], &mut rm),
        Outcome::Return(Error::PermissionDenied.code() as i64),
        "read-only cap cannot write"
    );
    assert_eq!(
        call(&mut k, r, nr::chan_attach, &[rh, 1, 0], &mut rm),
        Outcome::Return(0)
    );
    assert_eq!(
        call(&mut k, r, nr::chan_read, &[rh, 16, 64, 0, 0], &mut rm),
        Outcome::Block(Wait::Readable(ch))
    );
    wm[16..21].copy_from_slice(b"hello");
    assert_eq!(
        call(&mut k, w, nr::chan_write, &[wh, 16, 5, 0], &mut wm),
        Outcome::Return(5)
    );
    assert_eq!(k.take_effects().wake, vec![r]);
    assert_eq!(
        call(&mut k, r, nr::chan_read, &[rh, 16, 64, 100, 0], &mut rm),
        Outcome::Return(5)
    );
    assert_eq!(&rm[16..21], b"hello");
    let meta = <tidemark_abi::FrameMeta as tidemark_abi::Wire>::decode(&rm[100..]);
    assert_eq!((meta.pid, meta.len), (w, 5));
    // Out-of-bounds pointers are errors, not panics.
    for args in [
        [wh, 120, 64, 0],
        [wh, -1, 5, 0],
        [wh, 0, -7, 0],
        [wh, i64::MAX, 1, 0],
    ] {
        let o = call(&mut k, w, nr::chan_write, &args, &mut wm);
        assert!(
            matches!(o, Outcome::Return(c) if c < 0),
            "{args:?} gave {o:?}"
        );
    }
}

#[test]
fn revocation_cascades_through_delegation_and_stale_copies_fail() {
    let mut k = kernel();
    let ch = k
        .create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let a = spawn(&mut k, &[("c", Object::Channel(ch), Rights::ALL)]);
    let b = spawn(&mut k, &[]);
    let c = spawn(&mut k, &[]);
    let ha = k.process(a).unwrap().caps.lookup("c").unwrap();
    let hb = k
        .delegate(a, ha, b, Rights::READ.union(Rights::GRANT), "c")
        .unwrap();
    let hc = k.delegate(b, hb, c, Rights::ALL, "c").unwrap();
    assert_eq!(
        k.caps(c).unwrap()[0].rights,
        Rights::READ.union(Rights::GRANT),
        "delegation only narrows"
    );
    assert_eq!(k.delegate(c, hc, a, Rights::ALL, "x").map(|_| ()), Ok(()));
    k.revoke(a, ha).unwrap();
    let mut mem = vec![0u8; 8];
    for (pid, h) in [(a, ha), (b, hb), (c, hc)] {
        assert_eq!(
            call(
                &mut k,
                pid,
                nr::cap_check,
                &[h.to_raw() as i64, 0],
                &mut mem
            ),
            Outcome::Return(Error::Revoked.code() as i64)
        );
    }
    assert!(
        k.caps(a).unwrap().is_empty(),
        "the copy delegated back to a went too"
    );
    let _ = Handle {
        index: 0,
        generation: 1,
    };
}

#[test]
fn drop_backpressure_counts_exactly() {
    let mut k = kernel();
    let ch = k
        .create_channel("d", 64, 4, Backpressure::Drop, KERNEL_PID)
        .unwrap();
    let mut dropped = 0;
    for i in 0..100u32 {
        match k.send(ch, &i.to_le_bytes()) {
            Ok(_) => {}
            Err(Error::Dropped) => dropped += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let v = &k.channel_views()[0];
    assert_eq!(v.drops, dropped);
    assert_eq!(v.frames_in_flight + dropped, 100);
}

#[test]
fn scribbled_ring_is_reported_and_isolated() {
    let mut k = kernel();
    let bad = k
        .create_channel("bad", 64, 4, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let good = k
        .create_channel("good", 64, 4, Backpressure::Park, KERNEL_PID)
        .unwrap();
    k.channel_memory(bad).unwrap()[..4].copy_from_slice(b"junk");
    assert_eq!(k.send(bad, b"x"), Err(Error::Corrupt));
    assert_eq!(k.send(good, b"x").map(|_| ()), Ok(()));
    assert!(
        k.events_since(0)
            .any(|e| matches!(e.kind, EventKind::Corrupt { channel, .. } if channel == bad))
    );
    assert_eq!(
        k.channel_views()
            .iter()
            .find(|c| c.id == bad)
            .unwrap()
            .corrupt
            .is_some(),
        true
    );
}

#[test]
fn pids_are_never_reused_and_exit_releases_everything() {
    let mut k = kernel();
    let a = spawn(&mut k, &[]);
    k.procs.get_mut(&a).unwrap().classes = Classes::ALL;
    let mut mem = vec![0u8; 64];
    let h = match call(&mut k, a, nr::chan_create, &[128, 4, 0], &mut mem) {
        Outcome::Return(h) => h,
        o => panic!("{o:?}"),
    };
    assert!(h > 0);
    assert_eq!(k.channel_views().len(), 1);
    assert!(k.arena_views()[0].used > 0);
    k.exit(a, Exit::Code(0));
    assert_eq!(
        k.channel_views().len(),
        0,
        "last holder gone: channel destroyed"
    );
    assert_eq!(k.arena_views()[0].used, 0);
    let b = spawn(&mut k, &[]);
    assert!(b > a);
}

/// Churn costs no memory: past `ended_kept` the longest-ended processes
/// are forgotten, except one whose child is still listed, so a tree kill
/// still finds a live grandchild through its ended parent.
#[test]
fn ended_processes_past_the_kept_number_are_forgotten_but_not_a_listed_ones_parent() {
    let mut k = Kernel::new(
        Config {
            ended_kept: 2,
            ..Config::default()
        },
        clock,
    );
    k.install("empty", Arc::from(&b"\0asm\x01\0\0\0"[..]), true)
        .unwrap();
    let child = |k: &mut Kernel, parent: Pid| {
        let mut spec = SpawnSpec::new("empty");
        spec.parent = parent;
        let pid = k.spawn(spec).unwrap().pid;
        k.started(pid);
        pid
    };
    let churn = |k: &mut Kernel| {
        let p = spawn(k, &[]);
        k.exit(p, Exit::Code(0));
        p
    };
    let listed = |k: &Kernel| k.processes().map(|p| p.pid).collect::<Vec<_>>();
    let root = spawn(&mut k, &[]);
    let mid = child(&mut k, root);
    let leaf = child(&mut k, mid);
    k.exit(mid, Exit::Code(1));
    let last = (0..5).map(|_| churn(&mut k)).last().unwrap();
    // Kept: `mid`, the parent of a listed process, and the last to end.
    assert_eq!(listed(&k), [root, mid, leaf, last]);
    assert_eq!(
        k.descendants(root),
        [leaf],
        "found through its ended parent"
    );
    // `leaf` ended: it is listed, so `mid` still is.
    k.exit(leaf, Exit::Code(0));
    assert_eq!(listed(&k), [root, mid, leaf]);
    assert_eq!(
        k.process(leaf).unwrap().state,
        ProcState::Ended(Exit::Code(0))
    );
    // Then `leaf` goes, and after it `mid`, which ended longest ago.
    let c5 = churn(&mut k);
    assert_eq!(listed(&k), [root, mid, c5]);
    let c6 = churn(&mut k);
    assert_eq!(listed(&k), [root, c5, c6]);
    assert!(k.process(mid).is_none());
}

/// Two `Reader`s of one process share its endpoint: dropping one leaves
/// the other attached, the last one detaches; a reload swap ends the old
/// instance's holds but keeps the endpoint (and cursor) for the successor.
#[test]
fn each_attach_is_a_hold_and_the_last_detach_lets_go() {
    let mut k = kernel();
    let ch = k
        .create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let r = spawn_all(&mut k, &[("c", Object::Channel(ch), Rights::READ)]);
    let mut m = vec![0u8; 128];
    m[..1].copy_from_slice(b"c");
    let h = match call(&mut k, r, nr::cap_lookup, &[0, 1], &mut m) {
        Outcome::Return(h) => h,
        o => panic!("{o:?}"),
    };
    let attached = |k: &Kernel| k.channels[&ch].attachment(r, Role::Reader).is_some();
    let attach = |k: &mut Kernel, m: &mut [u8]| call(k, r, nr::chan_attach, &[h, 1, 0], m);
    let detach = |k: &mut Kernel, m: &mut [u8]| call(k, r, nr::chan_detach, &[h, 1], m);
    assert_eq!(attach(&mut k, &mut m), Outcome::Return(0));
    assert_eq!(attach(&mut k, &mut m), Outcome::Return(0));
    assert_eq!(detach(&mut k, &mut m), Outcome::Return(0));
    assert!(attached(&k), "the other Reader still reads");
    assert_eq!(detach(&mut k, &mut m), Outcome::Return(0));
    assert!(!attached(&k));
    assert_eq!(
        detach(&mut k, &mut m),
        Outcome::Return(Error::NotAttached.code() as i64)
    );
    // Across a reload: the old instance held it twice, the successor once.
    assert_eq!(attach(&mut k, &mut m), Outcome::Return(0));
    assert_eq!(attach(&mut k, &mut m), Outcome::Return(0));
    let endpoint = k.channels[&ch]
        .attachment(r, Role::Reader)
        .unwrap()
        .endpoint;
    k.instance_stopped(r);
    assert!(attached(&k), "kept for the successor");
    assert_eq!(attach(&mut k, &mut m), Outcome::Return(0));
    assert_eq!(
        k.channels[&ch]
            .attachment(r, Role::Reader)
            .unwrap()
            .endpoint,
        endpoint
    );
    assert_eq!(detach(&mut k, &mut m), Outcome::Return(0));
    assert!(!attached(&k), "the successor's one hold was the last");
}

/// Under Park a reader that never reads is named as the one holding the
/// channel back once writers cannot go on; one that keeps up is not.
#[test]
fn a_reader_that_never_reads_is_named_as_holding_the_channel_back() {
    let mut k = kernel();
    let ch = k
        .create_channel("c", 256, 4, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let w = spawn(&mut k, &[("c", Object::Channel(ch), Rights::WRITE)]);
    let slow = spawn(&mut k, &[("c", Object::Channel(ch), Rights::READ)]);
    let quick = spawn(&mut k, &[("c", Object::Channel(ch), Rights::READ)]);
    let mut mems = [vec![0u8; 128], vec![0u8; 128], vec![0u8; 128]];
    let mut handles = [0i64; 3];
    for (i, (p, role)) in [(w, 2), (slow, 1), (quick, 1)].into_iter().enumerate() {
        k.procs.get_mut(&p).unwrap().classes = Classes::ALL;
        mems[i][..1].copy_from_slice(b"c");
        handles[i] = match call(&mut k, p, nr::cap_lookup, &[0, 1], &mut mems[i]) {
            Outcome::Return(h) => h,
            o => panic!("{o:?}"),
        };
        assert_eq!(
            call(
                &mut k,
                p,
                nr::chan_attach,
                &[handles[i], role, 0],
                &mut mems[i]
            ),
            Outcome::Return(0)
        );
    }
    let held = |k: &Kernel| k.channel_info(ch).unwrap().held_back_by.map(|r| r.pid);
    let mut written = 0;
    loop {
        match call(
            &mut k,
            w,
            nr::chan_write,
            &[handles[0], 16, 8, 0],
            &mut mems[0],
        ) {
            Outcome::Return(8) => written += 1,
            Outcome::Block(_) => break,
            o => panic!("{o:?}"),
        }
        // The quick reader keeps up.
        let o = call(
            &mut k,
            quick,
            nr::chan_read,
            &[handles[2], 16, 64, 0, 0],
            &mut mems[2],
        );
        assert_eq!(o, Outcome::Return(8));
        if written < 4 {
            assert_eq!(held(&k), None, "room left: no one holds it back");
        }
    }
    assert_eq!(written, 4);
    let info = k.channel_info(ch).unwrap();
    assert_eq!(held(&k), Some(slow), "{info:?}");
    assert_eq!(info.held_back_by.unwrap().lag, 4);
    // Killing it lets the writer go on: the channel is no longer held back.
    k.kill(slow).unwrap();
    k.exit(slow, Exit::Killed);
    assert_eq!(held(&k), None);
}

/// A single channel takes one writer and one reader: a second process in
/// either role gets `Exists` and a `limit` event naming the holder, its own
/// second attach is another hold on its endpoint, and once the holder lets
/// go the other process gets the slot.
#[test]
fn a_single_channel_refuses_a_second_party_in_either_role() {
    let mut k = kernel();
    let ch = k
        .create_channel_for("s", 256, 8, Backpressure::Park, channel::Parties::Single, KERNEL_PID)
        .unwrap();
    assert!(k.channel_info(ch).unwrap().single);
    let rights = Rights::ALL;
    let (a, b) = (
        spawn(&mut k, &[("s", Object::Channel(ch), rights)]),
        spawn(&mut k, &[("s", Object::Channel(ch), rights)]),
    );
    let mut m = vec![0u8; 128];
    m[..1].copy_from_slice(b"s");
    let mut handle = |k: &mut Kernel, pid: Pid| {
        k.procs.get_mut(&pid).unwrap().classes = Classes::ALL;
        match call(k, pid, nr::cap_lookup, &[0, 1], &mut m) {
            Outcome::Return(h) => h,
            o => panic!("{o:?}"),
        }
    };
    let (ha, hb) = (handle(&mut k, a), handle(&mut k, b));
    let mut m = vec![0u8; 128];
    for role in [Role::Reader, Role::Writer] {
        let r = role as i64;
        assert_eq!(call(&mut k, a, nr::chan_attach, &[ha, r, 0], &mut m), Outcome::Return(0));
        assert_eq!(call(&mut k, a, nr::chan_attach, &[ha, r, 0], &mut m), Outcome::Return(0));
        assert_eq!(
            call(&mut k, b, nr::chan_attach, &[hb, r, 0], &mut m),
            Outcome::Return(Error::Exists.code() as i64),
            "a second {} is refused",
            role.name()
        );
        let why = alloc::format!("single channel `s` {}s (pid {a} attached)", role.name());
        assert!(
            k.events_since(0).any(|e| matches!(&e.kind,
                EventKind::LimitReached { pid, limit, value: 1 } if *pid == b && *limit == why)),
            "the refusal says who holds the {}",
            role.name()
        );
        for _ in 0..2 {
            assert_eq!(call(&mut k, a, nr::chan_detach, &[ha, r], &mut m), Outcome::Return(0));
        }
        assert_eq!(call(&mut k, b, nr::chan_attach, &[hb, r, 0], &mut m), Outcome::Return(0));
    }
}

/// `chan_create`'s flags: `SINGLE` makes a single channel, `DROP` drop
/// backpressure, and an unknown bit is an invalid argument.
#[test]
fn chan_create_takes_the_single_and_drop_flags_and_refuses_others() {
    let mut k = kernel();
    let pid = spawn(&mut k, &[]);
    k.procs.get_mut(&pid).unwrap().classes = Classes::ALL;
    let mut m = vec![0u8; 64];
    let flags = tidemark_abi::chan_flags::SINGLE | tidemark_abi::chan_flags::DROP;
    assert!(matches!(call(&mut k, pid, nr::chan_create, &[64, 4, flags as i64], &mut m), Outcome::Return(h) if h >= 0));
    let made = k.channels().find(|c| c.owner == pid).unwrap();
    assert!(made.geo.single());
    assert_eq!(made.backpressure(), Backpressure::Drop);
    assert_eq!(
        call(&mut k, pid, nr::chan_create, &[64, 4, 4], &mut m),
        Outcome::Return(Error::InvalidArgument.code() as i64)
    );
}

/// A recorded process's calls come back with what they wrote into the
/// guest; a replay answers them again, skips the parked tries of a call
/// that was retried, and names the first call that differs.
#[test]
fn a_recorded_process_replays_its_calls_and_a_different_call_diverges() {
    use crate::record::{Replay, Step, Stop};
    use tidemark_protocol::{ReplayEnd, Returned};
    let mut k = kernel();
    let ch = k
        .create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let mut spec = SpawnSpec::new("empty").grant("c", Object::Channel(ch), Rights::READ);
    spec.record = true;
    let r = k.spawn(spec).unwrap();
    assert!(r.recorded);
    let r = r.pid;
    k.started(r);
    k.procs.get_mut(&r).unwrap().classes = Classes::ALL;
    let h = i64::from(k.procs[&r].caps.lookup("c").unwrap().to_raw());
    let mut mem = vec![0u8; 128];
    assert_eq!(call(&mut k, r, nr::chan_attach, &[h, 1, 0], &mut mem), Outcome::Return(0));
    assert!(k.take_effects().attached.is_empty(), "no window for a recorded process");
    let read = [h, 16, 64, 100, 0];
    assert_eq!(call(&mut k, r, nr::chan_read, &read, &mut mem), Outcome::Block(Wait::Readable(ch)));
    k.send(ch, b"hello").unwrap();
    assert_eq!(call(&mut k, r, nr::chan_read, &read, &mut mem), Outcome::Return(5));
    assert_eq!(call(&mut k, r, nr::proc_self, &[], &mut mem), Outcome::Return(r as i64));
    let rec = k.recording(r, "test", "none").unwrap();
    let returned: Vec<Returned> = rec.calls.iter().map(|c| c.returned).collect();
    assert_eq!(
        returned,
        [
            Returned::Value(0),
            Returned::Parked(Wait::Readable(ch)),
            Returned::Value(5),
            Returned::Value(r as i64)
        ]
    );
    let writes: Vec<(u32, usize)> = rec.calls[2].writes.iter().map(|w| (w.at, w.bytes.len())).collect();
    assert_eq!(writes, [(16, 5), (100, abi::FrameMeta::SIZE)]);
    assert_eq!(&rec.calls[2].writes[0].bytes, b"hello");

    // Replayed into fresh memory: the same answers and the same bytes.
    let mut replay = Replay::new(&rec);
    let mut fresh = vec![0u8; 128];
    assert_eq!(replay.call(nr::chan_attach, &[h, 1, 0], &mut fresh), Ok(Step::Return(0)));
    assert_eq!(replay.call(nr::chan_read, &read, &mut fresh), Ok(Step::Return(5)));
    assert_eq!(fresh, mem);
    assert_eq!(replay.call(nr::proc_self, &[], &mut fresh), Ok(Step::Return(r as i64)));
    assert_eq!(replay.call(nr::proc_self, &[], &mut fresh), Err(Stop::End));
    assert!(matches!(replay.finish(Ok(0)), ReplayEnd::Matched { .. }));

    // Another argument at the second call is reported there.
    let mut replay = Replay::new(&rec);
    replay.call(nr::chan_attach, &[h, 1, 0], &mut fresh).unwrap();
    match replay.call(nr::chan_read, &[h, 16, 32, 100, 0], &mut fresh) {
        Err(Stop::Diverged(ReplayEnd::Diverged { index, expected, got, .. })) => {
            assert_eq!(index, 1);
            assert_eq!(expected.unwrap().args, read);
            assert_eq!(got.unwrap().args, [h, 16, 32, 100, 0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_recording_that_outgrows_its_limit_stops_and_says_so() {
    let mut k = Kernel::new(Config { max_recording: 200, ..Config::default() }, clock);
    k.install("empty", Arc::from(&b"\0asm\x01\0\0\0"[..]), true).unwrap();
    let mut spec = SpawnSpec::new("empty");
    spec.record = true;
    let pid = k.spawn(spec).unwrap().pid;
    k.started(pid);
    let mut mem = vec![0u8; 16];
    for _ in 0..20 {
        call(&mut k, pid, nr::proc_self, &[], &mut mem);
    }
    let rec = k.recording(pid, "test", "none").unwrap();
    assert!(rec.calls.len() < 20 && !rec.calls.is_empty());
    assert_eq!(rec.stopped.as_deref(), Some("its limit of 200 bytes was reached"));
    assert!(k.events_since(0).any(|e| matches!(&e.kind,
        EventKind::LimitReached { limit, .. } if limit == "recording bytes")));
}
