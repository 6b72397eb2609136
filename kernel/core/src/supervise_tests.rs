//! `chan_select`, `proc_spawn_caps` and `proc_watch`, without an engine.

extern crate std;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use tidemark_abi::{Backpressure, ChildExit, Classes, Error, Rights, Wire, nr};

use crate::caps::Object;
use crate::{Exit, KERNEL_PID, Kernel, Outcome, Pid, SpawnSpec, Wait};

fn clock() -> u64 {
    1_000
}

fn kernel() -> Kernel {
    let mut k = Kernel::new(crate::Config::default(), clock);
    k.install("empty", Arc::from(&b"\0asm\x01\0\0\0"[..]), true).unwrap();
    k
}

fn spawn(k: &mut Kernel, grants: &[(&str, u32, Rights)]) -> Pid {
    let mut spec = SpawnSpec::new("empty");
    for (n, ch, r) in grants {
        spec = spec.grant(n, Object::Channel(*ch), *r);
    }
    let s = k.spawn(spec).unwrap();
    k.started(s.pid);
    k.procs.get_mut(&s.pid).unwrap().classes = Classes::ALL;
    s.pid
}

fn handle(k: &Kernel, pid: Pid, name: &str) -> i64 {
    i64::from(k.process(pid).unwrap().caps.lookup(name).unwrap().to_raw())
}

fn ret(o: Outcome) -> i64 {
    match o {
        Outcome::Return(v) => v,
        o => panic!("{o:?}"),
    }
}

/// A process reading channels `a` and `b`, attached to both.
fn reader_of_two(k: &mut Kernel) -> (Pid, u32, u32, [i64; 2]) {
    let a = k.create_channel("a", 256, 8, Backpressure::Park, KERNEL_PID).unwrap();
    let b = k.create_channel("b", 256, 8, Backpressure::Park, KERNEL_PID).unwrap();
    let r = spawn(k, &[("a", a, Rights::READ), ("b", b, Rights::READ)]);
    let hs = [handle(k, r, "a"), handle(k, r, "b")];
    let mut mem = vec![0u8; 64];
    for h in hs {
        assert_eq!(ret(k.hostcall(r, nr::chan_attach, &[h, 1, 0], &mut mem)), 0);
    }
    (r, a, b, hs)
}

fn select_mem(hs: &[i64]) -> Vec<u8> {
    let mut mem = vec![0u8; 64];
    for (i, h) in hs.iter().enumerate() {
        mem[i * 4..i * 4 + 4].copy_from_slice(&(*h as i32).to_le_bytes());
    }
    mem
}

#[test]
fn select_parks_on_every_channel_and_a_frame_on_any_wakes_it() {
    let mut k = kernel();
    let (r, a, b, hs) = reader_of_two(&mut k);
    let mut mem = select_mem(&hs);
    assert_eq!(k.hostcall(r, nr::chan_select, &[0, 2, -1], &mut mem), Outcome::Block(Wait::Select(None)));
    assert!(k.channel(a).unwrap().readers_waiting.contains(&r));
    assert!(k.channel(b).unwrap().readers_waiting.contains(&r));
    k.send(b, b"x").unwrap();
    assert!(k.take_effects().wake.contains(&r));
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 2, -1], &mut mem)), 1, "b has the frame");
    k.send(a, b"y").unwrap();
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 2, -1], &mut mem)), 0, "the first ready one");
}

#[test]
fn select_with_a_passed_deadline_answers_empty_and_zero_polls() {
    let mut k = kernel();
    let (r, _, _, hs) = reader_of_two(&mut k);
    let mut mem = select_mem(&hs);
    let now = k.now() as i64;
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 2, now], &mut mem)), Error::Empty.code() as i64);
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 2, 0], &mut mem)), Error::Empty.code() as i64);
    assert_eq!(
        k.hostcall(r, nr::chan_select, &[0, 2, now + 5], &mut mem),
        Outcome::Block(Wait::Select(Some(now as u64 + 5)))
    );
}

#[test]
fn select_refuses_what_it_cannot_wait_on() {
    let mut k = kernel();
    let (r, _, _, hs) = reader_of_two(&mut k);
    let mut mem = select_mem(&hs);
    let code = |e: Error| e.code() as i64;
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 0, -1], &mut mem)), code(Error::InvalidArgument));
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 65, -1], &mut mem)), code(Error::InvalidArgument));
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[60, 2, -1], &mut mem)), code(Error::OutOfBounds));
    // A forged handle, and a channel held but not attached as a reader.
    let mut forged = select_mem(&[hs[0], 12345]);
    assert_eq!(ret(k.hostcall(r, nr::chan_select, &[0, 2, -1], &mut forged)), code(Error::InvalidHandle));
    let c = k.create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID).unwrap();
    let w = spawn(&mut k, &[("c", c, Rights::ALL)]);
    let mut mine = select_mem(&[handle(&k, w, "c")]);
    assert_eq!(ret(k.hostcall(w, nr::chan_select, &[0, 1, -1], &mut mine)), code(Error::NotAttached));
}

