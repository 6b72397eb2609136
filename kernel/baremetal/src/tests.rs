//! The shared loop on a fake board whose transmitter is the C6's: a
//! 64-byte FIFO that only the host empties. The never-wait policy under
//! a full FIFO, a host gone, and a host back.

extern crate std;

use alloc::vec::Vec;
use core::cell::Cell;
use std::collections::VecDeque;

use tidemark_kernel::{Config, SpawnSpec};
use tidemark_protocol::{Body, Decoder, PROTOCOL_VERSION, Request, Response, encode, req};

use super::*;

std::thread_local! {
    static CLOCK: Cell<u64> = const { Cell::new(0) };
}

fn advance(ns: u64) {
    CLOCK.with(|c| c.set(c.get() + ns));
}

/// The C6's USB-Serial-JTAG as the kernel sees it: bytes the host sent,
/// and a 64-byte TX FIFO that only [`Fake::drain`] empties.
#[derive(Default)]
struct Fake {
    rx: VecDeque<u8>,
    fifo: Vec<u8>,
}

impl Board for Fake {
    const NAME: &'static str = "fake";
    const TX_QUEUE: usize = 16 << 10;
    fn now_ns() -> u64 {
        CLOCK.with(|c| c.get())
    }
    fn memory() -> BoardMemory {
        BoardMemory {
            ram_bytes: 512 << 10,
            ..BoardMemory::default()
        }
    }
    fn config() -> Config {
        Config {
            arena_size: 64 << 10,
            arena_budget: 256 << 10,
            memory_limit: 256 << 10,
            ..Config::default()
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.rx.len());
        for (d, s) in buf.iter_mut().zip(self.rx.drain(..n)) {
            *d = s;
        }
        n
    }
    fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(64 - self.fifo.len());
        self.fifo.extend_from_slice(&bytes[..n]);
        n
    }
    fn idle(&mut self, ns: u64) {
        advance(ns);
    }
}

fn machine() -> Machine<Fake> {
    let bundle = [("spin", tidemark_guest_artifacts::get("spin"))];
    Machine::boot(Fake::default(), &bundle).unwrap()
}

fn send(m: &mut Machine<Fake>, id: u32, r: Request) {
    m.board_mut().rx.extend(encode(id, &Body::Request(r)));
}

fn hello() -> Request {
    Request::Hello(req::Hello {
        version: PROTOCOL_VERSION,
        client: "test".into(),
    })
}

/// Turns the loop with a host that reads, until the answer to `id` arrives.
fn answer(m: &mut Machine<Fake>, d: &mut Decoder, id: u32) -> Response {
    for _ in 0..100_000 {
        m.turn();
        advance(1_000);
        let bytes = core::mem::take(&mut m.board_mut().fifo);
        d.push(&bytes);
        while let Some(f) = d.next_frame() {
            if let Ok(f) = f
                && let Body::Response(r) = f.body
                && f.id == id
            {
                return r;
            }
        }
    }
    panic!("no answer to request {id}");
}

#[test]
fn a_host_that_stops_reading_stalls_no_guest_and_a_new_one_is_answered() {
    let mut m = machine();
    let mut d = Decoder::new();
    send(&mut m, 1, hello());
    assert!(matches!(answer(&mut m, &mut d, 1), Response::Hello(_)));
    m.kernel().spawn(SpawnSpec::new("spin")).unwrap();

    // The host stops reading and keeps asking: the FIFO fills, replies
    // queue to the bound and past it are dropped, and the guest runs on.
    let mut ran = 0;
    for id in 2..2_000 {
        send(&mut m, id, Request::Ps(req::Ps {}));
        let t = m.turn();
        ran += t.ran;
        advance(1_000_000);
        assert_eq!(
            m.board_mut().fifo.len(),
            64,
            "the FIFO is full and nobody empties it"
        );
        assert!(m.link().queued_bytes <= Fake::TX_QUEUE as u64);
    }
    assert_eq!(ran, 1_998, "the guest had a slice every turn");
    let s = m.link();
    assert!(s.dropped_frames > 0 && s.dropped_bytes > 0, "{s:?}");
    assert_eq!(s.stalls, 1, "{s:?}");

    // A new host: it says hello and gets an answer, after at most the rest
    // of what was cut short; the replies meant for the old host are gone.
    let mut d = Decoder::new();
    m.board_mut().fifo.clear();
    send(&mut m, 5_000, hello());
    assert!(matches!(answer(&mut m, &mut d, 5_000), Response::Hello(_)));
    send(&mut m, 5_001, Request::Info(req::Info {}));
    let Response::Info(info) = answer(&mut m, &mut d, 5_001) else {
        panic!("not info")
    };
    let link = info.link.expect("a bare-metal board reports its link");
    assert_eq!((link.reattaches, link.stalls), (1, 1), "{link:?}");
    assert!(link.dropped_frames >= s.dropped_frames);
    assert_eq!(info.memory.map(|m| m.ram_bytes), Some(512 << 10));
}

#[test]
fn garbage_on_the_line_is_skipped_and_the_next_request_answered() {
    let mut m = machine();
    let mut d = Decoder::new();
    m.board_mut()
        .rx
        .extend(b"\x00\xffTM\x07garbage\r\n".iter().copied());
    send(&mut m, 7, hello());
    assert!(matches!(answer(&mut m, &mut d, 7), Response::Hello(_)));
    send(&mut m, 8, Request::Ps(req::Ps {}));
    assert!(matches!(answer(&mut m, &mut d, 8), Response::Ps(v) if v.is_empty()));
}

