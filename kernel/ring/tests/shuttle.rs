//! The ring under shuttle: randomised schedules (PCT, which finds bugs of
//! small depth with known probability) for the shapes too large for loom's
//! exhaustive search, as the 4-writer/4-reader benchmark.

use shuttle as sys;
use std::sync::atomic::Ordering;

/// A ring's memory under shuttle: its words, and payload bytes as atomics
/// (shuttle checks schedules, not data races; the payload checks catch a
/// frame overwritten before it was read).
#[derive(Clone)]
struct Shared(
    sys::sync::Arc<(
        Vec<sys::sync::atomic::AtomicU32>,
        Vec<sys::sync::atomic::AtomicU8>,
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
            (0..data)
                .map(|_| sys::sync::atomic::AtomicU8::new(0))
                .collect(),
        )))
    }
}

impl tidemark_ring::Memory for Shared {
    const LOCK_SPINS: u32 = 4;
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
            self.0.1[at + i].store(*b, Ordering::Relaxed);
        }
    }
    fn read_data(&self, at: usize, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            *b = self.0.1[at + i].load(Ordering::Relaxed);
        }
    }
}

include!("model/scenarios.rs");

/// Schedules per test: `TIDEMARK_SHUTTLE_ITERATIONS`, else 2,000.
fn iterations() -> usize {
    std::env::var("TIDEMARK_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn four_writers_four_readers_as_the_benchmark() {
    shuttle::check_pct(|| flow(4, 4, 3, 4), iterations(), 3);
}

#[test]
fn four_writers_four_readers_random_schedules() {
    shuttle::check_random(|| flow(4, 4, 3, 4), iterations());
}

#[test]
fn kill_points_under_random_schedules() {
    let steps = {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let m = n.clone();
        shuttle::check_random(move || m.store(steps_of_a_write(), Ordering::SeqCst), 1);
        n.load(Ordering::SeqCst)
    };
    for step in 0..=steps {
        shuttle::check_random(move || writer_killed_at(step), iterations() / 20);
        shuttle::check_random(move || reader_killed_at(step), iterations() / 20);
    }
}

#[test]
fn drain_and_drop_under_random_schedules() {
    shuttle::check_random(|| drain_wakes_the_writer(6), iterations());
    shuttle::check_random(|| drop_counts_exactly(6), iterations());
}
