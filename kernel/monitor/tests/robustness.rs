//! A kernel serving the monitor never panics on what arrives, answers every
//! bad frame with an error, and stays usable afterwards.

use std::cell::RefCell;

use proptest::prelude::*;
use tidemark_kernel::lifecycle::{EngineError, ReloadReport};
use tidemark_kernel::{Config, Kernel, Pid, SpawnError, SpawnSpec};
use tidemark_monitor::server::{Connection, Target};
use tidemark_protocol::frame::{HEADER, MAGIC, MAX_PAYLOAD};
use tidemark_protocol::{
    Body, Decoder, ErrorKind, PROTOCOL_VERSION, Request, Response, encode, req,
};

/// The kernel core without an engine: everything but spawn works.
struct Core(RefCell<Kernel>);

impl Target for Core {
    fn with_kernel(&self, f: &mut dyn FnMut(&mut Kernel)) {
        f(&mut self.0.borrow_mut());
    }
    fn spawn(&self, s: SpawnSpec) -> Result<Pid, EngineError> {
        Err(EngineError::Spawn(SpawnError::NoPackage(format!(
            "{} (no engine in this test)",
            s.package
        ))))
    }
    fn kill(&self, _: Pid) {}
    fn reload(&self, pid: Pid, _: &str) -> Result<ReloadReport, EngineError> {
        Err(EngineError::Reload {
            pid,
            message: "no engine in this test".into(),
        })
    }
    fn board(&self) -> String {
        "test".into()
    }
    fn engine(&self) -> String {
        "none".into()
    }
}

fn core() -> Core {
    Core(RefCell::new(Kernel::new(Config::default(), || 0)))
}

