//! The ring under shuttle: randomised schedules (PCT, which finds bugs of
//! small depth with known probability) for the shapes too large for loom's
//! exhaustive search, as the 4-writer/4-reader benchmark.

use shuttle as sys;

/// A payload byte: an atomic (shuttle checks schedules, not data races; the
/// payload checks catch a frame overwritten before it was read).
struct Byte(sys::sync::atomic::AtomicU8);

impl Byte {
    fn new() -> Byte {
        Byte(sys::sync::atomic::AtomicU8::new(0))
    }
    fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, v: u8) {
        self.0.store(v, Ordering::Relaxed)
    }
}

const LOCK_SPINS: u32 = 4;

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
        shuttle::check_random(move || single_writer_killed_at(step), iterations() / 20);
    }
}

#[test]
fn drain_and_drop_under_random_schedules() {
    shuttle::check_random(|| drain_wakes_the_writer(6), iterations());
    shuttle::check_random(|| drop_counts_exactly(6), iterations());
}

#[test]
fn a_single_ring_under_random_schedules() {
    shuttle::check_random(|| single_reader_reattaches(6), iterations());
}

#[test]
fn a_select_over_two_rings_under_random_schedules() {
    shuttle::check_random(|| select_over_two_rings(6), iterations());
}
