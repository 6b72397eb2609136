//! What the workbench's benchmarks share.

#![allow(dead_code)]

/// Repetitions of each measurement (`TIDEMARK_BENCH_ROUNDS`, default 5).
pub fn rounds() -> usize {
    std::env::var("TIDEMARK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
