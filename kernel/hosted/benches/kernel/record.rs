//! The record and replay rows: what recording costs a hostcall, and how
//! fast a recording replays on each engine, against the same hostcall
//! unrecorded.

use std::time::{Duration, Instant};

use tidemark_abi::{Backpressure, Rights};
use tidemark_hosted::Hosted;
use tidemark_hosted::kernel::caps::Object;
use tidemark_hosted::kernel::{Config, KERNEL_PID, SpawnSpec};

use super::{Row, exit_code, median};

/// `nop`'s 2,000,000 `cap_check` calls (and its two clock readings).
const CALLS: f64 = 2_000_000.0;

/// ns per `cap_check` of `nop` spawned with `record`, and its recording.
fn recorded_hostcall(h: &Hosted) -> (f64, tidemark_hosted::kernel::protocol::Recording) {
    let c = h
        .kernel()
        .create_channel("nop-rec", 64, 2, Backpressure::Park, KERNEL_PID)
        .unwrap();
    let mut spec = SpawnSpec::new("nop").grant("c", Object::Channel(c), Rights::ALL);
    spec.record = true;
    let pid = h.spawn(spec).unwrap();
    let ns = exit_code(h.wait(pid, Duration::from_secs(300))) as f64 * 1000.0 / CALLS;
    let rec = h.kernel().recording(pid, "hosted", "wasmtime").unwrap();
    assert!(rec.stopped.is_none(), "the bench's recording hit its limit");
    (ns, rec)
}

fn clock() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The rows; `live` is the unrecorded hostcall's ns, measured by the caller.
pub fn rows(rounds: usize, live: f64) -> Vec<Row> {
    // Room for every call of the recording (about 100 B each).
    let h = Hosted::boot_with(
        Config {
            max_recording: 1 << 30,
            ..Config::default()
        },
        Default::default(),
    );
    for g in tidemark_guest_artifacts::ALL {
        h.install(g.name, g.bytes);
    }
    let mut recorded = Vec::new();
    let mut rec = None;
    for _ in 0..rounds {
        let (ns, r) = recorded_hostcall(&h);
        recorded.push(ns);
        rec = Some(r);
    }
    let rec = rec.expect("one round");
    let replay = |f: fn(&[u8], &_, fn() -> u64) -> Result<(usize, _, u64), String>| {
        median(
            (0..rounds)
                .map(|_| {
                    let (calls, end, ns) = f(&rec.module, &rec, clock).unwrap();
                    assert!(
                        matches!(
                            end,
                            tidemark_hosted::kernel::protocol::ReplayEnd::Matched { .. }
                        ),
                        "{end:?}"
                    );
                    ns as f64 / calls as f64
                })
                .collect(),
        )
    };
    vec![
        Row {
            name: "hostcall, recorded".into(),
            ours: median(recorded),
            base: live,
            unit: "ns",
            baseline: "the same hostcall unrecorded",
            goal: "report",
        },
        Row {
            name: "replay per call, wasmtime".into(),
            ours: replay(tidemark_hosted::replay::replay),
            base: live,
            unit: "ns",
            baseline: "the same hostcall live",
            goal: "report",
        },
        Row {
            name: "replay per call, wasmi".into(),
            ours: replay(tidemark_embedded::replay::replay),
            base: live,
            unit: "ns",
            baseline: "the same hostcall live",
            goal: "report",
        },
    ]
}
