//! Tidemark's channel ring, implemented once for every access path.
//!
//! A channel is one contiguous region of an arena laid out as:
//!
//! ```text
//! +--------------------+  0
//! | header (192 B)     |  line 0: magic, version, geometry, check word (read-only)
//! |                    |  line 1: writer lock, head/tail (seq + byte position), drops
//! |                    |  line 2: waiter bits, doorbell
//! +--------------------+  192
//! | reader cursors     |  max_readers x LINE: state, seq, pos
//! +--------------------+
//! | writer slots       |  max_writers x LINE: state, owner pid (read by readers)
//! +--------------------+
//! | writer counters    |  max_writers x LINE: frames, bytes (written per frame)
//! +--------------------+
//! | frame ring         |  frame_cap x 16 B: stamp, writer, pos, len
//! +--------------------+
//! | data ring          |  data_cap bytes, frames stored contiguously (wrapping)
//! +--------------------+
//! ```
//!
//! Frame metadata and payload bytes live in separate rings, so a reader
//! scanning metadata touches one cache line per frame. Writers reserve a
//! frame number and a byte range under a short spin lock, copy their payload
//! without it, and publish by storing the frame's `stamp` (`seq + 1`) with
//! release ordering; readers are lock-free and each owns its cursor. The
//! slowest active reader bounds the writers (the *tail*); with no reader
//! attached, frames are retained until one attaches.
//!
//! The header's three parts sit on separate cache lines, so the words every
//! operation validates are never written after creation and do not bounce
//! between cores with the writers' words. Writers keep the tail they last
//! computed and rescan the reader cursors only when the ring looks full;
//! readers look at the frame's stamp first and at the head only when there
//! is nothing to read.
//!
//! All mutable state is `u32` atomics (rv32 has no 64-bit atomics), so the
//! same code runs in the kernel on a guest's behalf (the copying path) and,
//! later, in a guest directly on memory mapped into it (the zero-copy path).
//!
//! The ring never trusts the memory it runs on: geometry comes from the
//! [`Geometry`] the caller kept at creation and is compared with the header,
//! and every frame is validated before it is copied out. Scribbled memory
//! yields [`RingError::Corrupt`] for this ring and nothing worse.
#![no_std]
#![warn(missing_docs)]

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

/// `"TMRG"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"TMRG");
/// Layout version.
pub const VERSION: u32 = 3;
/// Header size in bytes (three cache lines).
pub const HEADER: usize = 192;
const SLOT: usize = 16;
/// Stride of reader cursors, writer slots and writer counters: one cache
/// line each on hosts whose cores share memory, so one party's per-frame
/// stores never evict a line another party reads per frame (a reader that
/// looked up a frame's writer on the line where that writer counts its
/// frames paid a line transfer per frame: 3x the cost of the ring itself).
/// The single-core rv32 boards keep 16 B: no line is shared there, and RAM
/// is what they lack.
const LINE: usize = if cfg!(target_arch = "riscv32") { 16 } else { 64 };
/// Attempts at the writer lock before giving up with [`RingError::Busy`].
/// The lock is held for a handful of instructions, so a long wait means its
/// holder was descheduled: the caller then yields its core (the SDK does)
/// rather than spin it away (with 4 writers on 2 cores, 2^16 tries made the
/// fan-in bench 2x slower).
const LOCK_SPINS: u32 = 1 << 10;

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
const H_HEAD_SEQ: usize = 68;
const H_HEAD_POS: usize = 72;
const H_TAIL_SEQ: usize = 76;
const H_TAIL_POS: usize = 80;
const H_DROPS: usize = 84;
// Line 2: touched only around parking.
const H_WAITERS: usize = 128;
const H_DOORBELL: usize = 132;

