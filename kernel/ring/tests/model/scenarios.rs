// The model checkers' scenarios, written once: `tests/loom.rs` and
// `tests/shuttle.rs` include this file with `sys` naming the checker, and
// `Byte` and `LOCK_SPINS` saying what a payload byte is and how long the
// lock spins there. Each endpoint runs the SDK's protocol (announce,
// retry, park until the doorbell moves) and the kernel's half of parking
// is a wait list under a lock, so a lost wake-up is a deadlock the checker
// reports.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::vec::Vec;

use std::sync::atomic::Ordering;

use sys::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use sys::sync::{Arc, Condvar, Mutex};
use tidemark_ring::{Geometry, INLINE, Memory, Ring, RingError, WAIT_READERS, WAIT_WRITERS};

/// A ring's memory under the checker: its words, and one [`Byte`] per
/// payload byte (each test file says what a byte is) from the frame slots
/// on (inline payloads, then the data ring), at that offset.
#[derive(Clone)]
struct Shared(Arc<(Vec<AtomicU32>, Vec<Byte>, usize)>);

impl Shared {
    fn new(geo: Geometry) -> Shared {
        let first = geo.frames_offset();
        let words = (geo.region_size() - geo.data_cap as usize) / 4;
        let bytes = (first..geo.region_size()).map(|_| Byte::new()).collect();
        Shared(Arc::new(((0..words).map(|_| AtomicU32::new(0)).collect(), bytes, first)))
    }
}

impl Memory for Shared {
    const LOCK_SPINS: u32 = LOCK_SPINS;
    fn load(&self, off: usize, o: Ordering) -> u32 {
        self.0.0[off / 4].load(o)
    }
    fn store(&self, off: usize, v: u32, o: Ordering) {
        self.0.0[off / 4].store(v, o)
    }
    fn compare_exchange(&self, off: usize, c: u32, n: u32, s: Ordering, f: Ordering) -> Result<u32, u32> {
        self.0.0[off / 4].compare_exchange(c, n, s, f)
    }
    fn fetch_add(&self, off: usize, v: u32, o: Ordering) -> u32 {
        self.0.0[off / 4].fetch_add(v, o)
    }
    fn fetch_or(&self, off: usize, v: u32, o: Ordering) -> u32 {
        self.0.0[off / 4].fetch_or(v, o)
    }
    fn fetch_and(&self, off: usize, v: u32, o: Ordering) -> u32 {
        self.0.0[off / 4].fetch_and(v, o)
    }
    fn fence(&self, o: Ordering) {
        sys::sync::atomic::fence(o)
    }
    fn spin(&self) {
        sys::thread::yield_now()
    }
    fn write_data(&self, at: usize, src: &[u8]) {
        for (i, b) in src.iter().enumerate() {
            self.0.1[at - self.0.2 + i].set(*b);
        }
    }
    fn read_data(&self, at: usize, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            *b = self.0.1[at - self.0.2 + i].get();
        }
    }
}

const READERS: usize = 0;
const WRITERS: usize = 1;

/// The kernel's side of parking: who sleeps on which side of the ring.
struct Kernel {
    lists: Mutex<[Vec<u32>; 2]>,
    cond: Condvar,
    /// The kernel's own view of the ring (a process dies in its own code,
    /// never inside a hostcall).
    ring: Ring<'static, Shared>,
}

impl Kernel {
    fn new(mem: &Shared, geo: Geometry) -> Arc<Kernel> {
        Arc::new(Kernel { lists: Mutex::new([Vec::new(), Vec::new()]), cond: Condvar::new(), ring: Ring::over(mem.clone(), geo) })
    }

    /// `chan_wait`: returns at once if the doorbell moved past `seen`, else
    /// sleeps until a notify takes `me` off the list.
    fn wait<M: Memory>(&self, _ring: &Ring<'_, M>, side: usize, seen: u32, me: u32) {
        let mut lists = self.lists.lock().unwrap();
        if self.ring.doorbell() != seen {
            return;
        }
        lists[side].push(me);
        while lists[side].contains(&me) {
            lists = self.cond.wait(lists).unwrap();
        }
    }

    /// `chan_notify`.
    fn notify(&self, side: usize) {
        self.lists.lock().unwrap()[side].clear();
        self.cond.notify_all();
    }

    /// What the kernel does after progress the ring cannot see.
    fn wake_all<M: Memory>(&self, ring: &Ring<'_, M>) {
        ring.ring_bell();
        self.notify(READERS);
        self.notify(WRITERS);
    }
}

