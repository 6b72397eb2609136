//! What every bare-metal Tidemark board shares, written once: the main
//! loop (serve the monitor, give every runnable process a fuel slice, idle
//! when nobody can run), the boot bundle, the board manifest's limits, the
//! stack paint that measures the deepest use, and the monitor transmitter
//! that never waits for the host ([`tx`]).
//!
//! A board supplies only what differs between machines, through [`Board`]:
//! its console transport, clock, idle, memory map and configuration. The
//! QEMU `virt` image drives a 16550 UART and the CLINT; the ESP32-C6 image
//! drives USB-Serial-JTAG (or RTT) and SYSTIMER. Host tests drive the same
//! loop through a fake board.

#![no_std]

extern crate alloc;

pub mod keep;
pub mod stack;
pub mod tx;

use alloc::vec::Vec;

use tidemark_embedded::Embedded;
use tidemark_kernel::Config;
use tidemark_kernel::protocol::BoardMemory;
use tidemark_monitor::server::Connection;

pub use tx::Tx;

/// The running machine's kernel and transmitter, for [`last_words`].
static LAST_WORDS: core::sync::atomic::AtomicPtr<()> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
static LAST_TX: core::sync::atomic::AtomicPtr<()> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
/// Set by the first [`last_words`]: a panic inside it says nothing more.
static SPEAKING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// For a board's panic handler: the kernel's dump as it panicked with
/// `message`, with the board's fields. `None` before [`Machine::run`], or
/// when a panic inside this one (the dump itself panicked) asks again.
/// Best effort: a panic inside a kernel call leaves the kernel as that call
/// left it, and it is read as it is.
///
/// # Safety
/// Only from a panic handler that never returns, on the core that ran the
/// kernel ([`Embedded::last_words`]), with the heap usable (not locked by
/// the code that panicked).
pub unsafe fn panic_dump(
    message: &dyn core::fmt::Display,
) -> Option<tidemark_kernel::protocol::KernelDump> {
    use core::sync::atomic::Ordering;
    if SPEAKING.swap(true, Ordering::AcqRel) {
        return None;
    }
    let kernel = LAST_WORDS.load(Ordering::Acquire) as *const Embedded;
    // SAFETY: set by `Machine::run`, whose frame never ends.
    let kernel = unsafe { kernel.as_ref() }?;
    // SAFETY: the caller's contract.
    Some(unsafe { kernel.last_words(&alloc::format!("{message}")) })
}

/// For a board's panic handler: the bytes to write to the link before the
/// machine stops: the rest of a batch of frames the transmitter had begun
/// (else the host would read what follows as part of that frame), then
/// the kernel's dump ([`panic_dump`]) as a monitor frame (`Body::Dump`,
/// id 0).
///
/// # Safety
/// As [`panic_dump`].
pub unsafe fn last_words(message: &dyn core::fmt::Display) -> Option<Vec<u8>> {
    use core::sync::atomic::Ordering;
    // SAFETY: the caller's contract.
    let dump = unsafe { panic_dump(message) }?;
    let tx = LAST_TX.load(Ordering::Acquire) as *const Tx;
    // SAFETY: as the kernel's: the machine lives for good.
    let mut out = unsafe { tx.as_ref() }.map_or_else(Vec::new, |tx| tx.unfinished().to_vec());
    out.extend(tidemark_kernel::protocol::encode(
        0,
        &tidemark_kernel::protocol::Body::Dump(alloc::boxed::Box::new(dump)),
    ));
    Some(out)
}

/// For a board's panic handler whose link cannot carry the dump: writes
/// it ([`panic_dump`]) as a dump file into `area`, RAM that survives the
/// warm reset that follows, without allocating for the file ([`keep`]),
/// with as many of the newest events as fit. Whether it was kept.
///
/// # Safety
/// As [`panic_dump`].
pub unsafe fn keep_panic_dump(message: &dyn core::fmt::Display, area: &mut [u8]) -> bool {
    // SAFETY: the caller's contract.
    let Some(mut d) = (unsafe { panic_dump(message) }) else {
        return false;
    };
    // The newest events that fit: halve them until the dump does.
    loop {
        if keep::keep(area, |body| tidemark_kernel::protocol::dump_into(&d, body)) {
            return true;
        }
        if d.events.is_empty() {
            return false;
        }
        let n = d.events.len();
        d.events.drain(..n.div_ceil(2));
    }
}

