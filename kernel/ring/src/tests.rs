extern crate std;

use super::*;
use std::vec;
use std::vec::Vec;

struct Mem(Vec<u64>);

impl Mem {
    fn new(geo: Geometry) -> Mem {
        Mem(vec![0u64; geo.region_size().div_ceil(8)])
    }
    fn ring(&mut self, geo: Geometry) -> Ring<'_> {
        // SAFETY: the buffer is 8-aligned and region_size long, and outlives the ring.
        unsafe { Ring::init(self.0.as_mut_ptr().cast(), geo) }
    }
}

fn geo(data: u32, frames: u32, bp: u32) -> Geometry {
    Geometry::new(data, frames, 4, 4, bp).unwrap()
}

#[test]
fn frames_round_trip_across_the_wrap() {
    let g = geo(64, 8, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    let mut buf = [0u8; 64];
    for i in 0..100u32 {
        let payload: Vec<u8> = (0..(i % 23) as u8)
            .map(|b| b.wrapping_add(i as u8))
            .collect();
        r.write(w, &payload).unwrap();
        let got = r.read(rd, &mut buf).unwrap();
        assert_eq!(
            (got.len as usize, got.seq, got.writer),
            (payload.len(), i, w)
        );
        assert_eq!(&buf[..payload.len()], &payload[..]);
    }
    assert_eq!(r.read(rd, &mut buf), Err(RingError::Empty));
}

#[test]
fn full_by_frames_and_by_bytes_and_space_returns_after_reads() {
    let g = geo(32, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    for _ in 0..4 {
        r.write(w, &[1]).unwrap();
    }
    assert_eq!(r.write(w, &[1]), Err(RingError::Full), "frame ring full");
    let mut buf = [0u8; 32];
    for _ in 0..4 {
        r.read(rd, &mut buf).unwrap();
    }
    r.write(w, &[0; 20]).unwrap();
    assert_eq!(r.write(w, &[0; 20]), Err(RingError::Full), "data ring full");
    assert_eq!(r.write(w, &[0; 33]), Err(RingError::TooLarge(33)));
}

#[test]
fn small_frames_lie_in_their_slots_and_take_no_data_ring_bytes() {
    let g = geo(32, 8, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    // Eight frames of INLINE bytes: four times the data ring, all in slots.
    let frames: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; INLINE]).collect();
    for f in &frames {
        r.write(w, f).unwrap();
    }
    let s = r.stats();
    assert_eq!((s.bytes_in_flight, s.data_in_flight), (8 * INLINE as u32, 0));
    let mut buf = [0u8; 32];
    for f in &frames {
        let got = r.read(rd, &mut buf).unwrap();
        assert_eq!(&buf[..got.len as usize], &f[..]);
    }
    // One byte more goes to the data ring, which holds one such frame.
    let big = vec![7u8; INLINE + 1];
    if INLINE > 0 {
        r.write(w, &big).unwrap();
        let s = r.stats();
        assert_eq!((s.bytes_in_flight, s.data_in_flight), (big.len() as u32, big.len() as u32));
        assert_eq!(r.write(w, &big), Err(RingError::Full), "data ring full");
        r.write(w, &[1; INLINE]).expect("an inline frame still fits");
        assert_eq!(r.read(rd, &mut buf).unwrap().len, big.len() as u32);
        assert_eq!(&buf[..big.len()], &big[..]);
    }
}

#[test]
fn slowest_reader_bounds_writers_and_each_reader_sees_every_frame() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let (a, b) = (r.attach_reader().unwrap(), r.attach_reader().unwrap());
    let mut buf = [0u8; 8];
    for i in 0..4u8 {
        r.write(w, &[i]).unwrap();
    }
    for _ in 0..4 {
        r.read(a, &mut buf).unwrap();
    }
    assert_eq!(
        r.write(w, &[9]),
        Err(RingError::Full),
        "reader b has not moved"
    );
    assert_eq!(r.read(b, &mut buf).unwrap().seq, 0);
    r.write(w, &[9]).unwrap();
    assert_eq!(r.readers().map(|s| s.lag).collect::<Vec<_>>(), vec![1, 4]);
}

#[test]
fn small_buffer_leaves_the_frame_queued() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    r.write(w, b"hello").unwrap();
    assert_eq!(r.read(rd, &mut [0u8; 2]), Err(RingError::TooLarge(5)));
    let mut buf = [0u8; 5];
    assert_eq!(r.read(rd, &mut buf).unwrap().len, 5);
    assert_eq!(&buf, b"hello");
}

