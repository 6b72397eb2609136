//! Tidemark's channel ring, implemented once for every access path.
//!
//! A channel is one contiguous region of an arena laid out as:
//!
//! ```text
//! +--------------------+  0
//! | header (192 B)     |  line 0: magic, version, geometry, check word (read-only)
//! |                    |  line 1: writer lock, head, cached tail, drops, resting cursor
//! |                    |  line 2: waiter bits, doorbell
//! +--------------------+  192
//! | reader cursors     |  max_readers x LINE: state, next frame
//! +--------------------+
//! | writer slots       |  max_writers x LINE: state, owner pid (read by readers)
//! +--------------------+
//! | writer counters    |  max_writers x LINE: frames, bytes (written per frame)
//! +--------------------+
//! | frame ring         |  frame_cap x SLOT: stamp, writer, pos, len, inline bytes
//! +--------------------+
//! | data ring          |  data_cap bytes, frames stored contiguously (wrapping)
//! +--------------------+
//! ```
//!
//! Frame metadata and payload bytes live in separate rings, so a reader
//! scanning metadata touches one cache line per frame; a frame of at most
//! [`INLINE`] bytes lies in its own slot instead, after its record, and
//! takes no room in the data ring: one cache line carries the records and
//! payloads of two such frames. A writer *reserves*
//! a frame under a short spin lock (it writes the frame's record, then
//! commits by storing the head, one word), copies its payload without the
//! lock, and *publishes* by storing the frame's `stamp` (`seq + 1`) with
//! release ordering. Readers are lock-free; each owns a one-word cursor (the
//! next frame's number: byte positions come from the frame records, so a
//! cursor can never be seen half-updated). The slowest live reader bounds
//! the writers (the *tail*); with no reader attached, frames are retained
//! from where the last reader left (the *resting* cursor), and a reader
//! that attaches starts at the slowest live cursor, else there.
//!
//! # Repair
//!
//! Every obligation in the ring names its owner: the lock word holds the
//! tag of the endpoint that took it, and each reserved frame's record names
//! its writer. A party can stop at any instruction (killed, trapped, its old
//! instance stopped at a reload), so no state between two of its steps may
//! block the others: once the kernel knows an owner has stopped,
//! [`Ring::repair_writer`] releases its lock and turns its unpublished
//! reservations into *tombstones* (published frames readers skip), and
//! [`Ring::ring_bell`] wakes both sides.
//!
//! # Waiting
//!
//! A side that must park reads the doorbell, announces itself
//! ([`Ring::set_waiting`]: a waiter bit, then a fence), tries once more,
//! and sleeps until the doorbell moves past what it read. The other side
//! publishes its progress, fences, and rings the doorbell if a waiter bit
//! is set: with a fence on both sides, one of the two sees the other.
//!
//! The header's three parts sit on separate cache lines, so the words every
//! operation validates are never written after creation and do not bounce
//! between cores with the writers' words.
//!
//! All mutable state is `u32` atomics (rv32 has no 64-bit atomics), so the
//! same code runs in the kernel on a guest's behalf (the copying path) and in
//! a guest directly on memory mapped into it (the in-place path); the
//! [`Memory`] trait lets the model checkers run it too.
//!
//! The ring never trusts the memory it runs on: geometry comes from the
//! [`Geometry`] the caller kept at creation and is compared with the header,
//! and every frame is validated before it is copied out. Scribbled memory
//! yields [`RingError::Corrupt`] for this ring and nothing worse.
#![no_std]
#![warn(missing_docs)]

use core::marker::PhantomData;
use core::sync::atomic::Ordering;

mod endpoints;
mod loans;
mod memory;
mod ops;

pub use loans::Peeked;
pub use memory::{Memory, Raw};
pub use ops::Reservation;

