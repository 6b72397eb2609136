//! A board as a user meets it: `tidemark boot BOARD --listen SOCK` is started
//! as a process, and the clock runs until the first `ps` answer arrives over
//! the link (the first prompt); then `ps` round trips over the link. Each
//! qemu-riscv32 row's baseline is the same on the hosted kernel in the same
//! run (its monitor on a Unix socket), so the ratio is what the emulated
//! machine and its UART cost. The last rows report the board's idle RAM as
//! its kernel measures it (issue 5's goal: ≤ 128 KiB besides guest memories).
//!
//! `cargo bench -p tidemark --bench board` (`TIDEMARK_BENCH_ROUNDS=N`);
//! `cargo test --benches` runs it once, quickly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tidemark_protocol::req;
use tidemark_shell::Client;

mod common;
use common::{boot, median, ps_round_trips, rounds, sections};

#[path = "../tests/support/pty.rs"]
mod pty;

/// µs per screen poll, median of `n`: one `Snapshot` request, and (the
/// baseline) the seven requests the screen made for the same data before.
fn screen_polls(c: &mut Client, n: usize) -> (f64, f64) {
    let timed = |c: &mut Client, f: &dyn Fn(&mut Client)| {
        median(
            (0..n)
                .map(|_| {
                    let t = Instant::now();
                    f(c);
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect(),
        )
    };
    let one = timed(c, &|c| {
        assert!(
            c.call(req::Snapshot {
                caps_of: Some(1.into()),
                events_after: 0
            })
            .is_ok()
        )
    });
    let seven = timed(c, &|c| {
        assert!(c.call(req::Info {}).is_ok());
        assert!(c.call(req::Ps {}).is_ok());
        let _ = c.call(req::Caps { process: 1.into() });
        assert!(c.call(req::Channels {}).is_ok());
        assert!(c.call(req::Arenas {}).is_ok());
        assert!(c.call(req::Packages {}).is_ok());
        assert!(c.call(req::Events { after: 0 }).is_ok());
    });
    (one, seven)
}

/// The same kernel with its UART on a pty, attached as a board is
/// (`serial:LINK` through the bridge): µs per `ps`, median of `n`; then ms
/// from killing the machine to the next `ps` answered by a new one on
/// another pty behind the same link (the bridge's reattach and the
/// client's hello included).
fn serial_link(image: &std::path::Path, round: u32, n: usize) -> (f64, f64) {
    use tidemark_shell::serial::{Address, Locator};
    let dir =
        std::env::temp_dir().join(format!("tidemark-bench-pty-{}-{round}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("board");
    let (mut first, pty) = pty::boot_on_pty(image);
    pty::point(&link, &pty);
    let addr = Address::Serial(Locator::parse(link.to_str().unwrap()).unwrap());
    let mut c = Client::open(&addr).expect("attach over the pty");
    let ps = ps_round_trips(&mut c, n);
    let t = Instant::now();
    first.kill();
    let (mut second, pty2) = pty::boot_on_pty(image);
    pty::point(&link, &pty2);
    while c.call(req::Ps {}).is_err() {
        assert!(t.elapsed() < Duration::from_secs(60), "never reattached");
    }
    let again = t.elapsed().as_secs_f64() * 1e3;
    second.kill();
    let _ = std::fs::remove_dir_all(&dir);
    (ps, again)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let r = if quick { 1 } else { rounds() };
    let n = if quick { 5 } else { 100 };
    // Build the image once first, so no row counts a cold build.
    let image = sections(&["qemu-riscv32"]);
    let image = PathBuf::from(image["path"].as_str().unwrap());

    let (mut qemu_boot, mut hosted_boot, mut qemu_ps, mut hosted_ps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut memory = None;
    let (mut poll_one, mut poll_seven) = (Vec::new(), Vec::new());
    let (mut pty_ps, mut reattach) = (Vec::new(), Vec::new());
    for i in 0..r as u32 {
        let (_q, mut qc, ms) = boot("qemu-riscv32", i);
        qemu_boot.push(ms);
        qemu_ps.push(ps_round_trips(&mut qc, n));
        let (one, seven) = screen_polls(&mut qc, n);
        poll_one.push(one);
        poll_seven.push(seven);
        if let Ok(info) = qc.call(req::Info {}) {
            memory = info.memory;
        }
        let (_h, mut hc, ms) = boot("hosted", i);
        hosted_boot.push(ms);
        hosted_ps.push(ps_round_trips(&mut hc, n));
        let (ps, again) = serial_link(&image, i, n);
        pty_ps.push(ps);
        reattach.push(again);
    }
    let rows = [
        (
            "boot to first prompt",
            median(qemu_boot),
            median(hosted_boot),
            "ms",
        ),
        (
            "ps round trip over the UART",
            median(qemu_ps),
            median(hosted_ps),
            "us",
        ),
    ];
    println!();
    println!(
        "{:<30} {:>14} {:>14} {:>8}  baseline is",
        "qemu-riscv32", "tidemark", "baseline", "ratio"
    );
    for (name, ours, base, unit) in rows {
        println!(
            "{name:<30} {ours:>11.2} {unit} {base:>11.2} {unit} {:>7.2}x  the same on hosted (Unix socket)",
            ours / base
        );
    }
    let (ps_socket, first_prompt) = (rows[1].1, rows[0].1);
    let (pty_ps, reattach) = (median(pty_ps), median(reattach));
    println!(
        "{:<30} {pty_ps:>11.2} us {ps_socket:>11.2} us {:>7.2}x  the same machine's UART on a Unix socket",
        "ps round trip, serial on a pty",
        pty_ps / ps_socket
    );
    println!(
        "{:<30} {reattach:>11.2} ms {first_prompt:>11.2} ms {:>7.2}x  boot to first prompt (a fresh tidemark boot)",
        "reattach after a reboot",
        reattach / first_prompt
    );
    let (one, seven) = (median(poll_one), median(poll_seven));
    println!(
        "{:<30} {one:>11.2} us {seven:>11.2} us {:>7.2}x  the 7 requests the screen polled before (Snapshot)",
        "screen poll over the UART",
        one / seven
    );
    let m = memory.expect("qemu-riscv32 reports its board memory");
    let kib = |b: u64| b as f64 / 1024.0;
    let idle = m.static_bytes + m.stack_peak + m.heap_used;
    println!(
        "idle RAM {:.1} KiB (goal <= 128 KiB): static {:.1} KiB, stack peak {:.1} of {:.1} KiB, heap used {:.1} of {:.1} KiB",
        kib(idle),
        kib(m.static_bytes),
        kib(m.stack_peak),
        kib(m.stack_size),
        kib(m.heap_used),
        kib(m.heap_size)
    );
    println!("(rounds: {r}; ps: median of {n} per round)");
}
