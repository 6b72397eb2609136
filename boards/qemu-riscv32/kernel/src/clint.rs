//! The CLINT's timer: `mtime` (10 MHz on the virt machine) for the kernel
//! clock, `mtimecmp` to wake `wfi` when every process is idle.

const MTIME: usize = 0x0200_BFF8;
const MTIMECMP: usize = 0x0200_4000;
/// ns per `mtime` tick.
pub const NS_PER_TICK: u64 = 100;

/// `mtime`, read consistently on a 32-bit hart.
pub fn ticks() -> u64 {
    let lo = MTIME as *const u32;
    let hi = (MTIME + 4) as *const u32;
    loop {
        // SAFETY: CLINT registers, read only.
        let (h1, l, h2) = unsafe { (hi.read_volatile(), lo.read_volatile(), hi.read_volatile()) };
        if h1 == h2 {
            return (u64::from(h1) << 32) | u64::from(l);
        }
    }
}

/// Nanoseconds since boot: the kernel core's clock.
pub fn now_ns() -> u64 {
    ticks() * NS_PER_TICK
}

/// Sleeps about `n` ticks: `wfi` until the timer fires (machine timer
/// interrupts enabled in `mie`, but not globally, so none is taken).
pub fn sleep_ticks(n: u64) {
    let at = ticks() + n;
    let cmp_lo = MTIMECMP as *mut u32;
    let cmp_hi = (MTIMECMP + 4) as *mut u32;
    // SAFETY: CLINT registers on the only hart; the write order avoids a
    // spurious early match (high word to max first).
    unsafe {
        cmp_hi.write_volatile(u32::MAX);
        cmp_lo.write_volatile(at as u32);
        cmp_hi.write_volatile((at >> 32) as u32);
        core::arch::asm!("csrs mie, {}", "wfi", in(reg) 1usize << 7);
    }
}
