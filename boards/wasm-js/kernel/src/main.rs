//! Tidemark's kernel as WebAssembly bytes for a JS host (the `wasm-js`
//! board): the `no_std` core on wasmi, the same loop every bare-metal board
//! runs (`tidemark-baremetal`), stepped by the host through a few plain
//! exports instead of a main loop of its own. Guests are the same guest
//! binaries as on every board, interpreted by wasmi inside this module.
//!
//! The host (`boards/wasm-js/runtime`, in a worker) calls, with no glue
//! generator between:
//!
//! | export | what it does |
//! |---|---|
//! | `tm_boot() -> i32` | boots the kernel and its boot bundle; 0, or -1 (the reason went to `env.tm_panic`; a failed boot is not retried) |
//! | `tm_feed_buf(len) -> ptr` | where to write `len` monitor bytes from the host |
//! | `tm_feed(len)` | takes those bytes in (past 1 MiB unread, the rest is dropped, as a UART overruns) |
//! | `tm_run() -> i32` | one turn: answer the monitor, give every runnable process a fuel slice; 1 when there is more to do at once |
//! | `tm_next_ms() -> f64` | when idle, milliseconds until a sleeping process wakes; -1 when only input can wake the kernel |
//! | `tm_out_ptr() -> ptr`, `tm_out_len() -> u32`, `tm_out_clear()` | the monitor bytes the kernel sent |
//!
//! It imports `env.tm_now_ms() -> f64` (a monotonic clock, milliseconds),
//! `env.tm_last_words(ptr, len)` (monitor bytes a kernel panic sends: the
//! rest of a frame under way, then the kernel's dump as a `Body::Dump`
//! frame) and `env.tm_panic(ptr, len)` (the panic's text), both before the
//! module traps. One thread calls it; the exports never re-enter.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

use linked_list_allocator::LockedHeap;
use tidemark_baremetal::{Board, Machine, heap_bytes};
use tidemark_kernel::Config;
use tidemark_kernel::protocol::BoardMemory;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn tm_now_ms() -> f64;
    fn tm_last_words(ptr: *const u8, len: usize);
    fn tm_panic(ptr: *const u8, len: usize);
    static __heap_base: u8;
}

/// The kernel's heap: `[memory] heap` of the board manifest. It lies in
/// `.bss`, so it costs the `.wasm` file nothing, and its size is fixed so
/// `info` reports a budget as on the other boards.
const HEAP_BYTES: usize = heap_bytes(48 << 20);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();
static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];

/// The kernel's stack (`-zstack-size` in `.cargo/config.toml`).
const STACK_BYTES: u64 = 1 << 20;

/// Most monitor bytes held for the host before `write` refuses more (the
/// transmitter then queues them, as in front of a slow UART).
const OUT_CAP: usize = 256 << 10;

/// The JS host as a board: byte queues where the others have a UART.
struct Js {
    input: VecDeque<u8>,
    output: Vec<u8>,
}

impl Board for Js {
    const NAME: &'static str = "wasm-js";
    const TX_QUEUE: usize = 256 << 10;

    fn now_ns() -> u64 {
        // SAFETY: an import the host provides; it only returns a number.
        let ms = unsafe { tm_now_ms() };
        (ms.max(0.0) * 1e6) as u64
    }

    fn memory() -> BoardMemory {
        let pages = core::arch::wasm32::memory_size(0) as u64;
        let heap = HEAP.lock();
        BoardMemory {
            ram_bytes: pages * 65536,
            // SAFETY: a linker symbol; only its address is taken.
            static_bytes: (&raw const __heap_base) as u64 - HEAP_BYTES as u64,
            stack_size: STACK_BYTES,
            stack_peak: 0,
            heap_size: heap.size() as u64,
            heap_used: heap.used() as u64,
        }
    }

    fn config() -> Config {
        tidemark_baremetal::roomy_config()
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.input.len());
        for (b, v) in buf.iter_mut().zip(self.input.drain(..n)) {
            *b = v;
        }
        n
    }

    fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(OUT_CAP - self.output.len());
        self.output.extend_from_slice(&bytes[..n]);
        n
    }

    fn idle(&mut self, _ns: u64) {
        // The host waits (see `tm_next_ms`): a worker must not block.
    }
}

/// Most monitor bytes held from the host before more are dropped (as a
/// UART's receive FIFO overruns): a host that floods is bounded.
const IN_CAP: usize = 1 << 20;

