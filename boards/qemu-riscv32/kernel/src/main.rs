//! Tidemark's kernel image for QEMU's riscv32 `virt` machine.
//!
//! Boot: `_start` (below) sets the stack, clears `.bss` and calls [`kmain`],
//! which gives the rest of RAM to the heap, boots the kernel core on the
//! wasmi engine, installs the boot bundle, and loops: serve the monitor on
//! the UART, give every runnable process one fuel slice, and sleep (`wfi`
//! with a timer) when nobody can run. One hart, no interrupts taken: the
//! timer only wakes `wfi`. A locked PMP region below the stack turns an
//! overflow into a reported trap.

#![no_std]
#![no_main]

extern crate alloc;

mod clint;
mod rt;
mod uart;

use alloc::vec::Vec;
use rt::HEAP;
use tidemark_embedded::Embedded;
use tidemark_kernel::Config;
use tidemark_monitor::server::Connection;

include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

unsafe extern "C" {
    static _stack_bottom: u8;
    static _stack_top: u8;
    static _data_start: u8;
    static _bss_end: u8;
}

/// Fills the stack below the current frame with a pattern, so the deepest
/// use can be found later.
const PAINT: u32 = 0x5441_4d4b;

fn addr(sym: &u8) -> usize {
    sym as *const u8 as usize
}

fn paint_stack() {
    let sp: usize;
    // SAFETY: reading sp.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    // SAFETY: [_stack_bottom, sp - 256) is stack nobody uses yet.
    unsafe {
        let mut p = addr(&_stack_bottom) as *mut u32;
        while (p as usize) < sp - 256 {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// The machine's memory for `info`: static data, stack peak, heap.
fn memory() -> tidemark_monitor::protocol::BoardMemory {
    // SAFETY: linker symbols, and reading the painted stack (never written
    // concurrently: one hart, no interrupts).
    unsafe {
        let bottom = addr(&_stack_bottom);
        let top = addr(&_stack_top);
        let mut p = bottom as *const u32;
        while (p as usize) < top && p.read_volatile() == PAINT {
            p = p.add(1);
        }
        let heap = HEAP.lock();
        tidemark_monitor::protocol::BoardMemory {
            static_bytes: (addr(&_bss_end) - addr(&_data_start)) as u64,
            stack_size: (top - bottom) as u64,
            stack_peak: (top - p as usize) as u64,
            heap_size: heap.size() as u64,
            heap_used: heap.used() as u64,
        }
    }
}

/// Most bytes read from the UART before the engine gets a turn: a long upload
/// must not starve the guests, nor the guests the link.
const READ_BURST: usize = 4096;

/// Events sent per turn of the main loop at most (about 2 KiB of frames:
/// 200 µs of the UART at QEMU's pace); the rest wait for the next turn.
const EVENTS_PER_TURN: usize = 32;

/// How long `wfi` sleeps when nothing is runnable (10 MHz ticks: 200 µs).
const IDLE_TICKS: u64 = 2_000;

/// The board manifest's `[limits]`, as the workbench passed them to this
/// build (`processes,children,depth,channels,regions,arena_bytes,caps,log_lines`);
/// the kernel's defaults without.
fn limits() -> tidemark_kernel::Limits {
    let mut l = tidemark_kernel::Limits::default();
    if let Some(s) = option_env!("TIDEMARK_LIMITS") {
        let mut it = s.split(',').map(|v| v.trim().parse::<u32>().ok().filter(|v| *v > 0));
        for slot in [
            &mut l.processes,
            &mut l.children,
            &mut l.depth,
            &mut l.channels,
            &mut l.regions,
            &mut l.arena_bytes,
            &mut l.caps,
            &mut l.log_lines,
        ] {
            if let Some(Some(v)) = it.next() {
                *slot = v;
            }
        }
    }
    l
}

#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    rt::init_heap();
    uart::init();
    paint_stack();
    let config = Config { arena_size: 256 << 10, arena_budget: 8 << 20, memory_limit: 4 << 20, limits: limits(), ..Config::default() };
    let mut kernel = Embedded::boot(config, clint::now_ns, "qemu-riscv32");
    kernel.set_memory_probe(memory);
    for (name, bytes) in BUNDLE {
        if kernel.install(name, bytes).is_err() {
            panic!("boot bundle: cannot install {name}");
        }
    }
    let mut conn = Connection::new();
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BURST);
    loop {
        buf.clear();
        while buf.len() < READ_BURST {
            match uart::try_read() {
                Some(b) => buf.push(b),
                None => break,
            }
        }
        if !buf.is_empty() {
            uart::write_all(&conn.on_bytes(&kernel, &buf));
        }
        // Replies went out first; events follow in a bounded slice, so a
        // reply never queues behind more than one slice of a flood.
        uart::write_all(&conn.poll_events_at_most(&kernel, EVENTS_PER_TURN));
        let turn = kernel.turn();
        if turn.ran == 0 && buf.is_empty() {
            clint::sleep_ticks(IDLE_TICKS);
        }
    }
}