/// `"TMRG"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"TMRG");
/// Layout version.
pub const VERSION: u32 = 5;
/// Header size in bytes (three cache lines).
pub const HEADER: usize = 192;
/// Payload bytes a frame slot holds itself: a frame this long or shorter
/// lies inline, after its record, so the writer's publication and the
/// reader's look at the frame touch one cache line, not two (the record's
/// and the data ring's). The single-core rv32 boards keep 16 B slots with
/// nothing inline: no line is shared there, and RAM is what they lack.
pub const INLINE: usize = if cfg!(target_arch = "riscv32") { 0 } else { 16 };
/// A frame slot: stamp, writer, pos, len, then [`INLINE`] payload bytes.
const SLOT: usize = 16 + INLINE;
/// Stride of reader cursors, writer slots and writer counters: one cache
/// line each on hosts whose cores share memory, so one party's per-frame
/// stores never evict a line another party reads per frame (a reader that
/// looked up a frame's writer on the line where that writer counts its
/// frames paid a line transfer per frame: 3x the cost of the ring itself).
/// The single-core rv32 boards keep 16 B: no line is shared there, and RAM
/// is what they lack.
const LINE: usize = if cfg!(target_arch = "riscv32") {
    16
} else {
    64
};
/// A frame's writer word: the writer id in the low byte, its owner's pid
/// (as recorded at attach, cut to 23 bits) above it, and the tombstone bit
/// on top. The owner travels with the frame because writer ids are reused:
/// frames of a writer that left are still attributed to it.
const WRITER_ID: u32 = 0xFF;
/// Owner pids are kept modulo 2^23 in frame records.
pub const OWNER_MASK: u32 = (1 << 23) - 1;
/// Set in a frame's writer word: the frame is a tombstone (its writer
/// stopped before publishing it); readers skip it.
const TOMBSTONE: u32 = 1 << 31;

/// Who holds the lock, as stored in the lock word.
fn writer_tag(id: u32) -> u32 {
    id + 1
}
fn reader_tag(slot: u32) -> u32 {
    0x100 + slot + 1
}

// Header word offsets.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 4;
const H_BACKPRESSURE: usize = 8;
const H_DATA_CAP: usize = 12;
const H_FRAME_CAP: usize = 16;
const H_READERS: usize = 20;
const H_WRITERS: usize = 24;
const H_CHECK: usize = 28;
// Line 1: the writers'.
const H_LOCK: usize = 64;
const H_HEAD: usize = 68;
const H_TAIL: usize = 72;
const H_DROPS: usize = 76;
const H_REST: usize = 80;
// Line 2: touched only around parking.
const H_WAITERS: usize = 128;
const H_DOORBELL: usize = 132;

// Endpoint slot states.
const FREE: u32 = 0;
const LIVE: u32 = 1;
const CLAIMING: u32 = 2;

/// Waiter bit: at least one reader is parked waiting for a frame.
pub const WAIT_READERS: u32 = 1;
/// Waiter bit: at least one writer is parked waiting for room.
pub const WAIT_WRITERS: u32 = 2;

/// The immutable shape of a ring, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Payload bytes (power of two).
    pub data_cap: u32,
    /// Frames in flight (power of two).
    pub frame_cap: u32,
    /// Reader cursor slots.
    pub max_readers: u32,
    /// Writer slots.
    pub max_writers: u32,
    /// 0 park, 1 drop (see `tidemark_abi::Backpressure`).
    pub backpressure: u32,
}

impl Geometry {
    /// Largest data ring accepted (keeps wrapping arithmetic on `u32` exact).
    pub const MAX_DATA: u32 = 1 << 28;
    /// Largest frame ring accepted.
    pub const MAX_FRAMES: u32 = 1 << 20;

    /// A geometry with capacities rounded up to powers of two; `None` when out of range.
    pub fn new(
        data_bytes: u32,
        frames: u32,
        max_readers: u32,
        max_writers: u32,
        backpressure: u32,
    ) -> Option<Geometry> {
        if data_bytes == 0
            || frames == 0
            || data_bytes > Self::MAX_DATA
            || frames > Self::MAX_FRAMES
        {
            return None;
        }
        if max_readers == 0
            || max_writers == 0
            || max_readers > 64
            || max_writers > 64
            || backpressure > 1
        {
            return None;
        }
        Some(Geometry {
            data_cap: data_bytes.next_power_of_two().max(8),
            frame_cap: frames.next_power_of_two(),
            max_readers,
            max_writers,
            backpressure,
        })
    }

