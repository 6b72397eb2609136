//! Where a ring's words and payload bytes live.
//!
//! The ring's logic is written once over [`Memory`]: [`Raw`] is shared
//! memory (an arena region in the kernel, a mapped window in a guest), and
//! the model checkers' tests put loom's or shuttle's atomics behind the same
//! trait, so the code they explore is the code that ships.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

/// The operations the ring performs on its memory. Word offsets are byte
/// offsets from the start of the ring (4-aligned, below the data ring);
/// data offsets are too, into a frame slot's inline bytes or the data
/// ring, never wrapping (the ring splits a wrapping copy in two).
pub trait Memory {
    /// Attempts at the writer lock before [`crate::RingError::Busy`].
    const LOCK_SPINS: u32 = 1 << 10;
    /// Loads a word.
    fn load(&self, off: usize, o: Ordering) -> u32;
    /// Stores a word.
    fn store(&self, off: usize, v: u32, o: Ordering);
    /// Compare-and-swap of a word.
    fn compare_exchange(
        &self,
        off: usize,
        cur: u32,
        new: u32,
        ok: Ordering,
        err: Ordering,
    ) -> Result<u32, u32>;
    /// Atomic add; returns the previous value.
    fn fetch_add(&self, off: usize, v: u32, o: Ordering) -> u32;
    /// Atomic or; returns the previous value.
    fn fetch_or(&self, off: usize, v: u32, o: Ordering) -> u32;
    /// Atomic and; returns the previous value.
    fn fetch_and(&self, off: usize, v: u32, o: Ordering) -> u32;
    /// A memory fence.
    fn fence(&self, o: Ordering);
    /// Stores `v` at `store` with release ordering, then loads the word at
    /// `load`, which may not be read before the store is visible: the fast
    /// side of the waiting handshake (a publication, then a look at the
    /// waiter bits), whose slow side is [`crate::Ring::set_waiting`]'s
    /// read-modify-write and fence.
    ///
    /// Written here as a store, a `SeqCst` fence and a load: what the model
    /// checkers explore. [`Raw`] runs it as a `SeqCst` swap and a `SeqCst`
    /// load, which C++20's rules for `SeqCst` operations order the same way
    /// against the slow side's fence (loom cannot model `SeqCst` accesses,
    /// tokio-rs/loom#180, so it checks the fence form), for one locked
    /// instruction instead of two fences on wasm, where cranelift lowers a
    /// release store as a store and an `mfence`.
    fn store_load(&self, store: usize, v: u32, load: usize) -> u32 {
        self.store(store, v, Ordering::Release);
        self.fence(Ordering::SeqCst);
        self.load(load, Ordering::Relaxed)
    }
    /// One turn of a bounded spin (a model checker yields here).
    fn spin(&self);
    /// Copies `src` into payload bytes at `at`.
    fn write_data(&self, at: usize, src: &[u8]);
    /// Copies payload bytes at `at` into `dst`.
    fn read_data(&self, at: usize, dst: &mut [u8]);
}

/// A ring in plain shared memory.
#[derive(Clone, Copy)]
pub struct Raw<'a> {
    base: NonNull<u8>,
    data: usize,
    _mem: PhantomData<&'a [AtomicU32]>,
}

impl Raw<'_> {
    /// Memory at `base`, whose data ring starts `data` bytes in.
    ///
    /// # Safety
    /// As [`crate::Ring::from_raw`].
    pub(crate) unsafe fn new(base: *mut u8, data: usize) -> Self {
        Raw {
            base: NonNull::new(base).expect("ring base is null"),
            data,
            _mem: PhantomData,
        }
    }

    /// The first byte of the ring.
    pub(crate) fn base_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    #[inline(always)]
    fn word(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % 4 == 0 && off + 4 <= self.data);
        // SAFETY: inside the header/slot area, 4-aligned, valid for the
        // lifetime per the constructor's contract.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU32>() }
    }
}