include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

/// What one machine supplies to the shared kernel loop.
pub trait Board {
    /// The board's name, as `info` reports it.
    const NAME: &'static str;
    /// Bytes of monitor output the kernel queues in front of the
    /// transmitter (RAM: the C6 has 512 KiB in all).
    const TX_QUEUE: usize;
    /// Nanoseconds since boot: the kernel core's clock.
    fn now_ns() -> u64;
    /// The machine's memory, for `info`.
    fn memory() -> BoardMemory;
    /// The kernel's sizes for this machine (the manifest's limits are
    /// applied on top, by [`Machine::boot`]).
    fn config() -> Config;
    /// Moves bytes the host sent into `buf`; returns how many. Never waits.
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Hands bytes to the transmitter; returns how many it took, 0 when it
    /// has no room. Never waits.
    fn write(&mut self, bytes: &[u8]) -> usize;
    /// Sleeps until an interrupt, or about `ns` nanoseconds at most.
    fn idle(&mut self, ns: u64);
    /// Scans out the framebuffer after a guest's `display_present`, on a
    /// board with a display device (the manifest's `[display]`). Called
    /// from the loop, between slices, once per present.
    fn present(&mut self, _fb: tidemark_kernel::display::Scanout) {}
}

/// Most bytes read from the link before the engine gets a turn: a long
/// upload must not starve the guests, nor the guests the link.
pub const READ_BURST: usize = 4096;

/// Events sent per turn of the main loop at most (about 2 KiB of frames);
/// the rest wait for the next turn.
pub const EVENTS_PER_TURN: usize = 32;

/// Room the transmit queue must have before events are polled: events
/// never overflow it, they wait in the kernel's log.
pub const EVENT_ROOM: usize = 4096;

/// How long the loop idles when nothing is runnable.
pub const IDLE_NS: u64 = 200_000;

/// How long after the last byte from the host the loop keeps polling
/// instead of idling. A UART's receive FIFO holds 16 bytes: idling
/// [`IDLE_NS`] each time it ran dry capped an upload at 16 bytes per idle
/// (80 KB/s, about 300 ms for a 25 KB module on qemu-riscv32). A host that
/// went quiet costs this much polling once.
pub const RX_LINGER_NS: u64 = 2_000_000;

/// The board manifest's `[limits]`, as the workbench passed them to this
/// build (`processes,children,depth,channels,regions,arena_bytes,caps,log_lines`);
/// the kernel's defaults without.
pub fn limits() -> tidemark_kernel::Limits {
    parse_limits(option_env!("TIDEMARK_LIMITS"))
}