    /// One reader slot and one writer slot: the ring runs without its
    /// writer lock (see [`Ring::reserve`]). The kernel creates such rings
    /// for channels made with the single-writer, single-reader hint, and
    /// refuses a second party at attach.
    pub const fn single(&self) -> bool {
        self.max_readers == 1 && self.max_writers == 1
    }

    fn readers_off(&self) -> usize {
        HEADER
    }
    fn writers_off(&self) -> usize {
        HEADER + self.max_readers as usize * LINE
    }
    fn counters_off(&self) -> usize {
        self.writers_off() + self.max_writers as usize * LINE
    }
    /// Where the frame slots start: payload bytes lie from here on (inline
    /// in the slots, then the data ring).
    pub fn frames_offset(&self) -> usize {
        self.frames_off()
    }
    fn frames_off(&self) -> usize {
        self.counters_off() + self.max_writers as usize * LINE
    }
    fn data_off(&self) -> usize {
        self.frames_off() + self.frame_cap as usize * SLOT
    }
    /// Bytes of arena the ring occupies.
    pub fn region_size(&self) -> usize {
        self.data_off() + self.data_cap as usize
    }
    fn check_word(&self) -> u32 {
        let mut h = MAGIC ^ VERSION.rotate_left(7);
        for w in [
            self.backpressure,
            self.data_cap,
            self.frame_cap,
            self.max_readers,
            self.max_writers,
        ] {
            h = (h ^ w).wrapping_mul(0x9E37_79B1).rotate_left(13);
        }
        h
    }
}

/// Why a ring operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// No room for the frame (the caller parks or drops per backpressure).
    Full,
    /// No frame to read.
    Empty,
    /// The frame is larger than the ring, or than the reader's buffer (frame length given; it stays queued).
    TooLarge(u32),
    /// The ring's memory failed validation.
    Corrupt(Corruption),
    /// No free reader or writer slot.
    NoSlot,
    /// The writer lock stayed held past the spin budget (its holder is
    /// preempted, dead, or hostile); nothing changed, retry later.
    Busy,
    /// The reader/writer slot is not attached.
    NotAttached,
    /// No frame to read, but tombstones were skipped to find that out:
    /// like [`RingError::Empty`], and parked writers should be woken when
    /// `wake_writers` says so (room was freed).
    Skipped {
        /// Parked writers should be woken.
        wake_writers: bool,
    },
}

/// What validation found wrong; carried for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Magic, version, geometry or check word differ from the ring's creation.
    Header,
    /// A reader cursor is outside the live window.
    Cursor,
    /// A frame's position, length or writer is impossible.
    Frame,
}

impl Corruption {
    /// Short description.
    pub const fn describe(self) -> &'static str {
        match self {
            Corruption::Header => "header does not match the ring's geometry",
            Corruption::Cursor => "a reader cursor lies outside the live window",
            Corruption::Frame => "a frame's position, length or writer is impossible",
        }
    }
}

/// A completed write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Sequence number of the frame.
    pub seq: u32,
    /// Parked readers should be woken (the waiter bit was set and is now cleared).
    pub wake_readers: bool,
}

/// A completed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    /// Payload length.
    pub len: u32,
    /// Writer id that wrote the frame.
    pub writer: u32,
    /// The writer's owner when it reserved the frame (pid modulo 2^23, see
    /// [`OWNER_MASK`]; as reliable as the writer: a hostile one can lie).
    pub owner: u32,
    /// Sequence number.
    pub seq: u32,
    /// Parked writers should be woken.
    pub wake_writers: bool,
}