#[test]
fn scribbled_header_and_frames_are_reported_not_trusted() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let base = m.0.as_mut_ptr().cast::<u8>();
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    r.write(w, b"abc").unwrap();
    // Scribble the frame's length to something impossible.
    let frame_len = g.frames_off() + 12;
    // SAFETY: inside the region.
    unsafe { base.add(frame_len).cast::<u32>().write(0xFFFF_FFF0) };
    assert_eq!(
        r.read(rd, &mut [0u8; 64]),
        Err(RingError::Corrupt(Corruption::Frame))
    );
    // Scribble the magic.
    // SAFETY: inside the region.
    unsafe { base.cast::<u32>().write(0xDEAD_BEEF) };
    assert_eq!(
        r.write(w, b"x"),
        Err(RingError::Corrupt(Corruption::Header))
    );
    assert_eq!(
        r.read(rd, &mut [0u8; 64]),
        Err(RingError::Corrupt(Corruption::Header))
    );
}

#[test]
fn waiter_bits_ring_the_doorbell_once() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    assert!(!r.write(w, b"a").unwrap().wake_readers);
    r.set_waiting(WAIT_READERS);
    assert!(r.write(w, b"b").unwrap().wake_readers);
    assert!(
        !r.write(w, b"c").unwrap().wake_readers,
        "bit cleared by the first wake"
    );
    assert_eq!(r.stats().doorbell, 1);
    r.set_waiting(WAIT_WRITERS);
    assert!(r.read(rd, &mut [0u8; 8]).unwrap().wake_writers);
}

