//! The machine runtime both images share: reset entry (UART FIFOs, trap
//! vector, stack with a PMP guard, `.bss`), the heap, power-off through
//! QEMU's test device, and reports of traps and panics on the UART. Each
//! image defines `kmain`.

use linked_list_allocator::LockedHeap;

use crate::uart;

/// The heap: the rest of RAM after the image and the stacks.
#[global_allocator]
pub static HEAP: LockedHeap = LockedHeap::empty();

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
pub fn power_off(code: u16) -> ! {
    let value = if code == 0 {
        0x5555
    } else {
        0x3333 | (u32::from(code) << 16)
    };
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
    // First the kernel's last words (the rest of a frame under way, then its
    // dump as a monitor frame), when the image has a kernel to dump (the
    // bare wasmi baseline has none) and the heap is free to build it.
    let words = LAST_WORDS.load(core::sync::atomic::Ordering::Acquire);
    if words != 0 && !HEAP.is_locked() {
        // SAFETY: only `set_last_words` stores here, a `LastWords`.
        let words: LastWords = unsafe { core::mem::transmute(words) };
        if let Some(frame) = words(info) {
            uart::write_all(&frame);
        }
    }
    // Then the message, for a human reading the console (a host's decoder
    // skips it).
    let _ = write!(uart::Writer, "\r\ntidemark: kernel panic: {info}\r\n");
    power_off(2)
}

/// What the panic handler sends after the message: a monitor frame.
pub type LastWords = fn(&core::panic::PanicInfo) -> Option<alloc::vec::Vec<u8>>;

static LAST_WORDS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Sets what a panic sends after its message.
#[allow(dead_code)]
pub fn set_last_words(f: LastWords) {
    LAST_WORDS.store(f as usize, core::sync::atomic::Ordering::Release);
}

unsafe extern "C" {
    static _heap_start: u8;
    static _heap_end: u8;
}

/// Gives the rest of RAM to the heap.
pub fn init_heap() {
    // SAFETY: the linker script places the heap after every section and the
    // stacks; nothing else uses that memory. Called once, at boot.
    unsafe {
        let start = &raw const _heap_start as usize;
        let end = &raw const _heap_end as usize;
        HEAP.lock().init(start as *mut u8, end - start);
    }
}