/// Grant records for `proc_spawn_caps` at `mem[at..]`; returns their length.
fn grants(mem: &mut [u8], at: usize, list: &[(i64, Rights, &str)]) -> usize {
    let mut n = at;
    for (h, r, name) in list {
        mem[n..n + 4].copy_from_slice(&(*h as i32).to_le_bytes());
        mem[n + 4..n + 8].copy_from_slice(&r.0.to_le_bytes());
        mem[n + 8..n + 12].copy_from_slice(&(name.len() as u32).to_le_bytes());
        mem[n + 12..n + 12 + name.len()].copy_from_slice(name.as_bytes());
        n += 12 + name.len();
    }
    n - at
}

#[test]
fn a_child_spawned_with_caps_has_them_narrowed_before_it_starts() {
    let mut k = kernel();
    let c = k.create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID).unwrap();
    let parent = spawn(&mut k, &[("c", c, Rights::ALL)]);
    let h = handle(&k, parent, "c");
    let mut mem = vec![0u8; 256];
    mem[..5].copy_from_slice(b"empty");
    let len = grants(&mut mem, 64, &[(h, Rights::READ, "req")]);
    let child = ret(k.hostcall(parent, nr::proc_spawn_caps, &[0, 5, 0, 0, 64, len as i64], &mut mem)) as Pid;
    let spawned = k.take_effects().spawn;
    assert_eq!(spawned.len(), 1);
    assert_eq!(spawned[0].pid, child);
    let p = k.process(child).unwrap();
    assert_eq!(p.parent, parent);
    let e = p.caps.get(p.caps.lookup("req").unwrap()).unwrap();
    assert_eq!((e.object, e.rights), (Object::Channel(c), Rights::READ));
}

#[test]
fn a_refused_grant_spawns_nothing() {
    let mut k = kernel();
    let c = k.create_channel("c", 256, 8, Backpressure::Park, KERNEL_PID).unwrap();
    // Held without `g`: it cannot be handed on.
    let parent = spawn(&mut k, &[("c", c, Rights::READ)]);
    let h = handle(&k, parent, "c");
    let mut mem = vec![0u8; 256];
    mem[..5].copy_from_slice(b"empty");
    let before = k.processes().count();
    let len = grants(&mut mem, 64, &[(h, Rights::READ, "req")]);
    let r = ret(k.hostcall(parent, nr::proc_spawn_caps, &[0, 5, 0, 0, 64, len as i64], &mut mem));
    assert_eq!(r, Error::PermissionDenied.code() as i64);
    assert_eq!(k.processes().count(), before);
    assert!(k.take_effects().spawn.is_empty());
    // Records cut short or naming nothing are malformed.
    let cut = mem[64..64 + len - 1].to_vec();
    for bad in [cut, vec![0u8; 12]] {
        let n = bad.len();
        mem[128..128 + n].copy_from_slice(&bad);
        let r = ret(k.hostcall(parent, nr::proc_spawn_caps, &[0, 5, 0, 0, 128, n as i64], &mut mem));
        assert_eq!(r, Error::InvalidArgument.code() as i64);
    }
}

#[test]
fn a_watching_parent_hears_how_each_child_ended() {
    let mut k = kernel();
    let w = k.create_channel("w", 256, 8, Backpressure::Drop, KERNEL_PID).unwrap();
    let parent = spawn(&mut k, &[("w", w, Rights::ALL)]);
    let h = handle(&k, parent, "w");
    let mut mem = vec![0u8; 64];
    assert_eq!(ret(k.hostcall(parent, nr::proc_watch, &[h], &mut mem)), 0);
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut spec = SpawnSpec::new("empty");
        spec.parent = parent;
        children.push(k.spawn(spec).unwrap().pid);
    }
    k.exit(children[0], Exit::Code(-3));
    k.exit(children[1], Exit::Killed);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while let Some(meta) = k.recv(w, &mut buf).unwrap() {
        assert_eq!(meta.len as usize, ChildExit::SIZE);
        got.push(ChildExit::decode(&buf));
    }
    assert_eq!(
        got,
        [
            ChildExit { pid: children[0], kind: ChildExit::EXITED, code: -3i32 as u32 },
            ChildExit { pid: children[1], kind: ChildExit::KILLED, code: 0 },
        ]
    );
    // Unwatched: nothing more.
    assert_eq!(ret(k.hostcall(parent, nr::proc_watch, &[-1], &mut mem)), 0);
    let mut spec = SpawnSpec::new("empty");
    spec.parent = parent;
    let third = k.spawn(spec).unwrap().pid;
    k.exit(third, Exit::Code(0));
    assert!(k.recv(w, &mut buf).unwrap().is_none());
}