/// Writes one frame as the SDK does. `false`: dropped (Drop backpressure).
fn write_frame<M: Memory>(ring: &Ring<'_, M>, k: &Kernel, id: u32, me: u32, payload: &[u8]) -> bool {
    let park = ring.geometry().backpressure == 0;
    loop {
        let r = match ring.write(id, payload) {
            Err(RingError::Full) if park => {
                let seen = ring.doorbell();
                ring.set_waiting(WAIT_WRITERS);
                match ring.write(id, payload) {
                    Err(RingError::Full) => {
                        k.wait(ring, WRITERS, seen, me);
                        continue;
                    }
                    r => r,
                }
            }
            r => r,
        };
        match r {
            Ok(w) => {
                if w.wake_readers {
                    k.notify(READERS);
                }
                return true;
            }
            Err(RingError::Full) => {
                ring.count_drop();
                return false;
            }
            Err(RingError::Busy) => sys::thread::yield_now(),
            Err(e) => panic!("writer {id}: {e:?}"),
        }
    }
}

/// Reads one frame as the SDK does; `None` once `done` holds and the ring
/// is empty for this reader.
fn read_frame<M: Memory>(ring: &Ring<'_, M>, k: &Kernel, slot: u32, me: u32, done: &AtomicBool) -> Option<(u32, u32)> {
    let mut buf = [0u8; 64];
    let empty = |r: &Result<tidemark_ring::Read, RingError>| match r {
        Err(RingError::Skipped { wake_writers }) => {
            if *wake_writers {
                k.notify(WRITERS);
            }
            true
        }
        Err(RingError::Empty) => true,
        _ => false,
    };
    loop {
        let mut r = ring.read(slot, &mut buf);
        if empty(&r) {
            let seen = ring.doorbell();
            ring.set_waiting(WAIT_READERS);
            r = ring.read(slot, &mut buf);
            if empty(&r) {
                if done.load(SeqCst) {
                    // One last look: frames published before `done` was set.
                    r = ring.read(slot, &mut buf);
                    if empty(&r) {
                        return None;
                    }
                } else {
                    k.wait(ring, READERS, seen, me);
                    continue;
                }
            }
        }
        let f = r.unwrap_or_else(|e| panic!("reader {slot}: {e:?}"));
        if f.wake_writers {
            k.notify(WRITERS);
        }
        return Some((f.writer, u32::from_le_bytes(buf[..4].try_into().unwrap())));
    }
}

/// A reader thread that reads until `done` and the ring is empty for it.
fn spawn_reader(mem: &Shared, geo: Geometry, k: &Arc<Kernel>, done: &Arc<AtomicBool>, slot: u32, me: u32) -> sys::thread::JoinHandle<Vec<(u32, u32)>> {
    let (mem, k, done) = (mem.clone(), k.clone(), done.clone());
    sys::thread::spawn(move || {
        let ring = Ring::over(mem, geo);
        let mut got = Vec::new();
        while let Some(f) = read_frame(&ring, &k, slot, me, &done) {
            got.push(f);
        }
        got
    })
}

/// Frame `n` of `writer`: its number and writer in 4 bytes; odd frames are
/// padded past [`INLINE`], so frames alternate between their slots and the
/// data ring and both are checked.
fn payload(writer: u32, n: u32) -> Vec<u8> {
    let mut p = (writer << 16 | n).to_le_bytes().to_vec();
    if n % 2 == 1 {
        p.resize(INLINE + 4, 0xA5);
    }
    p
}

/// Data ring bytes for a ring of `frames` slots: every frame fits, padded
/// or not (the pressure on the ring is on its slots).
fn data_for(frames: u32) -> u32 {
    frames * (INLINE as u32 + 4)
}

/// Every reader saw every writer's frames exactly once, in order.
fn check_delivery(got: &[Vec<(u32, u32)>], per_writer: &[u32]) {
    for (r, frames) in got.iter().enumerate() {
        let mut next = vec![0u32; per_writer.len()];
        for (writer, value) in frames {
            let w = *writer as usize;
            assert_eq!(value >> 16, *writer, "reader {r}: frame attributed to the wrong writer");
            assert_eq!(value & 0xFFFF, next[w], "reader {r}: writer {w}'s frames out of order, lost or repeated");
            next[w] += 1;
        }
        assert_eq!(next, per_writer, "reader {r}: frames missing");
    }
}