/// Counters read from the ring for introspection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Next frame number.
    pub head_seq: u32,
    /// Oldest retained frame.
    pub tail_seq: u32,
    /// Payload bytes of the frames between tail and head (the same on every
    /// board, inline or not).
    pub bytes_in_flight: u32,
    /// Data-ring bytes between tail and head: what limits the next write
    /// ([inline](INLINE) frames take none).
    pub data_in_flight: u32,
    /// Frames between tail and head.
    pub frames_in_flight: u32,
    /// Frames dropped under `Drop` backpressure.
    pub drops: u32,
    /// Waiter bits.
    pub waiters: u32,
    /// Doorbell count (wake-ups rung).
    pub doorbell: u32,
    /// Who holds the writer lock, if anyone.
    pub lock: Option<Holder>,
}

/// An endpoint named by the ring's lock word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Writer id.
    Writer(u32),
    /// Reader slot (the kernel attaching it).
    Reader(u32),
    /// A value no endpoint writes (scribbled).
    Unknown(u32),
}

impl Holder {
    fn from_tag(tag: u32) -> Holder {
        match tag {
            1..=0x100 => Holder::Writer(tag - 1),
            0x101..=0x200 => Holder::Reader(tag - 0x101),
            t => Holder::Unknown(t),
        }
    }
}

/// What [`Ring::drain`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Frames skipped (tombstones not counted).
    pub frames: u32,
    /// Parked writers should be woken.
    pub wake_writers: bool,
}

/// One reader cursor, for introspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderStat {
    /// Slot.
    pub slot: u32,
    /// Next frame this reader will read.
    pub seq: u32,
    /// Frames behind head.
    pub lag: u32,
}

/// One writer slot, for introspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterStat {
    /// Writer id.
    pub id: u32,
    /// Frames written.
    pub frames: u32,
    /// Bytes written (wrapping).
    pub bytes: u32,
}

/// A view of a ring in memory. Cheap to construct; holds no state of its own
/// except the trusted geometry.
pub struct Ring<'a, M: Memory = Raw<'a>> {
    mem: M,
    geo: Geometry,
    /// `geo.check_word()`, computed once: every operation compares it.
    check: u32,
    _mem: PhantomData<&'a ()>,
}

impl<M: Memory> core::fmt::Debug for Ring<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring").field("geometry", &self.geo).finish()
    }
}

impl<'a> Ring<'a> {
    /// Views `geo.region_size()` bytes at `base` as a ring.
    ///
    /// # Safety
    /// `base` must be 4-byte aligned and valid for reads and writes of
    /// `geo.region_size()` bytes for `'a`, and only accessed through rings
    /// (or as plain bytes by code that accepts being reported corrupt).
    pub unsafe fn from_raw(base: *mut u8, geo: Geometry) -> Ring<'a> {
        debug_assert!(base as usize % 4 == 0);
        // SAFETY: forwarded contract.
        Ring::over(unsafe { Raw::new(base, geo.data_off()) }, geo)
    }

    /// Initialises a ring's memory (zeroing cursors and frames) and returns it.
    ///
    /// # Safety
    /// As [`Ring::from_raw`], and no other party may use the memory yet.
    pub unsafe fn init(base: *mut u8, geo: Geometry) -> Ring<'a> {
        // SAFETY: the region is ours alone during init.
        unsafe { core::ptr::write_bytes(base, 0, geo.data_off()) };
        // SAFETY: forwarded contract.
        let ring = unsafe { Ring::from_raw(base, geo) };
        ring.write_header();
        ring
    }
}