#[test]
fn an_idle_machine_idles_and_limits_parse_from_the_manifest() {
    let mut m = machine();
    assert!(m.turn().idle());
    let l = parse_limits(Some("3,0,x,7"));
    let d = tidemark_kernel::Limits::default();
    assert_eq!(
        (l.processes, l.children, l.depth, l.channels),
        (3, d.children, d.depth, 7)
    );
}

#[test]
fn the_loop_polls_while_a_frame_is_arriving_and_idles_once_the_host_is_quiet() {
    let mut m = machine();
    assert_eq!(m.step(), IDLE_NS, "nothing ever came in");
    // The first part of a request: the rest is on its way, so no idling.
    let frame = encode(1, &Body::Request(hello()));
    let (first, rest) = frame.split_at(8);
    m.board_mut().rx.extend(first.iter().copied());
    assert_eq!(m.step(), 0, "bytes read this turn");
    advance(RX_LINGER_NS / 2);
    assert_eq!(m.step(), 0, "within the linger after the last byte");
    m.board_mut().rx.extend(rest.iter().copied());
    assert_eq!(m.step(), 0);
    advance(RX_LINGER_NS);
    assert_eq!(m.step(), IDLE_NS, "the host has been quiet for the linger");
    assert!(matches!(answer(&mut m, &mut Decoder::new(), 1), Response::Hello(_)));
}

#[test]
fn package_settings_parse_from_the_manifest() {
    let d = Config::default();
    let c = parse_packages(Some("4,65536"), Config::default());
    assert_eq!((c.package_slots, c.max_package), (4, 65536));
    let c = parse_packages(Some("0"), Config::default());
    assert_eq!((c.package_slots, c.max_package), (d.package_slots, d.max_package));
    let c = parse_packages(None, Config::default());
    assert_eq!(c.package_slots, d.package_slots);
}

/// A panic's last words: the kernel's dump, with the board's fields, as a
/// monitor frame a host decodes (`Body::Dump`); nothing before the
/// machine runs.
#[test]
fn a_panic_leaves_the_kernel_s_dump_as_its_last_words() {
    // SAFETY: no machine has run in this test binary (`run` never returns).
    assert!(unsafe { crate::last_words(&"early") }.is_none());
    let mut m = machine();
    send(&mut m, 1, Request::Spawn(req::Spawn {
        package: "spin".into(),
        name: None,
        args: Vec::new(),
        grants: Vec::new(),
        memory_limit: None,
        record: false,
    }));
    let mut d = Decoder::new();
    assert!(matches!(answer(&mut m, &mut d, 1), Response::Spawn(1)));
    // SAFETY: nothing holds the kernel; the test does not go on with a
    // machine that "panicked" (it only reads).
    let dump = unsafe { m.kernel().last_words("boom at src/x.rs:1") };
    assert_eq!(dump.reason, "kernel panic: boom at src/x.rs:1");
    assert_eq!((dump.info.board.as_str(), dump.info.engine.as_str()), (Fake::NAME, "wasmi 2"));
    assert!(dump.info.memory.is_some() && dump.info.link.is_some());
    assert_eq!(dump.ps.len(), 1);
    let mut frames = Decoder::new();
    frames.push(&encode(0, &Body::Dump(alloc::boxed::Box::new(dump.clone()))));
    match frames.next_frame() {
        Some(Ok(f)) => assert_eq!(f.body, Body::Dump(alloc::boxed::Box::new(dump))),
        other => panic!("{other:?}"),
    }
}

/// The C6's way: a panic's dump written into RAM that survives the reset
/// (as a dump file, without a heap allocation for it), taken at the next
/// boot and answered by `dump --crash`, with an event that says why the
/// previous boot ended; a kept area that does not read says so too.
#[test]
fn a_panic_dump_kept_across_a_reset_is_answered_at_the_next_boot() {
    let m = machine();
    // SAFETY: as in the test above: the machine is only read.
    let dump = unsafe { m.kernel().last_words("boom at src/y.rs:2") };
    let mut area = [0u8; 8 << 10];
    assert!(keep::keep(&mut area, |b| tidemark_protocol::dump_into(&dump, b)));
    assert!(!keep::keep(&mut [0u8; 64], |b| tidemark_protocol::dump_into(&dump, b)), "too small");
    drop(m);
    // The next boot.
    let kept = keep::take(&mut area).expect("the kept dump");
    assert_eq!(keep::take(&mut area), None);
    let mut m = machine();
    m.restore_panic(&kept);
    send(&mut m, 1, Request::Dump(req::Dump { events: true, crash: true, memories: false }));
    let mut d = Decoder::new();
    match answer(&mut m, &mut d, 1) {
        Response::Dump(got) => assert_eq!(got, dump),
        other => panic!("{other:?}"),
    }
    let said = |m: &Machine<Fake>, what: &str| {
        m.kernel().with_kernel(|k| {
            k.events_since(0).any(|e| {
                matches!(&e.kind, tidemark_protocol::EventKind::Log { text, .. } if text.contains(what))
            })
        })
    };
    assert!(said(&m, "the previous boot ended in a kernel panic: boom at src/y.rs:2"));
    let m = machine();
    m.restore_panic(b"TMDUMP\x01\x00");
    assert!(said(&m, "kept a panic dump that does not read: dump format v1"));
}