// SAFETY: all shared mutable words are atomics; payload bytes are handed
// over through release/acquire on the frame stamps and reader cursors.
unsafe impl Send for Raw<'_> {}
unsafe impl Sync for Raw<'_> {}

/// On wasm every atomic instruction is sequentially consistent (cranelift
/// makes each atomic store an `xchg` on x86), so the ring's `Relaxed`
/// accesses, free natively, would each cost a full barrier in a guest.
/// There they are plain aligned 32-bit accesses (volatile, so the compiler
/// neither merges nor elides them): wasm defines racing plain accesses, an
/// aligned word does not tear, and every ordering the ring relies on is
/// carried by its Acquire/Release/SeqCst accesses and fences.
const PLAIN_RELAXED: bool = cfg!(target_arch = "wasm32");

impl Memory for Raw<'_> {
    #[inline(always)]
    fn load(&self, off: usize, o: Ordering) -> u32 {
        let w = self.word(off);
        if PLAIN_RELAXED && o == Ordering::Relaxed {
            // SAFETY: an aligned word inside the ring.
            unsafe { core::ptr::read_volatile(w.as_ptr()) }
        } else {
            w.load(o)
        }
    }
    #[inline(always)]
    fn store(&self, off: usize, v: u32, o: Ordering) {
        let w = self.word(off);
        if PLAIN_RELAXED && o == Ordering::Relaxed {
            // SAFETY: as in `load`.
            unsafe { core::ptr::write_volatile(w.as_ptr(), v) }
        } else if PLAIN_RELAXED {
            // wasm has only sequentially consistent atomics, and cranelift
            // lowers their stores as a store and an `mfence`: a swap is one
            // locked instruction and at least as strong.
            w.swap(v, Ordering::SeqCst);
        } else {
            w.store(v, o)
        }
    }
    #[inline(always)]
    fn compare_exchange(
        &self,
        off: usize,
        cur: u32,
        new: u32,
        ok: Ordering,
        err: Ordering,
    ) -> Result<u32, u32> {
        self.word(off).compare_exchange(cur, new, ok, err)
    }
    #[inline(always)]
    fn fetch_add(&self, off: usize, v: u32, o: Ordering) -> u32 {
        self.word(off).fetch_add(v, o)
    }
    #[inline(always)]
    fn fetch_or(&self, off: usize, v: u32, o: Ordering) -> u32 {
        self.word(off).fetch_or(v, o)
    }
    #[inline(always)]
    fn fetch_and(&self, off: usize, v: u32, o: Ordering) -> u32 {
        self.word(off).fetch_and(v, o)
    }
    #[inline(always)]
    fn fence(&self, o: Ordering) {
        core::sync::atomic::fence(o)
    }
    #[inline(always)]
    fn store_load(&self, store: usize, v: u32, load: usize) -> u32 {
        self.word(store).swap(v, Ordering::SeqCst);
        self.word(load).load(Ordering::SeqCst)
    }
    #[inline(always)]
    fn spin(&self) {
        core::hint::spin_loop()
    }
    #[inline(always)]
    fn write_data(&self, at: usize, src: &[u8]) {
        // SAFETY: the ring passes a span of payload bytes that its
        // reservation gives this writer alone until it is published.
        unsafe { copy(src.as_ptr(), self.base.as_ptr().add(at), src.len()) }
    }
    #[inline(always)]
    fn read_data(&self, at: usize, dst: &mut [u8]) {
        // SAFETY: a span of payload bytes that writers leave alone until
        // this reader's cursor passes it.
        unsafe { copy(self.base.as_ptr().add(at), dst.as_mut_ptr(), dst.len()) }
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
        unsafe {
            core::ptr::write_volatile(
                dst.add(i).cast::<[u8; 8]>(),
                core::ptr::read_volatile(src.add(i).cast::<[u8; 8]>()),
            )
        };
        i += 8;
    }
    while i < len {
        // SAFETY: `i < len`.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        i += 1;
    }
}