/// One shared word of the ring.
///
/// On wasm every atomic instruction is sequentially consistent (cranelift
/// makes each atomic store an `xchg` on x86), so the ring's many `Relaxed`
/// accesses, free natively, would each cost a full barrier in a guest.
/// There they are plain aligned 32-bit accesses instead (volatile, so the
/// compiler neither merges nor elides them): wasm defines racing plain
/// accesses (no undefined behaviour, and an aligned word does not tear on
/// the hosts wasmtime runs on), and every ordering the ring relies on is
/// carried by its Acquire/Release/SeqCst accesses, which stay atomic.
#[repr(transparent)]
struct Word(AtomicU32);

impl Word {
    #[inline(always)]
    fn load(&self, o: Ordering) -> u32 {
        if cfg!(target_arch = "wasm32") && o == Ordering::Relaxed {
            // SAFETY: an aligned word inside the ring (see `Ring::from_raw`).
            unsafe { core::ptr::read_volatile(self.0.as_ptr()) }
        } else {
            self.0.load(o)
        }
    }
    #[inline(always)]
    fn store(&self, v: u32, o: Ordering) {
        if cfg!(target_arch = "wasm32") && o == Ordering::Relaxed {
            // SAFETY: as in `load`.
            unsafe { core::ptr::write_volatile(self.0.as_ptr(), v) }
        } else {
            self.0.store(v, o)
        }
    }
    /// Adds to a word only one party writes (a writer's own counters).
    #[inline(always)]
    fn add_own(&self, v: u32) {
        self.store(self.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }
    fn compare_exchange(&self, cur: u32, new: u32, ok: Ordering, err: Ordering) -> Result<u32, u32> {
        self.0.compare_exchange(cur, new, ok, err)
    }
    fn compare_exchange_weak(&self, cur: u32, new: u32, ok: Ordering, err: Ordering) -> Result<u32, u32> {
        self.0.compare_exchange_weak(cur, new, ok, err)
    }
    fn fetch_add(&self, v: u32, o: Ordering) -> u32 {
        self.0.fetch_add(v, o)
    }
    fn fetch_or(&self, v: u32, o: Ordering) -> u32 {
        self.0.fetch_or(v, o)
    }
    fn fetch_and(&self, v: u32, o: Ordering) -> u32 {
        self.0.fetch_and(v, o)
    }
}

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
    pub fn new(data_bytes: u32, frames: u32, max_readers: u32, max_writers: u32, backpressure: u32) -> Option<Geometry> {
        if data_bytes == 0 || frames == 0 || data_bytes > Self::MAX_DATA || frames > Self::MAX_FRAMES {
            return None;
        }
        if max_readers == 0 || max_writers == 0 || max_readers > 64 || max_writers > 64 || backpressure > 1 {
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

    fn readers_off(&self) -> usize {
        HEADER
    }
    fn writers_off(&self) -> usize {
        HEADER + self.max_readers as usize * LINE
    }
    fn counters_off(&self) -> usize {
        self.writers_off() + self.max_writers as usize * LINE
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
        for w in [self.backpressure, self.data_cap, self.frame_cap, self.max_readers, self.max_writers] {
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
    /// Payload bytes between tail and head.
    pub bytes_in_flight: u32,
    /// Frames between tail and head.
    pub frames_in_flight: u32,
    /// Frames dropped under `Drop` backpressure.
    pub drops: u32,
    /// Waiter bits.
    pub waiters: u32,
    /// Doorbell count (wake-ups rung).
    pub doorbell: u32,
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
pub struct Ring<'a> {
    base: NonNull<u8>,
    geo: Geometry,
    /// `geo.check_word()`, computed once: every operation compares it.
    check: u32,
    _mem: PhantomData<&'a [AtomicU32]>,
}

impl core::fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring").field("base", &self.base).field("geometry", &self.geo).finish()
    }
}

// SAFETY: all shared mutable state is accessed through atomics; payload bytes
// are handed over through release/acquire on the frame stamps.
unsafe impl Send for Ring<'_> {}
unsafe impl Sync for Ring<'_> {}

impl<'a> Ring<'a> {
    /// Views `geo.region_size()` bytes at `base` as a ring.
    ///
    /// # Safety
    /// `base` must be 4-byte aligned and valid for reads and writes of
    /// `geo.region_size()` bytes for `'a`, and only accessed through rings
    /// (or as plain bytes by code that accepts being reported corrupt).
    pub unsafe fn from_raw(base: *mut u8, geo: Geometry) -> Ring<'a> {
        debug_assert!(base as usize % 4 == 0);
        Ring { base: NonNull::new(base).expect("ring base is null"), geo, check: geo.check_word(), _mem: PhantomData }
    }

    /// Initialises a ring's memory (zeroing cursors and frames) and returns it.
    ///
    /// # Safety
    /// As [`Ring::from_raw`], and no other party may use the memory yet.
    pub unsafe fn init(base: *mut u8, geo: Geometry) -> Ring<'a> {
        // SAFETY: forwarded contract.
        let ring = unsafe { Ring::from_raw(base, geo) };
        // SAFETY: the region is ours alone during init.
        unsafe { core::ptr::write_bytes(base, 0, geo.data_off()) };
        ring.w(H_MAGIC).store(MAGIC, Ordering::Relaxed);
        ring.w(H_VERSION).store(VERSION, Ordering::Relaxed);
        ring.w(H_BACKPRESSURE).store(geo.backpressure, Ordering::Relaxed);
        ring.w(H_DATA_CAP).store(geo.data_cap, Ordering::Relaxed);
        ring.w(H_FRAME_CAP).store(geo.frame_cap, Ordering::Relaxed);
        ring.w(H_READERS).store(geo.max_readers, Ordering::Relaxed);
        ring.w(H_WRITERS).store(geo.max_writers, Ordering::Relaxed);
        ring.w(H_CHECK).store(geo.check_word(), Ordering::Release);
        ring
    }