/// `writers` writers each write `frames` frames into a ring of `frame_cap`
/// slots (small, so writers park), `readers` readers read all of them.
fn flow(writers: u32, readers: u32, frames: u32, frame_cap: u32) {
    let geo = Geometry::new(data_for(frame_cap), frame_cap, readers, writers, 0).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let done = Arc::new(AtomicBool::new(false));
    let slots: Vec<u32> = (0..readers).map(|_| ring.attach_reader().unwrap()).collect();
    let ids: Vec<u32> = (0..writers).map(|_| ring.attach_writer().unwrap()).collect();
    let readers: Vec<_> = slots.into_iter().map(|slot| spawn_reader(&mem, geo, &k, &done, slot, slot)).collect();
    let writers: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let (mem, k) = (mem.clone(), k.clone());
            sys::thread::spawn(move || {
                let ring = Ring::over(mem, geo);
                for n in 0..frames {
                    assert!(write_frame(&ring, &k, id, 100 + id, &payload(id, n)));
                }
            })
        })
        .collect();
    let n = writers.len();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, SeqCst);
    k.wake_all(&ring);
    let got: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    check_delivery(&got, &vec![frames; n]);
}

/// One writer under `Drop` backpressure: every frame is delivered once or
/// counted dropped, never both, never neither.
fn drop_counts_exactly(frames: u32) {
    let geo = Geometry::new(data_for(2), 2, 1, 1, 1).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let done = Arc::new(AtomicBool::new(false));
    let slot = ring.attach_reader().unwrap();
    let id = ring.attach_writer().unwrap();
    let reader = spawn_reader(&mem, geo, &k, &done, slot, 0);
    let sent: Vec<u32> = (0..frames).filter(|n| write_frame(&ring, &k, id, 1, &payload(id, *n))).collect();
    done.store(true, SeqCst);
    k.wake_all(&ring);
    let got: Vec<u32> = reader.join().unwrap().into_iter().map(|f| f.1).collect();
    assert_eq!(got, sent, "delivered frames are exactly the ones not dropped");
    assert_eq!(ring.stats().drops, frames - sent.len() as u32);
}

/// A reader that reads and drains while a writer parks on a full ring:
/// the writer finishes, and every frame is read or drained exactly once.
fn drain_wakes_the_writer(frames: u32) {
    let geo = Geometry::new(data_for(2), 2, 1, 1, 0).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let slot = ring.attach_reader().unwrap();
    let id = ring.attach_writer().unwrap();
    let writer = {
        let (mem, k) = (mem.clone(), k.clone());
        sys::thread::spawn(move || {
            let ring = Ring::over(mem, geo);
            for n in 0..frames {
                write_frame(&ring, &k, id, 1, &payload(id, n));
            }
        })
    };
    let (mut seen, mut last) = (0u32, None::<u32>);
    let done = AtomicBool::new(false);
    while seen < frames {
        if seen % 2 == 0 {
            let d = ring.drain(slot).unwrap();
            if d.wake_writers {
                k.notify(WRITERS);
            }
            seen += d.frames;
            if d.frames > 0 {
                last = None;
            }
            if d.frames == 0 {
                // Nothing to drain: read (parking) instead.
                let (_, v) = read_frame(&ring, &k, slot, 0, &done).unwrap();
                assert!(last.is_none_or(|l| v > l));
                last = Some(v);
                seen += 1;
            }
        } else {
            let (_, v) = read_frame(&ring, &k, slot, 0, &done).unwrap();
            assert!(last.is_none_or(|l| v > l), "a frame came back after a later one");
            last = Some(v);
            seen += 1;
        }
    }
    writer.join().unwrap();
    assert_eq!(seen, frames);
    assert_eq!(ring.read(slot, &mut [0u8; 8]), Err(RingError::Empty));
}

/// Thrown by a [`Killable`] memory whose owner's budget ran out.
struct Killed;

/// Memory as one endpoint sees it, that stops its owner (unwinds out of
/// the ring) after `budget` operations: a process killed at that step.
#[derive(Clone)]
struct Killable<M> {
    inner: M,
    left: Arc<AtomicU32>,
}

impl<M: Memory> Killable<M> {
    fn step(&self) {
        if self.left.fetch_sub(1, SeqCst) == 0 {
            self.left.store(0, SeqCst);
            resume_unwind(Box::new(Killed));
        }
    }
}

