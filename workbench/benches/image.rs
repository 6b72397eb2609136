//! Kernel image size for each bare-metal board (qemu-riscv32, esp32c6)
//! against a bare wasmi embedding built the same way (same wasmi features,
//! profile, runtime or HAL, and target), and what the boot bundle of example
//! guests adds. Goal (issue 5, qemu-riscv32): the kernel adds ≤ 15% on top
//! of bare wasmi. On the esp32c6, `bss` holds the 320 KiB heap.
//!
//! `cargo bench -p tidemark --bench image`; `cargo test --benches` builds
//! only the bare embedding and the usual image (no extra LTO link).

mod common;
use common::sections;

fn field(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_u64().unwrap() as f64 / 1024.0
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    for board in ["qemu-riscv32", "esp32c6"] {
        report(board, quick);
    }
}

fn report(board: &str, quick: bool) {
    let bare = sections(&[board, "--bare-wasmi"]);
    let with = sections(&[board]);
    let without = if quick {
        None
    } else {
        Some(sections(&[board, "--no-guests"]))
    };
    println!();
    println!("{board}");
    println!(
        "{:<28} {:>10} {:>10} {:>8} {:>8} {:>10}",
        "image (KiB)", "text", "rodata", "data", "bss", "text+ro"
    );
    let row = |name: &str, v: &serde_json::Value| {
        let code = field(v, "text") + field(v, "rodata");
        println!(
            "{name:<28} {:>10.1} {:>10.1} {:>8.1} {:>8.1} {code:>10.1}",
            field(v, "text"),
            field(v, "rodata"),
            field(v, "data"),
            field(v, "bss")
        );
        code
    };
    let b = row("bare wasmi embedding", &bare);
    let w = row("kernel + example guests", &with);
    let k = without.as_ref().map(|v| row("kernel, no guests", v));
    println!();
    if let Some(k) = k {
        println!(
            "kernel without guests vs bare wasmi: {:.2}x text+rodata (goal <= 1.15x); guests add {:.1} KiB",
            k / b,
            w - k
        );
    } else {
        println!(
            "kernel + guests vs bare wasmi: {:.2}x text+rodata (quick mode: run `cargo bench` for the no-guest image)",
            w / b
        );
    }
}
