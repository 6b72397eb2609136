//! Tidemark's kernel image for QEMU's riscv32 `virt` machine.
//!
//! Boot: `_start` (rt.rs) sets the stack, clears `.bss` and calls [`kmain`],
//! which gives the rest of RAM to the heap and hands the machine to the
//! loop every bare-metal board shares (`tidemark-baremetal`). What is this
//! machine's own is here: the 16550 UART as the monitor link, the CLINT as
//! clock and idle timer, virtio-gpu as the framebuffer's scan-out, the
//! memory map. One hart, no interrupts taken: the
//! timer only wakes `wfi`. A locked PMP region below the stack turns an
//! overflow into a reported trap.

#![no_std]
#![no_main]

extern crate alloc;

mod clint;
mod gpu;
mod rt;
mod uart;

use rt::HEAP;
use tidemark_baremetal::{Board, Machine, stack};
use tidemark_kernel::Config;
use tidemark_kernel::protocol::BoardMemory;

unsafe extern "C" {
    static _stack_bottom: u8;
    static _stack_top: u8;
    static _data_start: u8;
    static _bss_end: u8;
    static _ram_start: u8;
    static _ram_end: u8;
}

fn addr(sym: &u8) -> usize {
    sym as *const u8 as usize
}

/// QEMU's `virt` machine.
struct Virt {
    gpu: gpu::Gpu,
}

impl Board for Virt {
    const NAME: &'static str = "qemu-riscv32";
    /// RAM is plentiful here; the queue only bounds a host that went away.
    const TX_QUEUE: usize = 256 << 10;

    fn now_ns() -> u64 {
        clint::now_ns()
    }

    fn memory() -> BoardMemory {
        // SAFETY: linker symbols, and the stack painted at boot (read on
        // the only hart, no interrupts).
        unsafe {
            let (bottom, top) = (addr(&_stack_bottom), addr(&_stack_top));
            let heap = HEAP.lock();
            BoardMemory {
                ram_bytes: (addr(&_ram_end) - addr(&_ram_start)) as u64,
                static_bytes: (addr(&_bss_end) - addr(&_data_start)) as u64,
                stack_size: (top - bottom) as u64,
                stack_peak: stack::peak(bottom, top) as u64,
                heap_size: heap.size() as u64,
                heap_used: heap.used() as u64,
            }
        }
    }

    fn config() -> Config {
        tidemark_baremetal::roomy_config()
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len()
            && let Some(b) = uart::try_read()
        {
            buf[n] = b;
            n += 1;
        }
        n
    }

    fn write(&mut self, bytes: &[u8]) -> usize {
        uart::write_some(bytes)
    }

    fn idle(&mut self, ns: u64) {
        clint::sleep_ticks(ns / clint::NS_PER_TICK);
    }

    fn present(&mut self, fb: tidemark_kernel::display::Scanout) {
        self.gpu.present(fb);
    }
}

#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    rt::init_heap();
    uart::init();
    // A panic then sends the kernel's dump after its message.
    // SAFETY (of the call inside): the handler powers the machine off.
    rt::set_last_words(|info| unsafe { tidemark_baremetal::last_words(info) });
    let sp: usize;
    // SAFETY: reading sp; below it, down to the stack's bottom, is stack
    // nobody uses yet.
    unsafe {
        core::arch::asm!("mv {}, sp", out(reg) sp);
        stack::paint(addr(&_stack_bottom), sp);
    }
    match Machine::boot_bundled(Virt { gpu: gpu::Gpu::new() }) {
        Ok(m) => m.run(),
        Err(e) => panic!("boot: {e}"),
    }
}