    /// The trusted geometry.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    fn w(&self, off: usize) -> &Word {
        debug_assert!(off + 4 <= self.geo.data_off());
        // SAFETY: `off` is inside the header/slot area, 4-aligned, and the
        // region is valid for 'a per the constructor's contract; `Word` is a
        // transparent `AtomicU32`.
        unsafe { &*self.base.as_ptr().add(off).cast::<Word>() }
    }
    fn reader(&self, slot: u32, word: usize) -> &Word {
        self.w(self.geo.readers_off() + slot as usize * LINE + word * 4)
    }
    fn writer(&self, id: u32, word: usize) -> &Word {
        self.w(self.geo.writers_off() + id as usize * LINE + word * 4)
    }
    /// Writer `id`'s counters: word 0 frames, word 1 bytes.
    fn counter(&self, id: u32, word: usize) -> &Word {
        self.w(self.geo.counters_off() + id as usize * LINE + word * 4)
    }
    fn frame(&self, seq: u32, word: usize) -> &Word {
        let idx = (seq & (self.geo.frame_cap - 1)) as usize;
        self.w(self.geo.frames_off() + idx * SLOT + word * 4)
    }

    /// Checks the header against the trusted geometry.
    pub fn validate_header(&self) -> Result<(), RingError> {
        let g = &self.geo;
        let ok = self.w(H_MAGIC).load(Ordering::Relaxed) == MAGIC
            && self.w(H_VERSION).load(Ordering::Relaxed) == VERSION
            && self.w(H_BACKPRESSURE).load(Ordering::Relaxed) == g.backpressure
            && self.w(H_DATA_CAP).load(Ordering::Relaxed) == g.data_cap
            && self.w(H_FRAME_CAP).load(Ordering::Relaxed) == g.frame_cap
            && self.w(H_READERS).load(Ordering::Relaxed) == g.max_readers
            && self.w(H_WRITERS).load(Ordering::Relaxed) == g.max_writers
            && self.w(H_CHECK).load(Ordering::Relaxed) == self.check;
        if ok { Ok(()) } else { Err(RingError::Corrupt(Corruption::Header)) }
    }

    /// Takes the short writer lock as `tag` (who holds it, so a departing
    /// endpoint can release a lock it abandoned). The spin is bounded: the
    /// lock word lives in memory guests can write, and the kernel must never
    /// spin forever on it.
    fn lock(&self, tag: u32) -> Result<(), RingError> {
        let l = self.w(H_LOCK);
        for _ in 0..LOCK_SPINS {
            if l.compare_exchange_weak(0, tag, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(RingError::Busy)
    }
    fn unlock(&self) {
        self.w(H_LOCK).store(0, Ordering::Release);
    }
    /// Releases the lock if `tag` still holds it (its holder is gone).
    fn release_abandoned(&self, tag: u32) {
        let _ = self.w(H_LOCK).compare_exchange(tag, 0, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Claims a reader slot, starting at the oldest retained frame.
    pub fn attach_reader(&self) -> Result<u32, RingError> {
        self.validate_header()?;
        for slot in 0..self.geo.max_readers {
            if self.reader(slot, 0).compare_exchange(0, 2, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                if let Err(e) = self.lock(reader_tag(slot)) {
                    self.reader(slot, 0).store(0, Ordering::Release);
                    return Err(e);
                }
                let (seq, pos) = (self.w(H_TAIL_SEQ).load(Ordering::Relaxed), self.w(H_TAIL_POS).load(Ordering::Relaxed));
                self.reader(slot, 1).store(seq, Ordering::Relaxed);
                self.reader(slot, 2).store(pos, Ordering::Relaxed);
                self.reader(slot, 0).store(1, Ordering::Release);
                self.unlock();
                return Ok(slot);
            }
        }
        Err(RingError::NoSlot)
    }

    /// Releases a reader slot; returns whether parked writers should be woken.
    pub fn detach_reader(&self, slot: u32) -> bool {
        if slot < self.geo.max_readers {
            self.reader(slot, 0).store(0, Ordering::SeqCst);
            self.release_abandoned(reader_tag(slot));
        }
        self.take_waiters(WAIT_WRITERS)
    }

    /// Claims a writer id.
    pub fn attach_writer(&self) -> Result<u32, RingError> {
        self.validate_header()?;
        for id in 0..self.geo.max_writers {
            if self.writer(id, 0).compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.counter(id, 0).store(0, Ordering::Relaxed);
                self.counter(id, 1).store(0, Ordering::Relaxed);
                return Ok(id);
            }
        }
        Err(RingError::NoSlot)
    }

    /// Records which process holds writer `id` (the kernel does, at attach),
    /// so readers running the ring in place can attribute frames. Like every
    /// word in the ring, a hostile writer can overwrite it: it can mislead
    /// only this ring's readers.
    pub fn set_writer_owner(&self, id: u32, owner: u32) {
        if id < self.geo.max_writers {
            self.writer(id, 1).store(owner, Ordering::Release);
        }
    }

    /// The process recorded for writer `id` (0 if none or out of range).
    pub fn writer_owner(&self, id: u32) -> u32 {
        if id < self.geo.max_writers { self.writer(id, 1).load(Ordering::Acquire) } else { 0 }
    }

    /// Releases a writer id.
    pub fn detach_writer(&self, id: u32) {
        if id < self.geo.max_writers {
            self.writer(id, 0).store(0, Ordering::Release);
            self.release_abandoned(writer_tag(id));
        }
    }

    /// Recomputes the tail from the active readers (lock held).
    fn refresh_tail(&self, head_seq: u32) -> Result<(u32, u32), RingError> {
        let mut best: Option<(u32, u32, u32)> = None;
        for slot in 0..self.geo.max_readers {
            if self.reader(slot, 0).load(Ordering::Acquire) != 1 {
                continue;
            }
            let seq = self.reader(slot, 1).load(Ordering::Acquire);
            let pos = self.reader(slot, 2).load(Ordering::Acquire);
            let behind = head_seq.wrapping_sub(seq);
            if behind > self.geo.frame_cap {
                return Err(RingError::Corrupt(Corruption::Cursor));
            }
            if best.is_none_or(|(b, _, _)| behind > b) {
                best = Some((behind, seq, pos));
            }
        }
        match best {
            Some((_, seq, pos)) => {
                self.w(H_TAIL_SEQ).store(seq, Ordering::Relaxed);
                self.w(H_TAIL_POS).store(pos, Ordering::Relaxed);
                Ok((seq, pos))
            }
            None => Ok((self.w(H_TAIL_SEQ).load(Ordering::Relaxed), self.w(H_TAIL_POS).load(Ordering::Relaxed))),
        }
    }

    /// Writes one frame as writer `id`. `Full` leaves the ring untouched.
    pub fn write(&self, id: u32, payload: &[u8]) -> Result<Written, RingError> {
        self.validate_header()?;
        if id >= self.geo.max_writers || self.writer(id, 0).load(Ordering::Relaxed) != 1 {
            return Err(RingError::NotAttached);
        }
        let len = u32::try_from(payload.len()).map_err(|_| RingError::TooLarge(u32::MAX))?;
        if len > self.geo.data_cap {
            return Err(RingError::TooLarge(len));
        }
        self.lock(writer_tag(id))?;
        let head_seq = self.w(H_HEAD_SEQ).load(Ordering::Relaxed);
        let head_pos = self.w(H_HEAD_POS).load(Ordering::Relaxed);
        // The tail last computed is never ahead of the real one (readers only
        // move forward): if it leaves room, there is room.
        let cached = (self.w(H_TAIL_SEQ).load(Ordering::Relaxed), self.w(H_TAIL_POS).load(Ordering::Relaxed));
        let fits = |(seq, pos): (u32, u32)| -> Result<bool, RingError> {
            let bytes_used = head_pos.wrapping_sub(pos);
            if bytes_used > self.geo.data_cap || head_seq.wrapping_sub(seq) > self.geo.frame_cap {
                return Err(RingError::Corrupt(Corruption::Cursor));
            }
            Ok(head_seq.wrapping_sub(seq) < self.geo.frame_cap && bytes_used + len <= self.geo.data_cap)
        };
        let room = match fits(cached) {
            Ok(true) => Ok(true),
            _ => self.refresh_tail(head_seq).and_then(fits),
        };
        match room {
            Ok(true) => {}
            Ok(false) => {
                self.unlock();
                return Err(RingError::Full);
            }
            Err(e) => {
                self.unlock();
                return Err(e);
            }
        }
        self.w(H_HEAD_SEQ).store(head_seq.wrapping_add(1), Ordering::Relaxed);
        self.w(H_HEAD_POS).store(head_pos.wrapping_add(len), Ordering::Relaxed);
        // The frame slot may still carry the stamp of frame `head_seq -
        // frame_cap` (or 0): never `head_seq + 1`, so no reader mistakes it
        // for this frame, and it needs no clearing. (Clearing it here cost a
        // cache-line round trip per frame on wasm, where the unlock's store
        // is followed by a full fence that waited for this store to the line
        // the reader had just read.)
        self.unlock();

        self.copy_in(head_pos, payload);
        self.frame(head_seq, 1).store(id, Ordering::Relaxed);
        self.frame(head_seq, 2).store(head_pos, Ordering::Relaxed);
        self.frame(head_seq, 3).store(len, Ordering::Relaxed);
        // SeqCst: orders the publication before `take_waiters` looks at the
        // waiter bits (the parking side sets them with a SeqCst RMW, then
        // retries): neither can miss the other, so no wake-up is lost.
        self.frame(head_seq, 0).store(head_seq.wrapping_add(1), Ordering::SeqCst);
        self.counter(id, 0).add_own(1);
        self.counter(id, 1).add_own(len);
        Ok(Written { seq: head_seq, wake_readers: self.take_waiters(WAIT_READERS) })
    }

    /// Counts a frame discarded under `Drop` backpressure.
    pub fn count_drop(&self) {
        self.w(H_DROPS).fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one frame for reader `slot` into `buf`.
    pub fn read(&self, slot: u32, buf: &mut [u8]) -> Result<Read, RingError> {
        self.validate_header()?;
        if slot >= self.geo.max_readers || self.reader(slot, 0).load(Ordering::Relaxed) != 1 {
            return Err(RingError::NotAttached);
        }
        let seq = self.reader(slot, 1).load(Ordering::Relaxed);
        let pos = self.reader(slot, 2).load(Ordering::Relaxed);
        // The stamp alone says whether frame `seq` is published, so a reader
        // polling an empty ring touches no line the writers write but this
        // one. A cursor scribbled out of the live window also reads as empty
        // here: `validate_cursor`, before a reader parks, tells the two apart.
        if self.frame(seq, 0).load(Ordering::Acquire) != seq.wrapping_add(1) {
            return Err(RingError::Empty);
        }
        let writer = self.frame(seq, 1).load(Ordering::Relaxed);
        let fpos = self.frame(seq, 2).load(Ordering::Relaxed);
        let len = self.frame(seq, 3).load(Ordering::Relaxed);
        if fpos != pos || len > self.geo.data_cap || writer >= self.geo.max_writers {
            return Err(RingError::Corrupt(Corruption::Frame));
        }
        if len as usize > buf.len() {
            return Err(RingError::TooLarge(len));
        }
        self.copy_out(pos, &mut buf[..len as usize]);
        self.reader(slot, 2).store(pos.wrapping_add(len), Ordering::Relaxed);
        // SeqCst, for the same reason as a write's publication.
        self.reader(slot, 1).store(seq.wrapping_add(1), Ordering::SeqCst);
        Ok(Read { len, writer, seq, wake_writers: self.take_waiters(WAIT_WRITERS) })
    }

    /// Checks reader `slot`'s cursor against the head: call before parking
    /// on an empty ring, so a scribbled cursor is reported, not slept on.
    pub fn validate_cursor(&self, slot: u32) -> Result<(), RingError> {
        self.validate_header()?;
        if slot >= self.geo.max_readers || self.reader(slot, 0).load(Ordering::Relaxed) != 1 {
            return Err(RingError::NotAttached);
        }
        let seq = self.reader(slot, 1).load(Ordering::Relaxed);
        if self.w(H_HEAD_SEQ).load(Ordering::Acquire).wrapping_sub(seq) > self.geo.frame_cap {
            return Err(RingError::Corrupt(Corruption::Cursor));
        }
        Ok(())
    }

    /// Moves reader `slot` past every published frame; returns the frames
    /// skipped.
    ///
    /// It stops at the first frame not yet published: a writer may have
    /// reserved it (moving the head) and still be copying its payload. Moving
    /// the cursor past such a frame would let writers reuse its frame slot
    /// and bytes while the late writer still stores into them. Frames are
    /// validated as `read` validates them; a corrupt one leaves the cursor
    /// where it was.
    pub fn drain(&self, slot: u32) -> Result<u32, RingError> {
        self.validate_header()?;
        if slot >= self.geo.max_readers || self.reader(slot, 0).load(Ordering::Relaxed) != 1 {
            return Err(RingError::NotAttached);
        }
        let start = self.reader(slot, 1).load(Ordering::Relaxed);
        let (mut seq, mut pos) = (start, self.reader(slot, 2).load(Ordering::Relaxed));
        // The cursor bounds the writers, so no frame slot from it onwards is
        // reused during the walk: a stamp of `seq + 1` means frame `seq`.
        while seq.wrapping_sub(start) < self.geo.frame_cap && self.frame(seq, 0).load(Ordering::Acquire) == seq.wrapping_add(1) {
            let writer = self.frame(seq, 1).load(Ordering::Relaxed);
            let fpos = self.frame(seq, 2).load(Ordering::Relaxed);
            let len = self.frame(seq, 3).load(Ordering::Relaxed);
            if fpos != pos || len > self.geo.data_cap || writer >= self.geo.max_writers {
                return Err(RingError::Corrupt(Corruption::Frame));
            }
            pos = pos.wrapping_add(len);
            seq = seq.wrapping_add(1);
        }
        let skipped = seq.wrapping_sub(start);
        if skipped == 0 {
            return Ok(0);
        }
        // Under the lock, so a writer's `refresh_tail` never sees the new
        // position with the old sequence number.
        self.lock(reader_tag(slot))?;
        self.reader(slot, 2).store(pos, Ordering::Relaxed);
        // SeqCst, as in `read`.
        self.reader(slot, 1).store(seq, Ordering::SeqCst);
        self.unlock();
        Ok(skipped)
    }

    /// Announces that a side is about to park. The caller must retry its
    /// operation once after this before parking, so a wake-up between its
    /// failed attempt and this call is not lost.
    pub fn set_waiting(&self, bits: u32) {
        self.w(H_WAITERS).fetch_or(bits, Ordering::SeqCst);
    }

    /// Called after a SeqCst publication (see `write`, `read`).
    fn take_waiters(&self, bits: u32) -> bool {
        let w = self.w(H_WAITERS);
        if w.load(Ordering::SeqCst) & bits == 0 {
            return false;
        }
        w.fetch_and(!bits, Ordering::SeqCst);
        self.w(H_DOORBELL).fetch_add(1, Ordering::Release);
        true
    }

    /// The doorbell word, for waiters that sleep on it (futex-style).
    pub fn doorbell(&self) -> &AtomicU32 {
        &self.w(H_DOORBELL).0
    }

    /// Whether at least `frames` frames and `bytes` bytes are free, as far
    /// as a look at the head and the readers' cursors without the lock can
    /// tell (a hint: `write` decides). A writer that found the ring full
    /// waits for this before trying again, so it does not take back each
    /// slot the moment a reader frees it: every such look reads the line
    /// the reader is writing its cursor on, and one look per frame slows
    /// both sides to a cache-line round trip per frame.
    pub fn has_room(&self, frames: u32, bytes: u32) -> bool {
        let head_seq = self.w(H_HEAD_SEQ).load(Ordering::Relaxed);
        let head_pos = self.w(H_HEAD_POS).load(Ordering::Relaxed);
        let mut tail = None::<(u32, u32)>;
        for slot in 0..self.geo.max_readers {
            if self.reader(slot, 0).load(Ordering::Relaxed) != 1 {
                continue;
            }
            let seq = self.reader(slot, 1).load(Ordering::Acquire);
            let pos = self.reader(slot, 2).load(Ordering::Relaxed);
            if tail.is_none_or(|(s, _)| head_seq.wrapping_sub(seq) > head_seq.wrapping_sub(s)) {
                tail = Some((seq, pos));
            }
        }
        let (seq, pos) = tail.unwrap_or((self.w(H_TAIL_SEQ).load(Ordering::Relaxed), self.w(H_TAIL_POS).load(Ordering::Relaxed)));
        let frames_free = self.geo.frame_cap.saturating_sub(head_seq.wrapping_sub(seq));
        let bytes_free = self.geo.data_cap.saturating_sub(head_pos.wrapping_sub(pos));
        frames_free >= frames.min(self.geo.frame_cap) && bytes_free >= bytes.min(self.geo.data_cap)
    }

    /// Frames writer `id` has written since it attached (as read).
    pub fn writer_frames(&self, id: u32) -> u32 {
        if id < self.geo.max_writers { self.counter(id, 0).load(Ordering::Relaxed) } else { 0 }
    }

    /// The next frame reader `slot` will read (as read).
    pub fn reader_seq(&self, slot: u32) -> u32 {
        if slot < self.geo.max_readers { self.reader(slot, 1).load(Ordering::Relaxed) } else { 0 }
    }

    /// Counters for introspection (not validated; reported as read).
    pub fn stats(&self) -> RingStats {
        let head_seq = self.w(H_HEAD_SEQ).load(Ordering::Relaxed);
        let head_pos = self.w(H_HEAD_POS).load(Ordering::Relaxed);
        // Oldest active reader, else the stored tail.
        let mut tail = (self.w(H_TAIL_SEQ).load(Ordering::Relaxed), self.w(H_TAIL_POS).load(Ordering::Relaxed));
        let mut worst = None;
        for r in self.readers() {
            if worst.is_none_or(|w| r.lag > w) {
                worst = Some(r.lag);
                tail = (r.seq, self.reader(r.slot, 2).load(Ordering::Relaxed));
            }
        }
        RingStats {
            head_seq,
            tail_seq: tail.0,
            bytes_in_flight: head_pos.wrapping_sub(tail.1),
            frames_in_flight: head_seq.wrapping_sub(tail.0),
            drops: self.w(H_DROPS).load(Ordering::Relaxed),
            waiters: self.w(H_WAITERS).load(Ordering::Relaxed),
            doorbell: self.w(H_DOORBELL).load(Ordering::Relaxed),
        }
    }

    /// Active reader cursors.
    pub fn readers(&self) -> impl Iterator<Item = ReaderStat> + '_ {
        let head = self.w(H_HEAD_SEQ).load(Ordering::Relaxed);
        (0..self.geo.max_readers).filter(|s| self.reader(*s, 0).load(Ordering::Relaxed) == 1).map(move |slot| {
            let seq = self.reader(slot, 1).load(Ordering::Relaxed);
            ReaderStat { slot, seq, lag: head.wrapping_sub(seq) }
        })
    }

    /// Active writer slots.
    pub fn writers(&self) -> impl Iterator<Item = WriterStat> + '_ {
        (0..self.geo.max_writers).filter(|i| self.writer(*i, 0).load(Ordering::Relaxed) == 1).map(|id| WriterStat {
            id,
            frames: self.counter(id, 0).load(Ordering::Relaxed),
            bytes: self.counter(id, 1).load(Ordering::Relaxed),
        })
    }

    fn data_ptr(&self) -> *mut u8 {
        // SAFETY: data_off is within the region.
        unsafe { self.base.as_ptr().add(self.geo.data_off()) }
    }

    fn copy_in(&self, pos: u32, src: &[u8]) {
        let cap = self.geo.data_cap as usize;
        let at = pos as usize & (cap - 1);
        let first = src.len().min(cap - at);
        // SAFETY: both spans lie inside the data ring; this byte range is
        // reserved for this writer until the stamp is published.
        unsafe {
            copy(src.as_ptr(), self.data_ptr().add(at), first);
            if first < src.len() {
                copy(src.as_ptr().add(first), self.data_ptr(), src.len() - first);
            }
        }
    }

    fn copy_out(&self, pos: u32, dst: &mut [u8]) {
        let cap = self.geo.data_cap as usize;
        let at = pos as usize & (cap - 1);
        let first = dst.len().min(cap - at);
        // SAFETY: both spans lie inside the data ring; writers do not reuse
        // them until this reader's cursor passes.
        unsafe {
            copy(self.data_ptr().add(at), dst.as_mut_ptr(), first);
            if first < dst.len() {
                copy(self.data_ptr(), dst.as_mut_ptr().add(first), dst.len() - first);
            }
        }
    }
}

/// Copies `len` bytes between non-overlapping spans. On wasm a `memcpy` is
/// `memory.copy`, which wasmtime runs as a call out of the guest (tens of
/// ns): small frames are copied 8 bytes at a time in place instead.
///
/// # Safety
/// As [`core::ptr::copy_nonoverlapping`].
#[inline(always)]
unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
    const INLINE: usize = 256;
    if !cfg!(target_arch = "wasm32") || len > INLINE {
        // SAFETY: forwarded contract.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    let mut i = 0;
    // Volatile, so the loop is not turned back into a `memcpy`.
    while i + 8 <= len {
        // SAFETY: `i + 8 <= len`; unaligned access is allowed on wasm.
        unsafe { core::ptr::write_volatile(dst.add(i).cast::<[u8; 8]>(), core::ptr::read_volatile(src.add(i).cast::<[u8; 8]>())) };
        i += 8;
    }
    while i < len {
        // SAFETY: `i < len`.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        i += 1;
    }
}

#[cfg(test)]
mod tests;