fn parse_limits(s: Option<&str>) -> tidemark_kernel::Limits {
    let mut l = tidemark_kernel::Limits::default();
    if let Some(s) = s {
        let mut it = s
            .split(',')
            .map(|v| v.trim().parse::<u32>().ok().filter(|v| *v > 0));
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

/// The kernel's sizes on a board with RAM to spare (qemu-riscv32's
/// 128 MiB, wasm-js's 64 MiB): 256 KiB arenas, 8 MiB of them in all, and
/// 4 MiB of memory per guest.
pub fn roomy_config() -> Config {
    Config {
        arena_size: 256 << 10,
        arena_budget: 8 << 20,
        memory_limit: 4 << 20,
        ..Config::default()
    }
}

/// The board manifest's `[display]` (`WIDTHxHEIGHT`) as the workbench
/// passed it to this build (`TIDEMARK_DISPLAY`): the framebuffer the
/// kernel sets up at boot; none without.
pub fn display() -> Option<tidemark_kernel::display::DisplayMode> {
    option_env!("TIDEMARK_DISPLAY").and_then(tidemark_kernel::display::DisplayMode::parse)
}

/// The board manifest's `[packages]` (`slots,max_bytes`) as the workbench
/// passed it to this build (`TIDEMARK_PACKAGES`), over `config`'s values.
pub fn packages(config: Config) -> Config {
    parse_packages(option_env!("TIDEMARK_PACKAGES"), config)
}

fn parse_packages(s: Option<&str>, mut c: Config) -> Config {
    let mut it = s
        .unwrap_or("")
        .split(',')
        .map(|v| v.trim().parse::<usize>().ok().filter(|v| *v > 0));
    if let Some(Some(v)) = it.next() {
        c.package_slots = v;
    }
    if let Some(Some(v)) = it.next() {
        c.max_package = v;
    }
    c
}

/// The board manifest's fixed `[memory] heap` in bytes, as the workbench
/// passed it to this build (`TIDEMARK_HEAP_BYTES`); `default` without.
pub const fn heap_bytes(default: usize) -> usize {
    match option_env!("TIDEMARK_HEAP_BYTES") {
        Some(s) => parse_usize(s.as_bytes(), default),
        None => default,
    }
}

const fn parse_usize(b: &[u8], default: usize) -> usize {
    if b.is_empty() {
        return default;
    }
    let (mut i, mut n) = (0, 0usize);
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return default;
        }
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    n
}

/// The bare wasmi embedding each board builds as its size baseline runs
/// this: `(module (import "env" "tick" (func (param i32) (result i32)))
/// (func (export "run") (param i32) (result i32) local.get 0 call 0))`.
pub const BARE_WASMI_MODULE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
    0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // types
    0x02, 0x0c, 0x01, 0x03, b'e', b'n', b'v', 0x04, b't', b'i', b'c', b'k', 0x00,
    0x00, // imports
    0x03, 0x02, 0x01, 0x00, // functions
    0x07, 0x07, 0x01, 0x03, b'r', b'u', b'n', 0x00, 0x01, // exports
    0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b, // code
];

/// What one turn of the loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// Bytes read from the host.
    pub read: usize,
    /// Processes that ran a slice.
    pub ran: usize,
    /// Earliest time (kernel ns) a sleeping process wakes, if any sleeps:
    /// how long a host that drives the loop itself may wait (`wasm-js`).
    pub next_deadline: Option<u64>,
}

impl Turn {
    /// Nothing came in and nobody ran: the loop may idle.
    pub fn idle(&self) -> bool {
        self.read == 0 && self.ran == 0
    }
}

/// A booted kernel on a board: the loop's state.
pub struct Machine<B: Board> {
    board: B,
    kernel: Embedded,
    conn: Connection,
    tx: Tx,
    buf: Vec<u8>,
    /// When the last byte from the host arrived (see [`RX_LINGER_NS`]).
    last_rx_ns: Option<u64>,
    hellos: u64,
}