impl<M: Memory> Memory for Killable<M> {
    const LOCK_SPINS: u32 = M::LOCK_SPINS;
    fn load(&self, off: usize, o: core::sync::atomic::Ordering) -> u32 {
        self.step();
        self.inner.load(off, o)
    }
    fn store(&self, off: usize, v: u32, o: core::sync::atomic::Ordering) {
        self.step();
        self.inner.store(off, v, o)
    }
    fn compare_exchange(&self, off: usize, c: u32, n: u32, s: core::sync::atomic::Ordering, f: core::sync::atomic::Ordering) -> Result<u32, u32> {
        self.step();
        self.inner.compare_exchange(off, c, n, s, f)
    }
    fn fetch_add(&self, off: usize, v: u32, o: core::sync::atomic::Ordering) -> u32 {
        self.step();
        self.inner.fetch_add(off, v, o)
    }
    fn fetch_or(&self, off: usize, v: u32, o: core::sync::atomic::Ordering) -> u32 {
        self.step();
        self.inner.fetch_or(off, v, o)
    }
    fn fetch_and(&self, off: usize, v: u32, o: core::sync::atomic::Ordering) -> u32 {
        self.step();
        self.inner.fetch_and(off, v, o)
    }
    fn fence(&self, o: core::sync::atomic::Ordering) {
        self.step();
        self.inner.fence(o)
    }
    fn spin(&self) {
        self.inner.spin()
    }
    fn write_data(&self, at: usize, src: &[u8]) {
        self.step();
        self.inner.write_data(at, src)
    }
    fn read_data(&self, at: usize, dst: &mut [u8]) {
        self.step();
        self.inner.read_data(at, dst)
    }
}

/// Memory operations one uncontended write performs (the kill sweep's range).
fn steps_of_a_write() -> u32 {
    let geo = Geometry::new(data_for(2), 2, 1, 2, 0).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let id = ring.attach_writer().unwrap();
    let left = Arc::new(AtomicU32::new(u32::MAX));
    let counted = Ring::over(Killable { inner: mem, left: left.clone() }, geo);
    counted.write(id, &payload(id, 0)).unwrap();
    u32::MAX - left.load(SeqCst)
}

/// Writer 0 is killed after `step` memory operations of its second frame,
/// next to a live writer and a reader; the kernel then repairs (as it does
/// when the process ends). The survivors finish: every frame of the live
/// writer arrives once, in order, and the killed writer's frames arrive at
/// most once each, and surely if its write returned.
fn writer_killed_at(step: u32) {
    let geo = Geometry::new(data_for(2), 2, 1, 2, 0).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let done = Arc::new(AtomicBool::new(false));
    let slot = ring.attach_reader().unwrap();
    let (victim, live) = (ring.attach_writer().unwrap(), ring.attach_writer().unwrap());
    let reader = spawn_reader(&mem, geo, &k, &done, slot, 0);
    let killed = {
        let (mem, k) = (mem.clone(), k.clone());
        sys::thread::spawn(move || {
            let ring = Ring::over(mem.clone(), geo);
            let mut sent = 0;
            if write_frame(&ring, &k, victim, 10, &payload(victim, 0)) {
                sent += 1;
            }
            let left = Arc::new(AtomicU32::new(step));
            let dying = Ring::over(Killable { inner: mem, left }, geo);
            match catch_unwind(AssertUnwindSafe(|| write_frame(&dying, &k, victim, 10, &payload(victim, 1)))) {
                Ok(_) => sent + 1,
                Err(e) if e.is::<Killed>() => sent,
                Err(e) => resume_unwind(e),
            }
        })
    };
    let writer = {
        let (mem, k) = (mem.clone(), k.clone());
        sys::thread::spawn(move || {
            let ring = Ring::over(mem, geo);
            write_frame(&ring, &k, live, 11, &payload(live, 0));
        })
    };
    // The process ended: the kernel detaches (repairing) and wakes both sides.
    let sent = killed.join().unwrap();
    ring.detach_writer(victim);
    k.wake_all(&ring);
    writer.join().unwrap();
    done.store(true, SeqCst);
    k.wake_all(&ring);
    let got = reader.join().unwrap();
    let from = |w: u32| got.iter().filter(|f| f.0 == w).map(|f| f.1 & 0xFFFF).collect::<Vec<_>>();
    assert_eq!(from(live), [0], "the live writer's frame, once");
    let victims = from(victim);
    assert!(victims.len() as u32 >= sent && victims.len() <= 2, "killed at {step}: sent {sent}, got {victims:?}");
    assert!(victims.windows(2).all(|w| w[0] < w[1]), "killed at {step}: {victims:?}");
}

