//! Tidemark's kernel image for the ESP32-C6.
//!
//! esp-hal brings the chip up (clocks, watchdogs off, the SYSTIMER time
//! base); [`main`] gives the heap its RAM, paints the stack, and hands the
//! chip to the loop every bare-metal board shares (`tidemark-baremetal`).
//! What is the C6's own is here: the monitor on the built-in
//! USB-Serial-JTAG (or RTT, feature `rtt`), never waited on; time from
//! SYSTIMER; idle in `wfi`, woken by a 1 ms SYSTIMER alarm; the 512 KiB RAM
//! budget as `info` reports it; a kernel panic's dump kept in LP RAM across
//! the reset that follows it.

#![no_std]
#![no_main]

mod link;

use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, Ordering};

use critical_section::Mutex;
use esp_hal::time::{Duration, Instant};
use esp_hal::timer::PeriodicTimer;
use esp_hal::timer::systimer::SystemTimer;
use esp_hal::{Blocking, handler};
use tidemark_baremetal::{Board, Machine, stack};
use tidemark_kernel::Config;
use tidemark_kernel::protocol::BoardMemory;

esp_bootloader_esp_idf::esp_app_desc!();

/// The chip's SRAM: the budget `info` reports against.
const RAM: usize = 512 << 10;
/// The kernel heap, in `.bss`: guest memories (64 KiB pages), modules,
/// arenas, kernel objects; the manifest's `[memory] heap`. The rest of RAM
/// is code run from RAM, static data and the stack (esp-hal's linker
/// script gives it what is left).
const HEAP_BYTES: usize = tidemark_baremetal::heap_bytes(320 << 10);

/// Bytes of LP RAM (16 KiB on the C6) that keep a kernel panic's dump
/// across the software reset after it: the USB FIFO cannot carry it as the
/// chip resets. The next boot offers it to `dump --crash`.
const KEPT_BYTES: usize = 8 << 10;

/// Not cleared at a reset (random after power-on: `keep` checks it).
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static mut KEPT: [u8; KEPT_BYTES] = [0; KEPT_BYTES];

/// The idle alarm: wakes `wfi` every millisecond so deadlines and the link
/// are looked at even when no interrupt comes.
static TICK: Mutex<RefCell<Option<PeriodicTimer<'static, Blocking>>>> =
    Mutex::new(RefCell::new(None));

/// Whether the alarm runs (else idling spins: `wfi` could sleep for good).
static ARMED: AtomicBool = AtomicBool::new(false);

#[handler]
fn tick() {
    critical_section::with(|cs| {
        if let Some(t) = TICK.borrow_ref_mut(cs).as_mut() {
            t.clear_interrupt();
        }
    });
}

unsafe extern "C" {
    static _data_start: u8;
    static _bss_end: u8;
    static _stack_end: u8;
    static _stack_start: u8;
}

fn addr(sym: &u8) -> usize {
    sym as *const u8 as usize
}

/// The stack's low end, above esp-hal's guard word.
fn stack_bottom() -> usize {
    // SAFETY: a linker symbol's address.
    unsafe { addr(&_stack_end) + 64 }
}

/// The ESP32-C6 and its monitor link.
struct C6 {
    link: link::Link,
}

impl Board for C6 {
    const NAME: &'static str = "esp32c6";
    /// 16 KiB of the 512: what a host that went away can cost.
    const TX_QUEUE: usize = 16 << 10;

    fn now_ns() -> u64 {
        Instant::now().duration_since_epoch().as_micros() * 1_000
    }

    fn memory() -> BoardMemory {
        // SAFETY: linker symbols, and the stack painted at boot (one core,
        // and the only interrupt handler runs on its own few words).
        unsafe {
            let (bottom, top) = (stack_bottom(), addr(&_stack_start));
            BoardMemory {
                ram_bytes: RAM as u64,
                static_bytes: (addr(&_bss_end) - addr(&_data_start)).saturating_sub(HEAP_BYTES)
                    as u64,
                stack_size: (top - bottom) as u64,
                stack_peak: stack::peak(bottom, top) as u64,
                heap_size: HEAP_BYTES as u64,
                heap_used: esp_alloc::HEAP.used() as u64,
            }
        }
    }

    fn config() -> Config {
        Config {
            arena_size: 16 << 10,
            arena_budget: 64 << 10,
            memory_limit: 128 << 10,
            // No room in 320 KiB for a dump at every trap, or for a long
            // list of ended processes.
            crash_dumps: false,
            ended_kept: 16,
            ..Config::default()
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        self.link.read(buf)
    }

    fn write(&mut self, bytes: &[u8]) -> usize {
        self.link.write(bytes)
    }

    fn idle(&mut self, ns: u64) {
        if ARMED.load(Ordering::Relaxed) {
            esp_hal::riscv::asm::wfi();
        } else {
            // No alarm to wake `wfi`: wait out the slice instead.
            let until = Instant::now() + Duration::from_micros(ns / 1_000);
            while Instant::now() < until {
                core::hint::spin_loop();
            }
        }
    }
}

#[esp_hal::main]
fn main() -> ! {
    let p =
        esp_hal::init(esp_hal::Config::default().with_cpu_clock(esp_hal::clock::CpuClock::max()));
    esp_alloc::heap_allocator!(size: HEAP_BYTES);
    let sp: usize;
    // SAFETY: reading sp; below it, down to the guard, is stack nobody uses yet.
    unsafe {
        core::arch::asm!("mv {}, sp", out(reg) sp);
        stack::paint(stack_bottom(), sp);
    }
    let mut alarm = PeriodicTimer::new(SystemTimer::new(p.SYSTIMER).alarm0);
    alarm.set_interrupt_handler(tick);
    alarm.listen();
    if alarm.start(Duration::from_millis(1)).is_ok() {
        critical_section::with(|cs| TICK.borrow_ref_mut(cs).replace(alarm));
        ARMED.store(true, Ordering::Relaxed);
    }
    // SAFETY: the only handler is `tick`, which touches only the alarm.
    unsafe { esp_hal::riscv::interrupt::enable() };
    let board = C6 {
        link: link::Link::new(p.USB_DEVICE),
    };
    // SAFETY: nothing else runs yet; the panic handler writes it only after
    // the machine runs.
    let kept = unsafe { tidemark_baremetal::keep::take(&mut *core::ptr::addr_of_mut!(KEPT)) };
    match Machine::boot_bundled(board) {
        Ok(m) => {
            if let Some(kept) = kept {
                m.restore_panic(&kept);
            }
            m.run()
        }
        Err(e) => panic!("boot: {e}"),
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    link::last_words(info);
    // SAFETY: the handler never returns (the chip resets), on the only
    // core. Best effort, as on every board: a panic inside esp-alloc's
    // critical section panics again here, and that second panic resets
    // without a dump (`panic_dump` answers once).
    unsafe { tidemark_baremetal::keep_panic_dump(info, &mut *core::ptr::addr_of_mut!(KEPT)) };
    esp_hal::system::software_reset()
}
