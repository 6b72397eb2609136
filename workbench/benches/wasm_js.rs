//! The wasm-js board as its users meet it: the kernel's `.wasm` size, boot
//! to first prompt and `ps` round trips with the kernel in Node (the JS
//! runtime behind `bin/serve.js`) and in headless Chromium (the playground
//! page), and a guest's compute speed there against the same guest on
//! qemu-riscv32. Baselines are measured in the same run: the hosted kernel
//! (wasmtime, in the workbench) for boot and `ps`, qemu-riscv32 for compute
//! (the other wasmi board), hosted for compute as the JIT's mark.
//!
//! `cargo bench -p tidemark --bench wasm_js` (`TIDEMARK_BENCH_ROUNDS=N`);
//! `cargo test --benches` runs it once, quickly.

use std::time::{Duration, Instant};

use tidemark_protocol::{ProcState, req};
use tidemark_shell::Client;

mod common;
use common::{BIN, boot, median, ps_round_trips, rounds, sections};

#[path = "../tests/support/cdp.rs"]
mod cdp;

/// ms from spawning `crunch` to its exit, on an attached kernel.
fn crunch(c: &mut Client) -> f64 {
    let t = Instant::now();
    let pid = c
        .call(req::Spawn {
            package: "crunch".into(),
            name: None,
            args: Vec::new(),
            grants: Vec::new(),
            memory_limit: None,
            record: false,
        })
        .expect("spawn crunch");
    loop {
        let ps = c.call(req::Ps {}).unwrap();
        let p = ps.iter().find(|p| p.pid == pid).expect("crunch in ps");
        if matches!(p.state, ProcState::Ended(_)) {
            return t.elapsed().as_secs_f64() * 1e3;
        }
        assert!(t.elapsed() < Duration::from_secs(300), "crunch never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The same in the playground: typed at the page's prompt, timed there.
fn crunch_in_page(page: &mut cdp::Page) -> f64 {
    page.eval(
        "(async () => { const t = performance.now(); \
           const out = await playground.type('spawn crunch'); \
           const pid = /pid (\\d+)/.exec(out.text)[1]; \
           for (;;) { \
             const ps = await playground.type('ps --all --json'); \
             const p = JSON.parse(ps.text).find((p) => p.pid == pid); \
             if (p.state.ended !== undefined) return performance.now() - t; \
           } })()",
    )
    .as_f64()
    .expect("a time")
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let r = if quick { 1 } else { rounds() };
    let n = if quick { 5 } else { 100 };

    // Build every image first, so no row counts a cold build.
    let with = sections(&["wasm-js"]);
    let without = sections(&["wasm-js", "--no-guests"]);
    let qemu = sections(&["qemu-riscv32", "--no-guests"]);
    let file = |v: &serde_json::Value| {
        std::fs::metadata(v["path"].as_str().unwrap())
            .unwrap()
            .len() as f64
            / 1024.0
    };
    let flash = |v: &serde_json::Value| {
        ["text", "rodata", "data"]
            .iter()
            .map(|k| v[k].as_u64().unwrap())
            .sum::<u64>() as f64
            / 1024.0
    };

    let (mut js_boot, mut js_ps, mut hosted_boot, mut hosted_ps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut js_crunch, mut qemu_crunch, mut hosted_crunch) = (Vec::new(), Vec::new(), Vec::new());
    let (mut page_boot, mut page_prompt, mut page_ps, mut page_crunch) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..r as u32 {
        let (_j, mut jc, ms) = boot("wasm-js", i);
        js_boot.push(ms);
        js_ps.push(ps_round_trips(&mut jc, n));
        js_crunch.push(crunch(&mut jc));
        let (_h, mut hc, ms) = boot("hosted", i);
        hosted_boot.push(ms);
        hosted_ps.push(ps_round_trips(&mut hc, n));
        hosted_crunch.push(crunch(&mut hc));
        let (_q, mut qc, _) = boot("qemu-riscv32", i);
        qemu_crunch.push(crunch(&mut qc));

        let (mut pg, figures) = cdp::Playground::open(BIN);
        page_boot.push(figures["bootMs"].as_f64().unwrap());
        page_prompt.push(figures["firstPromptMs"].as_f64().unwrap());
        let ms = pg
            .page
            .eval(&format!(
                "(async () => {{ const v = []; for (let i = 0; i < {n}; i++) {{ \
                   const t = performance.now(); await playground.type('ps'); \
                   v.push(performance.now() - t); }} \
                   v.sort((a, b) => a - b); return v[v.length >> 1]; }})()"
            ))
            .as_f64()
            .unwrap();
        page_ps.push(ms * 1e3);
        page_crunch.push(crunch_in_page(&mut pg.page));
    }

    println!();
    println!(
        "{:<36} {:>12} {:>12} {:>8}  baseline is",
        "wasm-js", "tidemark", "baseline", "ratio"
    );
    let row = |name: &str, ours: f64, base: f64, unit: &str, what: &str| {
        println!(
            "{name:<36} {ours:>9.1} {unit:<2} {base:>9.1} {unit:<2} {:>7.2}x  {what}",
            ours / base
        );
    };
    row(
        "kernel .wasm, no guests",
        file(&without),
        flash(&qemu),
        "KiB",
        "qemu-riscv32's image, no guests (text+rodata+data)",
    );
    row(
        "kernel .wasm, example guests bundled",
        file(&with),
        file(&without),
        "KiB",
        "the same without them",
    );
    row(
        "boot to first prompt, Node",
        median(js_boot),
        median(hosted_boot.clone()),
        "ms",
        "hosted (a fresh tidemark boot, Unix socket)",
    );
    row(
        "ps round trip, Node",
        median(js_ps),
        median(hosted_ps.clone()),
        "us",
        "hosted (Unix socket)",
    );
    row(
        "kernel boot in a Chromium worker",
        median(page_boot),
        median(hosted_boot.clone()),
        "ms",
        "hosted boot to first prompt",
    );
    row(
        "page load to first prompt, Chromium",
        median(page_prompt),
        median(hosted_boot),
        "ms",
        "hosted boot to first prompt",
    );
    row(
        "ps round trip, Chromium page",
        median(page_ps),
        median(hosted_ps),
        "us",
        "hosted (Unix socket); the page's adds a WebSocket and the shell",
    );
    let qemu_crunch = median(qemu_crunch);
    row(
        "crunch (4M-step hash), Chromium",
        median(page_crunch),
        qemu_crunch,
        "ms",
        "the same guest on qemu-riscv32 (wasmi)",
    );
    row(
        "crunch (4M-step hash), Node",
        median(js_crunch),
        qemu_crunch,
        "ms",
        "the same guest on qemu-riscv32 (wasmi)",
    );
    row(
        "crunch (4M-step hash), qemu-riscv32",
        qemu_crunch,
        median(hosted_crunch),
        "ms",
        "hosted (wasmtime's JIT)",
    );
    println!("(rounds: {r}; ps: median of {n} per round)");
}