/// A reader killed after `step` operations of a read, next to a second
/// reader; the kernel detaches it. The writer is not held back for good and
/// the survivor reads every frame once.
fn reader_killed_at(step: u32) {
    let geo = Geometry::new(data_for(1), 1, 2, 1, 0).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let done = Arc::new(AtomicBool::new(false));
    let (victim, survivor) = (ring.attach_reader().unwrap(), ring.attach_reader().unwrap());
    let id = ring.attach_writer().unwrap();
    let killed = {
        let (mem, k, done) = (mem.clone(), k.clone(), done.clone());
        sys::thread::spawn(move || {
            let left = Arc::new(AtomicU32::new(step));
            let dying = Ring::over(Killable { inner: mem, left }, geo);
            // It reads one frame at most (the writer writes two), so it
            // always stops: killed, or of its own accord.
            let _ = catch_unwind(AssertUnwindSafe(|| read_frame(&dying, &k, victim, 20, &done)));
        })
    };
    let reader = spawn_reader(&mem, geo, &k, &done, survivor, 21);
    let writer = {
        let (mem, k) = (mem.clone(), k.clone());
        sys::thread::spawn(move || {
            let ring = Ring::over(mem, geo);
            for n in 0..2 {
                write_frame(&ring, &k, id, 1, &payload(id, n));
            }
        })
    };
    killed.join().unwrap();
    ring.detach_reader(victim);
    k.wake_all(&ring);
    writer.join().unwrap();
    done.store(true, SeqCst);
    k.wake_all(&ring);
    check_delivery(&[reader.join().unwrap()], &[2]);
}

/// A single ring (one writer, one reader: no writer lock). The reader
/// detaches after its first frame and attaches again while the writer goes
/// on, parking on the full ring meanwhile: frames wait at the resting
/// cursor, so every frame is read once, in order, and the writer's
/// unlocked reservations never overwrite a frame the new attachment starts
/// at.
fn single_reader_reattaches(frames: u32) {
    let geo = Geometry::new(data_for(2), 2, 1, 1, 0).unwrap();
    assert!(geo.single());
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let id = ring.attach_writer().unwrap();
    let mut slot = ring.attach_reader().unwrap();
    let writer = {
        let (mem, k) = (mem.clone(), k.clone());
        sys::thread::spawn(move || {
            let ring = Ring::over(mem, geo);
            for n in 0..frames {
                assert!(write_frame(&ring, &k, id, 1, &payload(id, n)));
            }
        })
    };
    let done = AtomicBool::new(false);
    let mut got = Vec::new();
    while got.len() < frames as usize {
        let f = read_frame(&ring, &k, slot, 0, &done).expect("frames are still coming");
        got.push(f.1 & 0xFFFF);
        if got.len() == 1 {
            // The process's last reader went away (the kernel detaches and
            // wakes both sides), then a new one attached.
            ring.detach_reader(slot);
            k.wake_all(&ring);
            slot = ring.attach_reader().unwrap();
        }
    }
    writer.join().unwrap();
    assert_eq!(got, (0..frames).collect::<Vec<_>>());
}

