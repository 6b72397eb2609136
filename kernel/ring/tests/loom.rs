//! The ring under loom: every interleaving (to a preemption bound) of the
//! scenarios in `model/scenarios.rs`, with loom's atomics and a loom cell
//! per payload byte, so a payload data race is reported too.

use loom as sys;
use std::sync::atomic::Ordering;

/// A ring's memory under loom: its words, and one checked cell per byte.
#[derive(Clone)]
struct Shared(
    sys::sync::Arc<(
        Vec<sys::sync::atomic::AtomicU32>,
        Vec<loom::cell::UnsafeCell<u8>>,
    )>,
);

impl Shared {
    fn new(geo: tidemark_ring::Geometry) -> Shared {
        let data = geo.data_cap as usize;
        let words = (geo.region_size() - data) / 4;
        Shared(sys::sync::Arc::new((
            (0..words)
                .map(|_| sys::sync::atomic::AtomicU32::new(0))
                .collect(),
            (0..data).map(|_| loom::cell::UnsafeCell::new(0)).collect(),
        )))
    }
}

impl tidemark_ring::Memory for Shared {
    const LOCK_SPINS: u32 = 2;
    fn load(&self, off: usize, o: Ordering) -> u32 {
        self.0.0[off / 4].load(o)
    }
    fn store(&self, off: usize, v: u32, o: Ordering) {
        self.0.0[off / 4].store(v, o)
    }
    fn compare_exchange(
        &self,
        off: usize,
        c: u32,
        n: u32,
        s: Ordering,
        f: Ordering,
    ) -> Result<u32, u32> {
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
            // SAFETY: loom checks that no other thread accesses the cell concurrently.
            self.0.1[at + i].with_mut(|p| unsafe { *p = *b });
        }
    }
    fn read_data(&self, at: usize, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: as in `write_data`.
            *b = self.0.1[at + i].with(|p| unsafe { *p });
        }
    }
}

include!("model/scenarios.rs");

/// Every interleaving with at most one preemption by default (what CI
/// runs, in seconds); `LOOM_MAX_PREEMPTIONS=2` for a deeper run (hours).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = Some(1);
    }
    b.max_branches = 100_000;
    b.check(f);
}

#[test]
fn one_writer_two_readers() {
    model(|| flow(1, 2, 3, 2));
}

#[test]
fn two_writers_one_reader() {
    model(|| flow(2, 1, 2, 2));
}

#[test]
fn one_writer_one_reader_and_drain() {
    model(|| drain_wakes_the_writer(3));
}

#[test]
fn drop_backpressure_counts_exactly() {
    model(|| drop_counts_exactly(3));
}

/// Which kill points a run visits: every `TIDEMARK_LOOM_STRIDE`-th step
/// (5 by default, so the suite stays in its time; 1 visits every step).
fn kill_points(steps: u32) -> impl Iterator<Item = u32> {
    let stride = std::env::var("TIDEMARK_LOOM_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    (0..=steps).step_by(stride)
}

/// The memory operations of one write, counted inside a model (loom's
/// atomics exist only there).
fn write_steps() -> u32 {
    let steps = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let n = steps.clone();
    loom::model(move || n.store(steps_of_a_write(), Ordering::SeqCst));
    let steps = steps.load(Ordering::SeqCst);
    assert!(steps > 10, "a write takes {steps} steps");
    steps
}

#[test]
fn a_writer_killed_at_every_step() {
    for step in kill_points(write_steps()) {
        model(move || writer_killed_at(step));
    }
}

#[test]
fn a_reader_killed_at_every_step() {
    // A read of one frame takes fewer steps than a write.
    for step in kill_points(write_steps()) {
        model(move || reader_killed_at(step));
    }
}
