//! The ring against a reference model: random sequences of writes, reads,
//! drains, attaches and detaches, writers stopped between reserving and
//! publishing (then repaired), reloads that stop a writer inside the lock,
//! and scribbles, compared step by step with a `VecDeque` per reader.

use std::collections::VecDeque;

use proptest::prelude::*;
use tidemark_ring::{Geometry, Reservation, Ring, RingError};

#[derive(Clone, Debug)]
enum Op {
    Write {
        writer: usize,
        len: u8,
    },
    Read {
        reader: usize,
    },
    Drain {
        reader: usize,
    },
    /// The writer reserves and stops (killed, trapped) before publishing.
    Stop {
        writer: usize,
        len: u8,
    },
    /// A late writer finishes its reservation (it was only slow).
    Finish {
        writer: usize,
    },
    /// The same, filling the reservation where it lies (a loan) and committing.
    FinishInPlace {
        writer: usize,
    },
    /// The writer gives its reservation up (a dropped loan): a tombstone.
    Cancel {
        writer: usize,
    },
    /// A read of the next frame where it lies: peek, look, release.
    ReadInPlace {
        reader: usize,
    },
    /// The kernel repairs a stopped writer and gives it back (a reload's
    /// successor, or a new process in the slot).
    Repair {
        writer: usize,
    },
    Detach {
        reader: usize,
    },
    Attach {
        reader: usize,
    },
    /// A hostile scribble of one word outside the header.
    Scribble {
        word: u16,
        value: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..40u8).prop_map(|(writer, len)| Op::Write { writer, len }),
        6 => (0..3usize).prop_map(|reader| Op::Read { reader }),
        1 => (0..3usize).prop_map(|reader| Op::Drain { reader }),
        1 => (0..3usize, 0..40u8).prop_map(|(writer, len)| Op::Stop { writer, len }),
        1 => (0..3usize).prop_map(|writer| Op::Finish { writer }),
        1 => (0..3usize).prop_map(|writer| Op::FinishInPlace { writer }),
        1 => (0..3usize).prop_map(|writer| Op::Cancel { writer }),
        3 => (0..3usize).prop_map(|reader| Op::ReadInPlace { reader }),
        1 => (0..3usize).prop_map(|writer| Op::Repair { writer }),
        1 => (0..3usize).prop_map(|reader| Op::Detach { reader }),
        1 => (0..3usize).prop_map(|reader| Op::Attach { reader }),
        1 => (0..2000u16, any::<u32>()).prop_map(|(word, value)| Op::Scribble { word, value }),
    ]
}

/// What a frame will read as, once published: `None` for a tombstone.
#[derive(Clone, Debug, PartialEq)]
enum Slot {
    Frame(Vec<u8>),
    Pending(usize),
    Tombstone,
}

struct Model {
    /// Frames from the oldest any reader may still read, by sequence number.
    frames: VecDeque<(u32, Slot)>,
    /// Per reader: next sequence number, or detached.
    readers: Vec<Option<u32>>,
    /// Where the last reader left.
    rest: u32,
    /// Each writer's pending reservation.
    pending: Vec<Option<(Reservation, Vec<u8>)>>,
}

impl Model {
    /// The first frame from `next` on that is not a tombstone.
    fn next_live(&self, next: u32) -> Option<(u32, Slot)> {
        self.frames
            .iter()
            .skip_while(|f| f.0 != next)
            .find(|f| f.1 != Slot::Tombstone)
            .cloned()
    }

    /// A read from `next` found nothing: nothing may be published before
    /// the first pending frame (tombstones skipped), and the reader's
    /// cursor is now there (or at the head).
    fn nothing_to_read(
        &mut self,
        reader: usize,
        next: u32,
        head: u32,
    ) -> Result<(), TestCaseError> {
        let first_live = self.next_live(next);
        prop_assert!(
            matches!(first_live, None | Some((_, Slot::Pending(_)))),
            "empty, but {first_live:?}"
        );
        self.readers[reader] = Some(first_live.map_or(head, |f| f.0));
        Ok(())
    }
}

fn payload(writer: usize, n: u32, len: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (writer as u8) ^ (n as u8).wrapping_add(i))
        .collect()
}

/// The same op on a ring of `parties` readers and writers (indices folded).
fn fold(op: Op, parties: usize) -> Op {
    let f = |i: usize| i % parties;
    match op {
        Op::Write { writer, len } => Op::Write { writer: f(writer), len },
        Op::Read { reader } => Op::Read { reader: f(reader) },
        Op::Drain { reader } => Op::Drain { reader: f(reader) },
        Op::Stop { writer, len } => Op::Stop { writer: f(writer), len },
        Op::Finish { writer } => Op::Finish { writer: f(writer) },
        Op::FinishInPlace { writer } => Op::FinishInPlace { writer: f(writer) },
        Op::Cancel { writer } => Op::Cancel { writer: f(writer) },
        Op::ReadInPlace { reader } => Op::ReadInPlace { reader: f(reader) },
        Op::Repair { writer } => Op::Repair { writer: f(writer) },
        Op::Detach { reader } => Op::Detach { reader: f(reader) },
        Op::Attach { reader } => Op::Attach { reader: f(reader) },
        scribble @ Op::Scribble { .. } => scribble,
    }
}