impl<'a, M: Memory> Ring<'a, M> {
    /// A ring over `mem`, whose header was written by [`Ring::init_over`] (or
    /// [`Ring::init`]) with the same geometry.
    pub fn over(mem: M, geo: Geometry) -> Ring<'a, M> {
        Ring {
            mem,
            geo,
            check: geo.check_word(),
            _mem: PhantomData,
        }
    }

    /// Writes a fresh header over zeroed memory (as [`Ring::init`] does).
    pub fn init_over(mem: M, geo: Geometry) -> Ring<'a, M> {
        let ring = Ring::over(mem, geo);
        ring.write_header();
        ring
    }

    fn write_header(&self) {
        let g = &self.geo;
        for (off, v) in [
            (H_MAGIC, MAGIC),
            (H_VERSION, VERSION),
            (H_BACKPRESSURE, g.backpressure),
            (H_DATA_CAP, g.data_cap),
            (H_FRAME_CAP, g.frame_cap),
            (H_READERS, g.max_readers),
            (H_WRITERS, g.max_writers),
        ] {
            self.mem.store(off, v, Ordering::Relaxed);
        }
        self.mem.store(H_CHECK, g.check_word(), Ordering::Release);
    }

    /// The trusted geometry.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// The memory the ring runs on.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    fn reader_off(&self, slot: u32, word: usize) -> usize {
        self.geo.readers_off() + slot as usize * LINE + word * 4
    }
    fn writer_off(&self, id: u32, word: usize) -> usize {
        self.geo.writers_off() + id as usize * LINE + word * 4
    }
    /// Writer `id`'s counters: word 0 frames, word 1 bytes.
    fn counter_off(&self, id: u32, word: usize) -> usize {
        self.geo.counters_off() + id as usize * LINE + word * 4
    }
    fn frame_off(&self, seq: u32, word: usize) -> usize {
        let idx = (seq & (self.geo.frame_cap - 1)) as usize;
        self.geo.frames_off() + idx * SLOT + word * 4
    }
    fn load(&self, off: usize, o: Ordering) -> u32 {
        self.mem.load(off, o)
    }
    fn store(&self, off: usize, v: u32, o: Ordering) {
        self.mem.store(off, v, o)
    }

    /// Checks the header against the trusted geometry: every word at
    /// attach ([`Ring::validate_header_fully`]), and per operation the magic
    /// and the check word (a hash of version and geometry). The ring runs
    /// on the trusted geometry alone, so the header is a tripwire for
    /// scribbles, and two words trip it as well as eight, for a quarter of
    /// the loads.
    pub fn validate_header(&self) -> Result<(), RingError> {
        if self.load(H_MAGIC, Ordering::Relaxed) == MAGIC
            && self.load(H_CHECK, Ordering::Relaxed) == self.check
        {
            Ok(())
        } else {
            Err(RingError::Corrupt(Corruption::Header))
        }
    }

    /// Checks every header word against the trusted geometry.
    pub fn validate_header_fully(&self) -> Result<(), RingError> {
        let g = &self.geo;
        let ok = [
            (H_MAGIC, MAGIC),
            (H_VERSION, VERSION),
            (H_BACKPRESSURE, g.backpressure),
            (H_DATA_CAP, g.data_cap),
            (H_FRAME_CAP, g.frame_cap),
            (H_READERS, g.max_readers),
            (H_WRITERS, g.max_writers),
            (H_CHECK, self.check),
        ]
        .iter()
        .all(|(off, v)| self.load(*off, Ordering::Relaxed) == *v);
        if ok {
            Ok(())
        } else {
            Err(RingError::Corrupt(Corruption::Header))
        }
    }

    /// Takes the short writer lock as `tag` (who holds it, so the kernel
    /// can release a lock whose holder stopped). The spin is bounded: the
    /// lock word lives in memory guests can write, and the kernel must never
    /// spin forever on it.
    fn lock(&self, tag: u32) -> Result<(), RingError> {
        // The lock is held for a handful of instructions, so a long wait
        // means its holder was descheduled: the caller then yields its core
        // (the SDK does) rather than spin it away (with 4 writers on 2 cores,
        // 2^16 tries made the fan-in bench 2x slower).
        for _ in 0..M::LOCK_SPINS {
            if self
                .mem
                .compare_exchange(H_LOCK, 0, tag, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
            self.mem.spin();
        }
        Err(RingError::Busy)
    }
    fn unlock(&self) {
        self.store(H_LOCK, 0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
