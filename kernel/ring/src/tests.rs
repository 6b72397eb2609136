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
        let payload: Vec<u8> = (0..(i % 23) as u8).map(|b| b.wrapping_add(i as u8)).collect();
        r.write(w, &payload).unwrap();
        let got = r.read(rd, &mut buf).unwrap();
        assert_eq!((got.len as usize, got.seq, got.writer), (payload.len(), i, w));
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
    assert_eq!(r.write(w, &[9]), Err(RingError::Full), "reader b has not moved");
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
    assert_eq!(r.read(rd, &mut [0u8; 64]), Err(RingError::Corrupt(Corruption::Frame)));
    // Scribble the magic.
    // SAFETY: inside the region.
    unsafe { base.cast::<u32>().write(0xDEAD_BEEF) };
    assert_eq!(r.write(w, b"x"), Err(RingError::Corrupt(Corruption::Header)));
    assert_eq!(r.read(rd, &mut [0u8; 64]), Err(RingError::Corrupt(Corruption::Header)));
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
    assert!(!r.write(w, b"c").unwrap().wake_readers, "bit cleared by the first wake");
    assert_eq!(r.stats().doorbell, 1);
    r.set_waiting(WAIT_WRITERS);
    assert!(r.read(rd, &mut [0u8; 8]).unwrap().wake_writers);
}

#[test]
fn threads_many_writers_one_reader_lose_nothing_and_keep_per_writer_order() {
    const PER: u32 = 20_000;
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
                    assert_eq!(v, next[f.writer as usize], "writer {} out of order", f.writer);
                    next[f.writer as usize] += 1;
                    got += 1;
                }
                Err(RingError::Empty) => {
                    // Every writer gone and still empty: frames were lost (or a writer failed).
                    let all_done = finished.load(std::sync::atomic::Ordering::SeqCst) == 3;
                    if all_done && r.read(rd, &mut [0u8; 0]) == Err(RingError::Empty) {
                        panic!("writers finished but only {got} of {} frames arrived", 3 * PER);
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
    // Frame 1 as a writer leaves it between reservation (head moved) and
    // publication (payload, metadata, stamp): the slot's stamp is not `seq + 1`.
    let late = r.write(w, b"one!").unwrap().seq;
    r.frame(late, 0).store(0, Ordering::Relaxed);
    assert_eq!(r.drain(rd), Ok(1), "only the published frame is skipped");
    // Nothing is published past the cursor: draining again skips nothing.
    assert_eq!(r.drain(rd), Ok(0));
    // Writers fill the ring (wrapping frame slots and data bytes) as far as
    // the drained reader allows.
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
    // The late writer now finishes: its stores land where frame 1 was reserved.
    r.copy_in(4, b"one!");
    r.frame(late, 1).store(w, Ordering::Relaxed);
    r.frame(late, 2).store(4, Ordering::Relaxed);
    r.frame(late, 3).store(4, Ordering::Relaxed);
    r.frame(late, 0).store(late + 1, Ordering::SeqCst);
    // Every frame comes back intact and in order, the late one first.
    let mut buf = [0u8; 64];
    let got = r.read(rd, &mut buf).unwrap();
    assert_eq!((got.seq, &buf[..got.len as usize]), (late, &b"one!"[..]));
    for (seq, payload) in &written {
        let got = r.read(rd, &mut buf).unwrap_or_else(|e| panic!("frame {seq}: {e:?}"));
        assert_eq!((got.seq, &buf[..got.len as usize]), (*seq, &payload[..]));
    }
    assert_eq!(r.read(rd, &mut buf), Err(RingError::Empty));
}