/// Runs `ops` on a ring of `parties` readers and writers: 3, or 1 for a
/// single ring (no writer lock).
fn run(ops: Vec<Op>, parties: usize) -> Result<(), TestCaseError> {
    let geo = Geometry::new(64, 8, parties as u32, parties as u32, 0).unwrap();
    let ops: Vec<Op> = ops.into_iter().map(|op| fold(op, parties)).collect();
    let mut mem = vec![0u64; geo.region_size().div_ceil(8)];
    let base = mem.as_mut_ptr().cast::<u8>();
    // SAFETY: 8-aligned, region_size bytes, outlives the ring.
    let ring = unsafe { Ring::init(base, geo) };
    let ids: Vec<u32> = (0..parties).map(|_| ring.attach_writer().unwrap()).collect();
    let mut m = Model {
        frames: VecDeque::new(),
        readers: vec![None; 3],
        rest: 0,
        pending: vec![None; 3],
    };
    let mut slots = [0u32; 3];
    let mut n = 0u32;
    let mut buf = [0u8; 64];
    let mut corrupt = false;
    for op in ops {
        if corrupt {
            break;
        }
        match op {
            Op::Write { writer, len } if m.pending[writer].is_none() => {
                n += 1;
                let p = payload(writer, n, len);
                match ring.write(ids[writer], &p) {
                    Ok(w) => m.frames.push_back((w.seq, Slot::Frame(p))),
                    Err(RingError::Full) => {}
                    Err(RingError::Corrupt(_)) => corrupt = true,
                    Err(e) => prop_assert!(false, "write: {e:?}"),
                }
            }
            Op::Stop { writer, len } if m.pending[writer].is_none() => {
                n += 1;
                let p = payload(writer, n, len);
                match ring.reserve(ids[writer], p.len()) {
                    Ok(r) => {
                        m.frames.push_back((r.seq, Slot::Pending(writer)));
                        m.pending[writer] = Some((r, p));
                    }
                    Err(RingError::Full) => {}
                    Err(RingError::Corrupt(_)) => corrupt = true,
                    Err(e) => prop_assert!(false, "reserve: {e:?}"),
                }
            }
            Op::Finish { writer } => {
                if let Some((r, p)) = m.pending[writer].take() {
                    ring.publish(r, &p);
                    let f = m.frames.iter_mut().find(|f| f.0 == r.seq).unwrap();
                    f.1 = Slot::Frame(p);
                }
            }
            Op::FinishInPlace { writer } => {
                if let Some((r, p)) = m.pending[writer].take() {
                    let (a, b) = ring.reservation_spans(&r);
                    let data = ring.base_ptr();
                    // SAFETY: the reservation's spans lie inside the ring's
                    // payload bytes, this writer's alone until it commits.
                    unsafe {
                        std::ptr::copy_nonoverlapping(p.as_ptr(), data.add(a.start), a.len());
                        std::ptr::copy_nonoverlapping(
                            p[a.len()..].as_ptr(),
                            data.add(b.start),
                            b.len(),
                        );
                    }
                    ring.commit(r);
                    let f = m.frames.iter_mut().find(|f| f.0 == r.seq).unwrap();
                    f.1 = Slot::Frame(p);
                }
            }
            Op::Cancel { writer } => {
                if let Some((r, _)) = m.pending[writer].take() {
                    ring.cancel(r);
                    let f = m.frames.iter_mut().find(|f| f.0 == r.seq).unwrap();
                    f.1 = Slot::Tombstone;
                }
            }
            Op::ReadInPlace { reader } => {
                let Some(next) = m.readers[reader] else {
                    continue;
                };
                let expect = m.next_live(next);
                match ring.peek(slots[reader]) {
                    Ok(peeked) => {
                        let Some((seq, Slot::Frame(p))) = expect else {
                            return Err(TestCaseError::fail(format!(
                                "peeked {peeked:?}, expected {expect:?}"
                            )));
                        };
                        let (a, b) = ring.peeked_spans(&peeked);
                        let data = ring.base_ptr();
                        // SAFETY: a published frame's spans, left alone by
                        // writers until this reader releases it.
                        let got: Vec<u8> = unsafe {
                            let mut v =
                                std::slice::from_raw_parts(data.add(a.start), a.len()).to_vec();
                            v.extend_from_slice(std::slice::from_raw_parts(
                                data.add(b.start),
                                b.len(),
                            ));
                            v
                        };
                        prop_assert_eq!(peeked.seq, seq);
                        prop_assert_eq!(&got[..], &p[..]);
                        let r = ring.release(slots[reader], peeked);
                        prop_assert_eq!((r.seq, r.len as usize), (seq, p.len()));
                        m.readers[reader] = Some(seq.wrapping_add(1));
                    }
                    Err(RingError::Empty | RingError::Skipped { .. }) => {
                        m.nothing_to_read(reader, next, n_head(&ring))?;
                    }
                    Err(RingError::Corrupt(_)) => corrupt = true,
                    Err(e) => prop_assert!(false, "peek: {e:?}"),
                }
            }
            Op::Repair { writer } => {
                let made = ring.repair_writer(ids[writer]);
                let had = m.pending[writer].take();
                prop_assert_eq!(made, u32::from(had.is_some()));
                for f in m.frames.iter_mut().filter(|f| f.1 == Slot::Pending(writer)) {
                    f.1 = Slot::Tombstone;
                }
            }
            Op::Read { reader } => {
                let Some(next) = m.readers[reader] else {
                    continue;
                };
                let expect = m.next_live(next);
                match ring.read(slots[reader], &mut buf) {
                    Ok(r) => {
                        let Some((seq, Slot::Frame(p))) = expect else {
                            return Err(TestCaseError::fail(format!(
                                "read {r:?}, expected {expect:?}"
                            )));
                        };
                        prop_assert_eq!(r.seq, seq);
                        prop_assert_eq!(&buf[..r.len as usize], &p[..]);
                        m.readers[reader] = Some(seq.wrapping_add(1));
                    }
                    Err(RingError::Empty | RingError::Skipped { .. }) => {
                        m.nothing_to_read(reader, next, n_head(&ring))?;
                    }
                    Err(RingError::Corrupt(_)) => corrupt = true,
                    Err(e) => prop_assert!(false, "read: {e:?}"),
                }
            }
            Op::Drain { reader } => {
                let Some(next) = m.readers[reader] else {
                    continue;
                };
                match ring.drain(slots[reader]) {
                    Ok(_) => {
                        let stop = m
                            .frames
                            .iter()
                            .skip_while(|f| f.0 != next)
                            .find(|f| matches!(f.1, Slot::Pending(_)));
                        m.readers[reader] = Some(stop.map_or(n_head(&ring), |f| f.0));
                    }
                    Err(RingError::Corrupt(_)) => corrupt = true,
                    Err(e) => prop_assert!(false, "drain: {e:?}"),
                }
            }
            Op::Detach { reader } => {
                if let Some(next) = m.readers[reader].take() {
                    ring.detach_reader(slots[reader]);
                    if m.readers.iter().all(Option::is_none) {
                        m.rest = next;
                    }
                }
            }
            Op::Attach { reader } if m.readers[reader].is_none() => match ring.attach_reader() {
                Ok(slot) => {
                    slots[reader] = slot;
                    let head = n_head(&ring);
                    let start = m
                        .readers
                        .iter()
                        .flatten()
                        .copied()
                        .max_by_key(|s| head.wrapping_sub(*s))
                        .unwrap_or(m.rest);
                    prop_assert_eq!(
                        ring.reader_seq(slot),
                        start,
                        "a reader attaches at the slowest live cursor"
                    );
                    m.readers[reader] = Some(start);
                }
                Err(RingError::Corrupt(_)) => corrupt = true,
                Err(e) => prop_assert!(false, "attach: {e:?}"),
            },
            Op::Scribble { word, value } => {
                let words = (geo.region_size() - geo.data_cap as usize) / 4;
                let at = 48 + (word as usize % (words - 48));
                // SAFETY: a word inside the region, past the header.
                unsafe { base.add(at * 4).cast::<u32>().write(value) };
                // From here on the ring may say Corrupt or return other
                // frames, but never fault or loop: run to the end unchecked.
                for _ in 0..20 {
                    let _ = ring.write(ids[0], &[1, 2, 3]);
                    let _ = ring.read(0, &mut buf);
                    let _ = ring.drain(1 % parties as u32);
                    let _ = ring.repair_writer(ids[1 % parties]);
                    let _ = ring.stats();
                }
                return Ok(());
            }
            _ => {}
        }
        // Frames every reader has passed are gone from the model.
        let head = n_head(&ring);
        let oldest = m
            .readers
            .iter()
            .flatten()
            .copied()
            .max_by_key(|s| head.wrapping_sub(*s))
            .unwrap_or(m.rest);
        while m
            .frames
            .front()
            .is_some_and(|f| head.wrapping_sub(f.0) > head.wrapping_sub(oldest))
        {
            m.frames.pop_front();
        }
    }
    Ok(())
}

fn n_head(ring: &Ring<'_>) -> u32 {
    ring.stats().head_seq
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn the_ring_behaves_as_its_reference_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops, 3)?;
    }

    #[test]
    fn a_single_ring_behaves_as_its_reference_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops, 1)?;
    }
}
