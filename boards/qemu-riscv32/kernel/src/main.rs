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
mod uart;

use alloc::vec::Vec;
use linked_list_allocator::LockedHeap;
use tidemark_embedded::Embedded;
use tidemark_kernel::Config;
use tidemark_monitor::server::Connection;

include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

core::arch::global_asm!(
    r#"
    .section .text.init
    .global _start
_start:
    /* UART FIFOs on before anything else: turning them on clears them, so
       the earlier, the less a fast host can have sent (it retries hello).
       Trigger level 14: QEMU then moves up to 14 bytes per poll, not 1. */
    li t0, 0x10000002
    li t1, 0xc7
    sb t1, 0(t0)
    csrw mie, zero
    csrw mstatus, zero
    la t0, trap_entry
    csrw mtvec, t0
    la sp, _stack_top
    la t0, _stack_guard
    srli t0, t0, 2
    ori t0, t0, 0x1ff
    csrw pmpaddr0, t0
    li t0, 0x98
    csrw pmpcfg0, t0
    la t0, _bss_start
    la t1, _bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call kmain
3:  wfi
    j 3b

    .align 4
trap_entry:
    la sp, _trap_stack_top
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call trap
"#
);

/// QEMU's `sifive_test` device: writes power the machine off.
const TEST_DEVICE: *mut u32 = 0x0010_0000 as *mut u32;

/// Powers QEMU off; `code` 0 is success, anything else becomes QEMU's exit code.
fn power_off(code: u16) -> ! {
    let value = if code == 0 { 0x5555 } else { 0x3333 | (u32::from(code) << 16) };
    // SAFETY: the virt machine maps the test device here; the write ends the machine.
    unsafe { TEST_DEVICE.write_volatile(value) };
    loop {
        core::hint::spin_loop();
    }
}

/// An unexpected trap (the kernel takes none): say what and where, power off.
#[unsafe(no_mangle)]
extern "C" fn trap(cause: usize, pc: usize, value: usize) -> ! {
    uart::write_str("\r\ntidemark: kernel trap: mcause=");
    uart::write_hex(cause);
    uart::write_str(" mepc=");
    uart::write_hex(pc);
    uart::write_str(" mtval=");
    uart::write_hex(value);
    uart::write_str("\r\n");
    power_off(3)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::fmt::Write;
    let _ = write!(uart::Writer, "\r\ntidemark: kernel panic: {info}\r\n");
    power_off(2)
}

unsafe extern "C" {
    static _heap_start: u8;
    static _heap_end: u8;
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
fn memory() -> tidemark_monitor::BoardMemory {
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
        tidemark_monitor::BoardMemory {
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

/// How long `wfi` sleeps when nothing is runnable (10 MHz ticks: 200 µs).
const IDLE_TICKS: u64 = 2_000;

#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    // SAFETY: the linker script places the heap after every section; nothing
    // else uses that memory.
    unsafe {
        let start = &raw const _heap_start as usize;
        let end = &raw const _heap_end as usize;
        HEAP.lock().init(start as *mut u8, end - start);
    }
    uart::init();
    paint_stack();
    let config = Config { arena_size: 256 << 10, arena_budget: 8 << 20, memory_limit: 4 << 20, ..Config::default() };
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
        uart::write_all(&conn.poll_events(&kernel));
        let turn = kernel.turn();
        if turn.ran == 0 && buf.is_empty() {
            clint::sleep_ticks(IDLE_TICKS);
        }
    }
}
