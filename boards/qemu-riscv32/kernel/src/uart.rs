//! The virt machine's 16550 UART at 0x1000_0000, polled.

const BASE: usize = 0x1000_0000;
const RBR_THR: usize = 0;
const IER: usize = 1;
const LCR: usize = 3;
const LSR: usize = 5;
const LSR_DATA_READY: u8 = 1;
const LSR_THR_EMPTY: u8 = 1 << 5;

fn reg(offset: usize) -> *mut u8 {
    (BASE + offset) as *mut u8
}

/// 8N1, no interrupts. The FIFOs were turned on by `_start`, first thing:
/// doing it here would clear what the host sent while we booted.
pub fn init() {
    // SAFETY: the UART's registers, on the only hart.
    unsafe {
        reg(IER).write_volatile(0);
        reg(LCR).write_volatile(0x03);
    }
}

/// A received byte, if one is waiting.
pub fn try_read() -> Option<u8> {
    // SAFETY: as above.
    unsafe {
        (reg(LSR).read_volatile() & LSR_DATA_READY != 0).then(|| reg(RBR_THR).read_volatile())
    }
}

/// The transmit FIFO's depth: with it empty (THRE), this many fit.
const FIFO: usize = 16;

/// Hands the UART what fits without waiting; returns how many bytes it took.
/// QEMU empties the FIFO as fast as the host reads: a host that stops
/// reading leaves THRE clear, and this takes nothing.
pub fn write_some(bytes: &[u8]) -> usize {
    let mut n = 0;
    // SAFETY: as above.
    while n < bytes.len() && unsafe { reg(LSR).read_volatile() } & LSR_THR_EMPTY != 0 {
        for &b in &bytes[n..(n + FIFO).min(bytes.len())] {
            // SAFETY: as above.
            unsafe { reg(RBR_THR).write_volatile(b) };
            n += 1;
        }
    }
    n
}

/// Sends bytes, waiting for room: only for diagnostics after a crash.
pub fn write_all(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: as above.
        unsafe {
            while reg(LSR).read_volatile() & LSR_THR_EMPTY == 0 {
                core::hint::spin_loop();
            }
            reg(RBR_THR).write_volatile(b);
        }
    }
}

/// Sends text (diagnostics before the link is up, or after a crash).
pub fn write_str(s: &str) {
    write_all(s.as_bytes());
}

/// Sends `v` as hex.
pub fn write_hex(v: usize) {
    let mut digits = [0u8; 10];
    digits[0] = b'0';
    digits[1] = b'x';
    for (i, d) in digits[2..].iter_mut().enumerate() {
        let nibble = (v >> ((7 - i) * 4)) & 0xf;
        *d = b"0123456789abcdef"[nibble];
    }
    write_all(&digits);
}

/// `core::fmt` onto the UART.
pub struct Writer;

impl core::fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_all(s.as_bytes());
        Ok(())
    }
}