#[test]
fn threads_many_writers_one_reader_lose_nothing_and_keep_per_writer_order() {
    // Miri interprets every access and checks each for races: fewer frames.
    const PER: u32 = if cfg!(miri) { 300 } else { 20_000 };
    let g = geo(4096, 256, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let rd = r.attach_reader().unwrap();
    let r = &r;
    let finished = &std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            let id = r.attach_writer().unwrap();
            s.spawn(move || {
                for i in 0..PER {
                    loop {
                        match r.write(id, &i.to_le_bytes()) {
                            Ok(_) => break,
                            // Busy: the lock's holder was descheduled for the whole bounded spin.
                            Err(RingError::Full | RingError::Busy) => std::thread::yield_now(),
                            Err(e) => {
                                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                panic!("{e:?}")
                            }
                        }
                    }
                }
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut next = [0u32; 4];
        let mut got = 0;
        let mut buf = [0u8; 8];
        while got < 3 * PER {
            match r.read(rd, &mut buf) {
                Ok(f) => {
                    let v = u32::from_le_bytes(buf[..4].try_into().unwrap());
                    assert_eq!(
                        v, next[f.writer as usize],
                        "writer {} out of order",
                        f.writer
                    );
                    next[f.writer as usize] += 1;
                    got += 1;
                }
                Err(RingError::Empty) => {
                    // Every writer gone and still empty: frames were lost (or a writer failed).
                    let all_done = finished.load(std::sync::atomic::Ordering::SeqCst) == 3;
                    if all_done && r.read(rd, &mut [0u8; 0]) == Err(RingError::Empty) {
                        panic!(
                            "writers finished but only {got} of {} frames arrived",
                            3 * PER
                        );
                    }
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(r.writers().map(|w| w.frames).sum::<u32>(), 3 * PER);
}

#[test]
fn drain_stops_at_a_reserved_but_unpublished_frame() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    r.write(w, b"zero").unwrap();
    // Frame 1 is reserved (the head moved) but its writer is still copying.
    let late = r.reserve(w, 4).unwrap();
    assert_eq!(
        r.drain(rd).map(|d| d.frames),
        Ok(1),
        "only the published frame is skipped"
    );
    assert_eq!(
        r.drain(rd).map(|d| d.frames),
        Ok(0),
        "nothing is published past the cursor"
    );
    // Writers fill the ring as far as the drained reader allows: never
    // over the late frame's bytes or slot.
    let mut written = Vec::new();
    for i in 0..16u8 {
        let payload = [i; 12];
        match r.write(w, &payload) {
            Ok(f) => written.push((f.seq, payload)),
            Err(RingError::Full) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(!written.is_empty());
    // The late writer now finishes.
    r.publish(late, b"one!");
    let mut buf = [0u8; 64];
    let got = r.read(rd, &mut buf).unwrap();
    assert_eq!(
        (got.seq, &buf[..got.len as usize]),
        (late.seq, &b"one!"[..])
    );
    for (seq, payload) in &written {
        let got = r
            .read(rd, &mut buf)
            .unwrap_or_else(|e| panic!("frame {seq}: {e:?}"));
        assert_eq!((got.seq, &buf[..got.len as usize]), (*seq, &payload[..]));
    }
    assert_eq!(r.read(rd, &mut buf), Err(RingError::Empty));
}

#[test]
fn a_new_reader_starts_at_the_slowest_live_cursor_not_a_stale_tail() {
    // Bug 2: the old ring started a reader at the tail writers last cached,
    // and it re-read frames others had consumed.
    let g = geo(256, 16, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let (a, b) = (r.attach_reader().unwrap(), r.attach_reader().unwrap());
    let mut buf = [0u8; 8];
    for i in 0..6u8 {
        r.write(w, &[i]).unwrap();
    }
    for _ in 0..6 {
        r.read(a, &mut buf).unwrap();
    }
    for _ in 0..4 {
        r.read(b, &mut buf).unwrap();
    }
    let c = r.attach_reader().unwrap();
    assert_eq!(
        r.read(c, &mut buf).unwrap().seq,
        4,
        "starts where the slowest live reader is"
    );
    r.detach_reader(c);
    r.detach_reader(b);
    r.detach_reader(a);
    // With nobody left, the last reader's cursor rests: a that read all six.
    let d = r.attach_reader().unwrap();
    assert_eq!(
        r.read(d, &mut buf),
        Err(RingError::Empty),
        "no frame replayed"
    );
    r.write(w, &[7]).unwrap();
    assert_eq!(r.read(d, &mut buf).unwrap().seq, 6);
}

#[test]
fn the_last_reader_to_leave_keeps_unread_frames_for_the_next() {
    let g = geo(256, 16, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let a = r.attach_reader().unwrap();
    for i in 0..5u8 {
        r.write(w, &[i]).unwrap();
    }
    let mut buf = [0u8; 8];
    r.read(a, &mut buf).unwrap();
    r.read(a, &mut buf).unwrap();
    r.detach_reader(a);
    let b = r.attach_reader().unwrap();
    assert_eq!(r.read(b, &mut buf).unwrap().seq, 2);
}

#[test]
fn a_stopped_writers_reservation_becomes_a_tombstone_readers_skip() {
    // Bug 3: a writer stopped between reserve and publish left a frame that
    // stopped every reader for good, and writers filled the ring and parked.
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let (dead, live) = (r.attach_writer().unwrap(), r.attach_writer().unwrap());
    let rd = r.attach_reader().unwrap();
    r.write(live, b"a").unwrap();
    let _never = r.reserve(dead, 8).unwrap();
    r.write(live, b"b").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(r.read(rd, &mut buf).unwrap().seq, 0);
    assert_eq!(
        r.read(rd, &mut buf),
        Err(RingError::Empty),
        "readers stop at the reservation"
    );
    r.write(live, b"c").unwrap();
    r.write(live, b"d").unwrap();
    assert_eq!(
        r.write(live, b"e"),
        Err(RingError::Full),
        "frames 1..=4 fill the ring"
    );
    assert_eq!(r.repair_writer(dead), 1);
    let got = r.read(rd, &mut buf).unwrap();
    assert_eq!(
        (got.seq, &buf[..1]),
        (2, &b"b"[..]),
        "the tombstone is skipped"
    );
    assert_eq!(r.read(rd, &mut buf).unwrap().seq, 3);
    r.write(live, b"e").unwrap();
    assert_eq!(r.repair_writer(dead), 0, "repair is idempotent");
}

#[test]
fn skipping_only_tombstones_asks_to_wake_writers() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let (dead, live) = (r.attach_writer().unwrap(), r.attach_writer().unwrap());
    let rd = r.attach_reader().unwrap();
    let _ = r.reserve(dead, 4).unwrap();
    r.repair_writer(dead);
    r.set_waiting(WAIT_WRITERS);
    assert_eq!(
        r.read(rd, &mut [0u8; 8]),
        Err(RingError::Skipped { wake_writers: true })
    );
    assert_eq!(r.read(rd, &mut [0u8; 8]), Err(RingError::Empty));
    r.write(live, b"x").unwrap();
}

#[test]
fn a_lock_abandoned_by_a_stopped_writer_is_released_by_repair() {
    // Bug 4: a writer stopped (a reload's safe point, a kill) inside the
    // locked section left every other writer Busy forever.
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let r = m.ring(g);
    let (dead, live) = (r.attach_writer().unwrap(), r.attach_writer().unwrap());
    r.lock(writer_tag(dead)).unwrap();
    assert_eq!(r.write(live, b"x"), Err(RingError::Busy));
    assert_eq!(r.stats().lock, Some(Holder::Writer(dead)));
    r.repair_writer(live);
    assert_eq!(
        r.write(live, b"x"),
        Err(RingError::Busy),
        "only the holder's repair releases it"
    );
    r.repair_writer(dead);
    assert_eq!(r.stats().lock, None);
    r.write(live, b"x").unwrap();
}

#[test]
fn a_scribbled_cursor_is_corrupt_not_a_reason_to_overwrite() {
    let g = geo(64, 4, 0);
    let mut m = Mem::new(g);
    let base = m.0.as_mut_ptr().cast::<u8>();
    let r = m.ring(g);
    let w = r.attach_writer().unwrap();
    let rd = r.attach_reader().unwrap();
    r.write(w, b"a").unwrap();
    // SAFETY: reader 0's cursor word, inside the region.
    unsafe {
        base.add(g.readers_off() + 4)
            .cast::<u32>()
            .write(0x8000_0000)
    };
    assert_eq!(
        r.validate_cursor(rd),
        Err(RingError::Corrupt(Corruption::Cursor))
    );
    for _ in 0..3 {
        r.write(w, b"b").unwrap();
    }
    assert_eq!(
        r.write(w, b"c"),
        Err(RingError::Corrupt(Corruption::Cursor))
    );
}