/// Decodes what the kernel sent: (id, response) pairs; anything else fails the test.
fn responses(bytes: &[u8]) -> Vec<(u32, Response)> {
    let mut d = Decoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(f) = d.next_frame() {
        let f = f.expect("the kernel only sends well-formed frames");
        match f.body {
            Body::Response(r) => out.push((f.id, r)),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

fn ids(bytes: &[u8]) -> Vec<u32> {
    let mut d = Decoder::new();
    d.push(bytes);
    std::iter::from_fn(|| d.next_frame())
        .map(|f| f.unwrap().id)
        .collect()
}

fn info_request(id: u32) -> Vec<u8> {
    encode(id, &Body::Request(Request::Info(req::Info {})))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_get_only_error_replies(garbage in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let t = core();
        let mut c = Connection::new();
        let out = c.on_bytes(&t, &garbage);
        for (_, r) in responses(&out) {
            prop_assert!(matches!(r, Response::Error(_)), "{r:?}");
        }
    }

    #[test]
    fn after_garbage_the_link_answers(garbage in proptest::collection::vec(any::<u8>(), 0..512).prop_filter("no magic", |g| !g.windows(2).any(|w| w == MAGIC))) {
        let t = core();
        let mut c = Connection::new();
        let mut out = c.on_bytes(&t, &garbage);
        out.extend(c.on_bytes(&t, &info_request(7)));
        let rs = responses(&out);
        prop_assert!(matches!(rs.last(), Some((_, Response::Info(_)))), "{rs:?}");
        prop_assert_eq!(ids(&out).last().copied(), Some(7));
    }

    #[test]
    fn a_frame_with_a_bad_payload_gets_malformed_and_the_link_answers(id in 1u32.., payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let t = core();
        let mut c = Connection::new();
        let mut frame = MAGIC.to_vec();
        frame.extend(PROTOCOL_VERSION.to_le_bytes());
        frame.extend(id.to_le_bytes());
        frame.extend((payload.len() as u32).to_le_bytes());
        frame.extend(&payload);
        // Cut the frame anywhere: the rest arrives later, as on a serial line.
        let cut = payload.len() / 2 + HEADER / 2;
        let mut out = c.on_bytes(&t, &frame[..cut.min(frame.len())]);
        out.extend(c.on_bytes(&t, &frame[cut.min(frame.len())..]));
        out.extend(c.on_bytes(&t, &info_request(9)));
        let rs = responses(&out);
        let got_ids = ids(&out);
        prop_assert_eq!(rs.len(), 2);
        prop_assert_eq!(got_ids[0], id);
        // Some payloads happen to be valid requests; all others are Malformed.
        prop_assert!(matches!(&rs[0].1, Response::Error(e) if e.kind == ErrorKind::Malformed) || !matches!(rs[0].1, Response::Error(_)) || matches!(&rs[0].1, Response::Error(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::Refused));
        prop_assert!(matches!(rs[1].1, Response::Info(_)));
    }
}

#[test]
fn oversized_and_foreign_version_frames_get_errors_and_the_link_stays_usable() {
    let t = core();
    let mut c = Connection::new();
    let mut big = MAGIC.to_vec();
    big.extend(PROTOCOL_VERSION.to_le_bytes());
    big.extend(5u32.to_le_bytes());
    big.extend((MAX_PAYLOAD as u32 + 1).to_le_bytes());
    let mut out = c.on_bytes(&t, &big);
    let mut v2 = info_request(6);
    v2[2] = 99;
    out.extend(c.on_bytes(&t, &v2));
    out.extend(c.on_bytes(&t, &info_request(8)));
    let rs = responses(&out);
    assert!(matches!(&rs[0].1, Response::Error(e) if e.kind == ErrorKind::Oversized));
    assert!(matches!(&rs[1].1, Response::Error(e) if e.kind == ErrorKind::Version));
    assert!(matches!(rs[2].1, Response::Info(_)));
    assert_eq!(ids(&out), [5, 6, 8]);
}

#[test]
fn hello_with_another_version_is_refused_clearly() {
    let t = core();
    let mut c = Connection::new();
    let out = c.on_bytes(
        &t,
        &encode(
            1,
            &Body::Request(Request::Hello(req::Hello {
                version: 99,
                client: "old".into(),
            })),
        ),
    );
    match &responses(&out)[0].1 {
        Response::Error(e) => {
            assert_eq!(e.kind, ErrorKind::Version);
            assert!(e.message.contains("v99"), "{}", e.message);
        }
        r => panic!("{r:?}"),
    }
    assert!(!c.attached);
}

#[test]
fn requests_are_served_from_the_kernel() {
    let t = core();
    let mut c = Connection::new();
    let req = Request::CreateChannel(req::CreateChannel {
        name: "x".into(),
        data_bytes: 64,
        frames: 4,
        backpressure: tidemark_abi::Backpressure::Park,
        single: false,
    });
    let mut out = c.on_bytes(&t, &encode(1, &Body::Request(req.clone())));
    out.extend(c.on_bytes(&t, &encode(2, &Body::Request(req))));
    out.extend(c.on_bytes(
        &t,
        &encode(
            3,
            &Body::Request(Request::Send(req::Send {
                channel: "x".into(),
                data: b"hi".to_vec(),
            })),
        ),
    ));
    out.extend(c.on_bytes(
        &t,
        &encode(
            4,
            &Body::Request(Request::Tail(req::Tail {
                channel: 1.into(),
                max: 8,
            })),
        ),
    ));
    out.extend(c.on_bytes(
        &t,
        &encode(
            5,
            &Body::Request(Request::Spawn(req::Spawn {
                package: "x".into(),
                name: None,
                args: vec![],
                grants: vec![],
                memory_limit: None,
                record: false,
            })),
        ),
    ));
    let module = b"\0asm\x01\0\0\0".to_vec();
    out.extend(c.on_bytes(
        &t,
        &encode(
            6,
            &Body::Request(Request::Upload(req::Upload {
                name: "empty".into(),
                bytes: module,
                pin: true,
            })),
        ),
    ));
    out.extend(c.on_bytes(
        &t,
        &encode(
            7,
            &Body::Request(Request::Evict(req::Evict {
                name: "empty".into(),
            })),
        ),
    ));
    out.extend(c.on_bytes(
        &t,
        &encode(
            8,
            &Body::Request(Request::Resolve(req::Resolve {
                name: "empty".into(),
            })),
        ),
    ));
    let rs = responses(&out);
    assert!(
        matches!(&rs[5].1, Response::Upload(p) if p.pinned && p.size == 8 && p.hash.len() == 64)
    );
    assert!(
        matches!(&rs[6].1, Response::Error(e) if e.kind == ErrorKind::Refused),
        "pinned packages are not evicted"
    );
    assert!(matches!(&rs[7].1, Response::Resolve(tidemark_protocol::Resolution::Cached(p)) if p.name == "empty"));
    assert!(matches!(&rs[0].1, Response::CreateChannel(c) if c.id == 1 && c.name == "x"));
    assert!(
        matches!(&rs[1].1, Response::Error(e) if e.kind == ErrorKind::Refused),
        "names are unique"
    );
    assert!(matches!(
        rs[2].1,
        Response::Send(tidemark_protocol::Sent { channel: 1, seq: 0 })
    ));
    // The kernel's reader attaches at the oldest retained frame.
    assert!(matches!(&rs[3].1, Response::Tail(f) if f.len() == 1 && f[0].data == b"hi"));
    assert!(matches!(&rs[4].1, Response::Error(e) if e.message.contains("no engine")));
}

fn events(bytes: &[u8]) -> Vec<tidemark_protocol::Event> {
    let mut d = Decoder::new();
    d.push(bytes);
    std::iter::from_fn(|| d.next_frame())
        .map(|f| match f.unwrap().body {
            Body::Event(e) => e,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// A client is sent at most `EVENT_QUEUE` events a poll, after a `Lost`
/// event counting what it missed (its own overflow, or the kernel's log
/// letting go of events between polls): an event flood never grows what a
/// connection holds for its client.
/// A connection whose client said hello (so events are pushed to it).
fn attached(t: &Core) -> Connection {
    let mut c = Connection::new();
    c.on_bytes(
        t,
        &encode(
            1,
            &Body::Request(Request::Hello(req::Hello {
                version: PROTOCOL_VERSION,
                client: "t".into(),
            })),
        ),
    );
    c
}

#[test]
fn an_event_flood_is_bounded_per_client_and_counted() {
    use tidemark_monitor::server::EVENT_QUEUE;
    use tidemark_protocol::EventKind;
    let t = core();
    let mut c = attached(&t);
    let deny = |n: usize| {
        t.with_kernel(&mut |k| {
            (0..n).for_each(|_| {
                let _ = k.deny(0, 1, &[]);
            })
        })
    };
    deny(3000);
    let evs = events(&c.poll_events(&t));
    assert_eq!(evs.len(), EVENT_QUEUE + 1);
    assert!(
        matches!(evs[0].kind, EventKind::Lost { count } if count == 3000 - EVENT_QUEUE as u64),
        "{:?}",
        evs[0]
    );
    assert!(
        evs[1..]
            .iter()
            .all(|e| matches!(e.kind, EventKind::Denied { .. }))
    );
    assert_eq!(evs.last().unwrap().seq, 3000, "the newest are kept");
    // More than the kernel's own log holds: what it let go of counts too.
    let capacity = Config::default().event_capacity;
    deny(10_000);
    let evs = events(&c.poll_events(&t));
    assert_eq!(evs.len(), EVENT_QUEUE + 1);
    assert!(
        matches!(evs[0].kind, EventKind::Lost { count } if count == 10_000 - EVENT_QUEUE as u64),
        "{:?} (log of {capacity})",
        evs[0]
    );
    assert_eq!(c.lost, (3000 - EVENT_QUEUE + 10_000 - EVENT_QUEUE) as u64);
    assert!(
        events(&c.poll_events(&t)).is_empty(),
        "nothing new, nothing sent"
    );
}

#[test]
fn events_in_bounded_slices_arrive_in_order_and_none_twice() {
    use tidemark_monitor::server::EVENT_QUEUE;
    use tidemark_protocol::EventKind;
    let t = core();
    let mut c = attached(&t);
    t.with_kernel(&mut |k| {
        (0..3000).for_each(|_| {
            let _ = k.deny(0, 1, &[]);
        })
    });
    let mut seen = Vec::new();
    let mut lost = 0;
    loop {
        let evs = events(&c.poll_events_at_most(&t, 100));
        if evs.is_empty() {
            break;
        }
        let denied = evs
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Denied { .. }))
            .count();
        assert!(denied <= 100, "a slice holds at most its budget");
        for e in evs {
            match e.kind {
                EventKind::Lost { count } => lost += count,
                _ => seen.push(e.seq),
            }
        }
    }
    // The newest EVENT_QUEUE were kept and each sent once, in order.
    assert_eq!(seen.len(), EVENT_QUEUE);
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(*seen.last().unwrap(), 3000);
    assert_eq!(lost, 3000 - EVENT_QUEUE as u64);
}