/// Module state. The host calls from one thread and the exports never
/// re-enter (the imports call nothing back), so plain cells suffice.
struct State {
    /// Set once `tm_boot` gave the heap its memory (a failed boot is not retried).
    heap_given: bool,
    machine: Option<Machine<Js>>,
    staging: Vec<u8>,
    next_deadline: Option<u64>,
}

struct Global(UnsafeCell<State>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
unsafe impl Sync for Global {}

static STATE: Global = Global(UnsafeCell::new(State {
    heap_given: false,
    machine: None,
    staging: Vec::new(),
    next_deadline: None,
}));

fn state() -> &'static mut State {
    // SAFETY: one thread, no re-entry (see `Global`); each export takes
    // this once and drops it before returning.
    unsafe { &mut *STATE.0.get() }
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_boot() -> i32 {
    let s = state();
    if s.machine.is_some() {
        return 0;
    }
    if s.heap_given {
        return -1;
    }
    s.heap_given = true;
    // SAFETY: the heap's memory, given to the allocator once (`heap_given`),
    // before any allocation.
    unsafe {
        HEAP.lock()
            .init((&raw mut HEAP_MEM).cast::<u8>(), HEAP_BYTES)
    };
    let board = Js {
        input: VecDeque::new(),
        output: Vec::with_capacity(4096),
    };
    match Machine::boot_bundled(board) {
        Ok(m) => {
            let m: *mut Machine<Js> = s.machine.insert(m);
            // SAFETY: the machine stays in the static state for good (a
            // failed boot is not retried, nothing takes it out). Best
            // effort, as every panic's last words: the exports reach it
            // through the state afresh each call.
            unsafe { Machine::speak_from_here(m) };
            0
        }
        Err(e) => {
            // SAFETY: the host's import reads `len` bytes at `ptr`.
            unsafe { tm_panic(e.as_ptr(), e.len()) };
            -1
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_feed_buf(len: u32) -> *mut u8 {
    let s = state();
    s.staging.resize(len as usize, 0);
    s.staging.as_mut_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_feed(len: u32) {
    let s = state();
    let n = (len as usize).min(s.staging.len());
    if let Some(m) = s.machine.as_mut() {
        let input = &mut m.board_mut().input;
        let room = IN_CAP.saturating_sub(input.len());
        input.extend(&s.staging[..n.min(room)]);
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_run() -> i32 {
    let s = state();
    let Some(m) = s.machine.as_mut() else {
        return 0;
    };
    let t = m.turn();
    s.next_deadline = t.next_deadline;
    i32::from(!t.idle() || !m.board_mut().input.is_empty())
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_next_ms() -> f64 {
    match state().next_deadline {
        Some(at) => at.saturating_sub(Js::now_ns()) as f64 / 1e6,
        None => -1.0,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_out_ptr() -> *const u8 {
    state()
        .machine
        .as_mut()
        .map_or(core::ptr::null(), |m| m.board_mut().output.as_ptr())
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_out_len() -> u32 {
    state()
        .machine
        .as_mut()
        .map_or(0, |m| m.board_mut().output.len() as u32)
}

#[unsafe(no_mangle)]
pub extern "C" fn tm_out_clear() {
    if let Some(m) = state().machine.as_mut() {
        m.board_mut().output.clear();
    }
}

/// A kernel panic: its last words (the kernel's dump as a monitor frame,
/// when the heap is free to build it) and its text to the host, then a
/// trap (the host reports the instance dead; there is no machine to reset).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::fmt::Write;
    if !HEAP.is_locked() {
        // SAFETY: this handler never returns (it traps), on the only thread.
        if let Some(words) = unsafe { tidemark_baremetal::last_words(info) } {
            // SAFETY: the host's import reads `len` bytes at `ptr`.
            unsafe { tm_last_words(words.as_ptr(), words.len()) };
        }
    }
    struct Buf([u8; 512], usize);
    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.0.len() - self.1);
            self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
            self.1 += n;
            Ok(())
        }
    }
    let mut b = Buf([0; 512], 0);
    let _ = write!(b, "kernel panic: {info}");
    // SAFETY: the host's import reads `len` bytes at `ptr`.
    unsafe { tm_panic(b.0.as_ptr(), b.1) };
    core::arch::wasm32::unreachable()
}