/// The only writer of a single ring is killed after `step` memory
/// operations of its second frame; the kernel repairs. The reader reads the
/// first frame, the second at most once (surely if its write returned), and
/// a new writer's frame after them.
fn single_writer_killed_at(step: u32) {
    let geo = Geometry::new(data_for(2), 2, 1, 1, 0).unwrap();
    let mem = Shared::new(geo);
    let ring = Ring::init_over(mem.clone(), geo);
    let k = Kernel::new(&mem, geo);
    let done = Arc::new(AtomicBool::new(false));
    let slot = ring.attach_reader().unwrap();
    let victim = ring.attach_writer().unwrap();
    let reader = spawn_reader(&mem, geo, &k, &done, slot, 0);
    let killed = {
        let (mem, k) = (mem.clone(), k.clone());
        sys::thread::spawn(move || {
            let ring = Ring::over(mem.clone(), geo);
            assert!(write_frame(&ring, &k, victim, 10, &payload(victim, 0)));
            let left = Arc::new(AtomicU32::new(step));
            let dying = Ring::over(Killable { inner: mem, left }, geo);
            match catch_unwind(AssertUnwindSafe(|| write_frame(&dying, &k, victim, 10, &payload(victim, 1)))) {
                Ok(_) => 2,
                Err(e) if e.is::<Killed>() => 1,
                Err(e) => resume_unwind(e),
            }
        })
    };
    let sent = killed.join().unwrap();
    ring.detach_writer(victim);
    k.wake_all(&ring);
    // Its successor gets the slot back and is read after it.
    let next = ring.attach_writer().unwrap();
    assert!(write_frame(&ring, &k, next, 11, &payload(next, 7)));
    done.store(true, SeqCst);
    k.wake_all(&ring);
    let got: Vec<u32> = reader.join().unwrap().into_iter().map(|f| f.1 & 0xFFFF).collect();
    let (last, before) = got.split_last().expect("frames arrived");
    assert_eq!(*last, 7, "killed at {step}: the successor's frame comes last: {got:?}");
    assert!(before.len() as u32 >= sent && before.len() <= 2, "killed at {step}: sent {sent}, got {got:?}");
    assert!(before.iter().enumerate().all(|(i, v)| *v == i as u32), "killed at {step}: {got:?}");
}

/// What a process waiting on several rings sleeps on (the kernel's parked
/// list and the wake-up `chan_notify` gives it).
struct Sleeper {
    lock: Mutex<()>,
    cond: Condvar,
}

/// A reader waiting on two rings at once as `chan_select` does: look at
/// both (`pending`), announce a waiter on each, look again, and sleep until
/// a doorbell moves; one writer per ring publishes, waking it when its
/// write takes the waiter bit. It never sleeps through a frame, and reads
/// each once, in order per ring.
fn select_over_two_rings(frames: u32) {
    // Room for every frame: the writers never wait, so only the reader can sleep.
    assert!(frames <= 8);
    let geo = Geometry::new(data_for(8), 8, 1, 1, 1).unwrap();
    let mems = [Shared::new(geo), Shared::new(geo)];
    let rings = [Ring::init_over(mems[0].clone(), geo), Ring::init_over(mems[1].clone(), geo)];
    let slots = [rings[0].attach_reader().unwrap(), rings[1].attach_reader().unwrap()];
    let ids = [rings[0].attach_writer().unwrap(), rings[1].attach_writer().unwrap()];
    let sleeper = Arc::new(Sleeper { lock: Mutex::new(()), cond: Condvar::new() });
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let (mem, sleeper, id) = (mems[i].clone(), sleeper.clone(), ids[i]);
            sys::thread::spawn(move || {
                let ring = Ring::over(mem, geo);
                for n in 0..frames {
                    loop {
                        match ring.write(id, &payload(i as u32, n)) {
                            Ok(w) => {
                                if w.wake_readers {
                                    let _held = sleeper.lock.lock().unwrap();
                                    sleeper.cond.notify_all();
                                }
                                break;
                            }
                            Err(RingError::Busy) => sys::thread::yield_now(),
                            Err(e) => panic!("writer {i}: {e:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    let mut got: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut buf = [0u8; 64];
    while got[0].len() + got[1].len() < 2 * frames as usize {
        let ready = |rings: &[Ring<'_, Shared>; 2]| (0..2).any(|i| rings[i].pending(slots[i]).unwrap());
        let seen = [rings[0].doorbell(), rings[1].doorbell()];
        if !ready(&rings) {
            for r in &rings {
                r.set_waiting(WAIT_READERS);
            }
            if !ready(&rings) {
                let mut held = sleeper.lock.lock().unwrap();
                while [rings[0].doorbell(), rings[1].doorbell()] == seen {
                    held = sleeper.cond.wait(held).unwrap();
                }
                continue;
            }
        }
        for i in 0..2 {
            loop {
                match rings[i].read(slots[i], &mut buf) {
                    Ok(_) => got[i].push(u32::from_le_bytes(buf[..4].try_into().unwrap())),
                    Err(RingError::Empty | RingError::Skipped { .. }) => break,
                    Err(e) => panic!("reader: {e:?}"),
                }
            }
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    for (i, g) in got.iter().enumerate() {
        let want: Vec<u32> = (0..frames).map(|n| u32::from_le_bytes(payload(i as u32, n)[..4].try_into().unwrap())).collect();
        assert_eq!(*g, want, "ring {i}: every frame once, in order");
    }
}
