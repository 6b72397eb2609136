//! The ring under loom: every interleaving (to a preemption bound) of the
//! scenarios in `model/scenarios.rs`, with loom's atomics and a loom cell
//! per payload byte, so a payload data race is reported too.

use loom as sys;

/// A payload byte: a loom cell, so a frame overwritten while it is read is
/// a reported data race.
struct Byte(loom::cell::UnsafeCell<u8>);

impl Byte {
    fn new() -> Byte {
        Byte(loom::cell::UnsafeCell::new(0))
    }
    fn get(&self) -> u8 {
        // SAFETY: loom checks that no other thread accesses the cell concurrently.
        self.0.with(|p| unsafe { *p })
    }
    fn set(&self, v: u8) {
        // SAFETY: as in `get`.
        self.0.with_mut(|p| unsafe { *p = v })
    }
}

const LOCK_SPINS: u32 = 2;

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

#[test]
fn a_select_over_two_rings_never_sleeps_through_a_frame() {
    model(|| select_over_two_rings(1));
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
fn a_single_rings_reader_detaches_and_attaches_while_its_writer_writes() {
    model(|| single_reader_reattaches(3));
}

#[test]
fn a_single_rings_writer_killed_at_every_step() {
    for step in kill_points(write_steps()) {
        model(move || single_writer_killed_at(step));
    }
}

#[test]
fn a_reader_killed_at_every_step() {
    // A read of one frame takes fewer steps than a write.
    for step in kill_points(write_steps()) {
        model(move || reader_killed_at(step));
    }
}