impl<B: Board> Machine<B> {
    /// Boots the kernel and installs `bundle` (package name, module bytes).
    pub fn boot(board: B, bundle: &[(&str, &[u8])]) -> Result<Machine<B>, &'static str> {
        let mut config = packages(Config {
            limits: limits(),
            display: display(),
            ..B::config()
        });
        // A recording is fetched in one reply: keep it well inside the
        // link's queue (the monitor refuses a reply that would not fit).
        config.max_recording = config.max_recording.min(B::TX_QUEUE / 2);
        let mut kernel = Embedded::boot(config, B::now_ns, B::NAME);
        kernel.set_memory_probe(B::memory);
        for (name, bytes) in bundle {
            if kernel.install(name, bytes).is_err() {
                return Err("a boot bundle module does not install");
            }
        }
        let tx = Tx::new(B::TX_QUEUE);
        kernel.set_link_stats(tx.stats());
        Ok(Machine {
            board,
            kernel,
            conn: Connection::new(),
            tx,
            buf: Vec::with_capacity(READ_BURST),
            last_rx_ns: None,
            hellos: 0,
        })
    }

    /// Boots with the bundle linked into the image.
    pub fn boot_bundled(board: B) -> Result<Machine<B>, &'static str> {
        Machine::boot(board, BUNDLE)
    }

    /// One turn: read what the host sent and answer it, send a bounded
    /// slice of events if there is room, give every runnable process a
    /// slice, and hand the transmitter what it takes. Never waits.
    pub fn turn(&mut self) -> Turn {
        let now = B::now_ns();
        self.buf.resize(READ_BURST, 0);
        let mut read = 0;
        while read < READ_BURST {
            let n = self.board.read(&mut self.buf[read..]);
            if n == 0 {
                break;
            }
            read += n;
        }
        if read > 0 {
            let reply = self.conn.on_bytes(&self.kernel, &self.buf[..read]);
            if self.conn.hellos != self.hellos {
                self.hellos = self.conn.hellos;
                self.tx.hello();
            }
            self.tx.send(reply, now);
        }
        // Replies went out first; events follow in a bounded slice, so a
        // reply never queues behind more than one slice of a flood.
        if self.tx.room() >= EVENT_ROOM && !self.tx.stalled() {
            let events = self.conn.poll_events_at_most(&self.kernel, EVENTS_PER_TURN);
            self.tx.send(events, now);
        }
        let board = &mut self.board;
        self.tx.pump(|b| board.write(b), now);
        let kt = self.kernel.turn();
        if let Some(fb) = self.kernel.with_kernel(|k| k.take_present()) {
            board.present(fb);
        }
        self.tx.pump(|b| board.write(b), B::now_ns());
        self.kernel.set_link_stats(self.tx.stats());
        Turn {
            read,
            ran: kt.ran,
            next_deadline: kt.next_deadline,
        }
    }

    /// One turn, then the idle the loop takes after it: [`IDLE_NS`] when
    /// nothing came in and nobody ran, unless bytes from the host arrived
    /// within [`RX_LINGER_NS`] (more of the same frame is likely on its
    /// way). Returns the nanoseconds idled.
    pub fn step(&mut self) -> u64 {
        let t = self.turn();
        let now = B::now_ns();
        if t.read > 0 {
            self.last_rx_ns = Some(now);
        }
        let lingering = self
            .last_rx_ns
            .is_some_and(|at| now.saturating_sub(at) < RX_LINGER_NS);
        if t.idle() && !lingering {
            self.board.idle(IDLE_NS);
            IDLE_NS
        } else {
            0
        }
    }

    /// Lets a panic read this machine for its last words ([`panic_dump`]),
    /// for a host that drives the turns itself (wasm-js); [`Machine::run`]
    /// does it for the rest.
    ///
    /// # Safety
    /// `machine` points at a live machine that stays where it is, and is
    /// never dropped, from now on; it is reached through this same pointer
    /// (or ones derived from it) afterwards, so the addresses taken here
    /// stay valid.
    pub unsafe fn speak_from_here(machine: *mut Machine<B>) {
        // SAFETY: plain addresses of fields of a live machine, taken
        // without creating a reference.
        unsafe {
            LAST_WORDS.store(
                core::ptr::addr_of_mut!((*machine).kernel).cast(),
                core::sync::atomic::Ordering::Release,
            );
            LAST_TX.store(
                core::ptr::addr_of_mut!((*machine).tx).cast(),
                core::sync::atomic::Ordering::Release,
            );
        }
    }

    /// Runs the kernel forever, idling when nobody can run.
    pub fn run(self) -> ! {
        // The machine is never dropped: a panic may read it from here.
        let machine = alloc::boxed::Box::into_raw(alloc::boxed::Box::new(self));
        // SAFETY: `machine` is valid for good, never moves, and is used
        // only through this pointer below.
        unsafe { Machine::speak_from_here(machine) };
        loop {
            // SAFETY: the only use of the machine while it runs.
            unsafe { (*machine).step() };
        }
    }

    /// Hands the kernel the dump a panic kept across the reset that
    /// started this boot ([`keep::take`]): `dump --crash` then answers it,
    /// and an event says the previous boot panicked, and why.
    pub fn restore_panic(&self, kept: &[u8]) {
        let d = tidemark_kernel::protocol::dump_from_bytes(kept);
        self.kernel.with_kernel(|k| k.restore_crash_dump(d.map_err(|e| alloc::format!("{e}"))));
    }

    /// The kernel, for tests and board-specific reports.
    pub fn kernel(&self) -> &Embedded {
        &self.kernel
    }

    /// The board.
    pub fn board_mut(&mut self) -> &mut B {
        &mut self.board
    }

    /// The transmitter's counters.
    pub fn link(&self) -> tidemark_kernel::protocol::LinkStats {
        self.tx.stats()
    }
}

#[cfg(test)]
mod tests;
