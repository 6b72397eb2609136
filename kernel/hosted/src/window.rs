//! Zero-copy channels on the hosted kernel: arenas live in memfds, guest
//! memories never move, and attaching a channel maps the ring's arena pages
//! (`MAP_SHARED | MAP_FIXED`) into a *window* at the end of the attaching
//! process's own linear memory. Two processes in separate stores then see the
//! same bytes, and the SDK runs the ring there with wasm atomics: no hostcall
//! per frame.
//!
//! Capability rules hold at the page level:
//! * a window is created only while the kernel lock is held and the process
//!   is attached (which needs the capability), and it covers exactly the
//!   ring's pages (channel regions are page-granular on a mappable backing);
//! * when the process loses its last attachment to the channel (detach,
//!   revoke, kill, delete), the kernel calls [`Windows::unmap`] under its
//!   lock, before the region can be freed or reused: the window is replaced
//!   by private zero pages. The process keeps running; its reads see zeroes
//!   (the SDK finds no ring header there and asks the kernel, which answers
//!   with the real error) and its writes land in its private pages.

use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;

use parking_lot::Mutex;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};
use tidemark_kernel::Pid;
use tidemark_kernel::arena::{Backing, HeapBacking};
use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// Host page: the granule of arena regions that may be mapped.
pub const PAGE: usize = 4096;
/// Wasm page: the granule in which a window's address space is added.
const WASM_PAGE: usize = 65536;

/// Arena memory in a memfd, mapped shared into the kernel's address space.
pub struct MemfdBacking {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; the kernel reaches it only
// through rings (atomics) and the arena allocator under the kernel lock.
unsafe impl Send for MemfdBacking {}

impl MemfdBacking {
    /// A zeroed memfd of `len` bytes (rounded up to a page), mapped shared.
    pub fn new(len: usize) -> std::io::Result<MemfdBacking> {
        let len = len.next_multiple_of(PAGE);
        let fd = rustix::fs::memfd_create("tidemark-arena", rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        // SAFETY: a fresh shared mapping of the whole file, owned by this value.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        Ok(MemfdBacking {
            fd,
            ptr: NonNull::new(ptr.cast()).expect("mmap returned null"),
            len,
        })
    }
}

impl Drop for MemfdBacking {
    fn drop(&mut self) {
        // SAFETY: our own mapping; windows onto it are separate mappings of the fd.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl Backing for MemfdBacking {
    fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The arena allocator of a zero-copy kernel: a memfd, or heap memory (never
/// mapped, so those channels take the copying path) if the memfd fails.
pub fn memfd_backing(len: usize) -> Box<dyn Backing> {
    match MemfdBacking::new(len) {
        Ok(b) => Box::new(b),
        Err(e) => {
            eprintln!(
                "tidemark: memfd arena unavailable ({e}); channels in it use the copying path"
            );
            Box::new(HeapBacking::new(len))
        }
    }
}

/// One window: a ring's pages seen from inside one instance's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The process.
    pub pid: Pid,
    /// The arena region (a channel's ring).
    pub region: u32,
    /// Host address of the instance's linear memory.
    pub(crate) memory: usize,
    /// Address of the window inside linear memory.
    pub wasm_addr: u32,
    /// Bytes mapped (whole pages).
    pub len: usize,
    /// Arena and offset in it that the window shows.
    pub arena: u32,
    /// Offset of the mapping in the arena's memfd.
    pub offset: usize,
    /// Whether the ring is mapped (false once taken away: zero pages).
    pub mapped: bool,
}

/// Every window of every instance. One lock orders mapping, unmapping and
/// the freeing of a guest memory, so no mapping ever lands on memory that is
/// no longer the guest's.
#[derive(Default)]
pub struct Windows {
    all: Mutex<Vec<Window>>,
}

impl Windows {
    /// Windows of `pid`, for introspection and tests.
    pub fn of(&self, pid: Pid) -> Vec<Window> {
        self.all
            .lock()
            .iter()
            .filter(|w| w.pid == pid)
            .copied()
            .collect()
    }

    /// The window this instance already has for `region`, if any.
    pub(crate) fn existing(&self, memory: usize, region: u32) -> Option<Window> {
        self.all
            .lock()
            .iter()
            .find(|w| w.memory == memory && w.region == region)
            .copied()
    }

    /// Maps `len` bytes of `backing` at `offset` into the instance whose
    /// memory starts at `memory`, at `wasm_addr` (address space the caller
    /// grew for it, or this region's earlier window). Call with the kernel
    /// lock held and the attachment checked.
    pub(crate) fn map(&self, backing: &MemfdBacking, w: Window) -> std::io::Result<()> {
        let mut all = self.all.lock();
        // SAFETY: [memory + wasm_addr, +len) lies inside the instance's
        // accessible linear memory (grown for this window), which cannot be
        // freed while we hold the registry lock (see GuestMemory::drop).
        unsafe {
            rustix::mm::mmap(
                (w.memory + w.wasm_addr as usize) as *mut _,
                w.len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::FIXED,
                backing.fd.as_fd(),
                w.offset as u64,
            )?;
        }
        let w = Window { mapped: true, ..w };
        match all
            .iter_mut()
            .find(|x| x.memory == w.memory && x.region == w.region)
        {
            Some(x) => *x = w,
            None => all.push(w),
        }
        Ok(())
    }

    /// Takes every window of `pid` onto `region` away: private zero pages
    /// replace the ring. Called by the kernel under its lock.
    pub fn unmap(&self, pid: Pid, region: u32) {
        let mut all = self.all.lock();
        for w in all
            .iter_mut()
            .filter(|w| w.pid == pid && w.region == region && w.mapped)
        {
            // SAFETY: as in `map`; the range stays inside the guest memory.
            let r = unsafe { zero_pages((w.memory + w.wasm_addr as usize) as *mut u8, w.len) };
            // If even that fails, a window onto a ring must not survive: make
            // it inaccessible (the process traps on its next touch).
            if r.is_err() {
                // SAFETY: as above.
                let _ = unsafe {
                    rustix::mm::mprotect(
                        (w.memory + w.wasm_addr as usize) as *mut _,
                        w.len,
                        MprotectFlags::empty(),
                    )
                };
            }
            w.mapped = false;
        }
    }

    fn forget_memory(&self, base: usize, len: usize) -> parking_lot::MutexGuard<'_, Vec<Window>> {
        let mut all = self.all.lock();
        all.retain(|w| !(base..base + len).contains(&w.memory));
        all
    }
}

/// Replaces `[addr, +len)` with fresh private zero pages.
///
/// # Safety
/// The range must be memory this process owns and nobody else relies on.
unsafe fn zero_pages(addr: *mut u8, len: usize) -> rustix::io::Result<()> {
    // SAFETY: forwarded.
    unsafe {
        rustix::mm::mmap_anonymous(
            addr.cast(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
        )
    }
    .map(|_| ())
}

/// Wasm address space to add for a window of `len` bytes.
pub(crate) fn window_pages(len: usize) -> u64 {
    len.div_ceil(WASM_PAGE) as u64
}

/// Hands wasmtime linear memories that never move (a fixed reservation), so
/// windows mapped into them stay put.
pub struct Creator {
    /// The registry every memory it creates reports its end to.
    pub windows: Arc<Windows>,
}

/// Bytes reserved when wasmtime asks for no particular reservation.
const DEFAULT_RESERVATION: usize = 1 << 32;

// SAFETY: memories are page-aligned reservations followed by the requested
// guard, never move, and grow only by making reserved pages accessible.
unsafe impl MemoryCreator for Creator {
    fn new_memory(
        &self,
        ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        if ty.is_shared() || ty.is_64() {
            return Err("tidemark guests use one unshared 32-bit memory".into());
        }
        let capacity = reserved_size_in_bytes
            .unwrap_or(DEFAULT_RESERVATION)
            .max(maximum.unwrap_or(0).min(DEFAULT_RESERVATION));
        let total = capacity
            .checked_add(guard_size_in_bytes)
            .ok_or("memory reservation overflows")?;
        // SAFETY: a fresh inaccessible reservation, owned by the new memory.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                total,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .map_err(|e| format!("reserving {total} bytes for a guest memory: {e}"))?;
        let mut m = GuestMemory {
            base: base.cast(),
            size: 0,
            capacity,
            total,
            windows: self.windows.clone(),
        };
        m.grow_to(minimum).map_err(|e| format!("{e:#}"))?;
        Ok(Box::new(m))
    }
}

struct GuestMemory {
    base: *mut u8,
    size: usize,
    capacity: usize,
    total: usize,
    windows: Arc<Windows>,
}

// SAFETY: the memory is a plain mapping; wasmtime serialises its use.
unsafe impl Send for GuestMemory {}
unsafe impl Sync for GuestMemory {}

// SAFETY: see `Creator`.
unsafe impl LinearMemory for GuestMemory {
    fn byte_size(&self) -> usize {
        self.size
    }
    fn byte_capacity(&self) -> usize {
        self.capacity
    }
    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            wasmtime::bail!(
                "memory cannot grow past its {} byte reservation",
                self.capacity
            );
        }
        if new_size > self.size {
            let start = self.size.next_multiple_of(PAGE).min(new_size);
            let len = new_size.next_multiple_of(PAGE) - start;
            if len > 0 {
                // SAFETY: inside our reservation, past every accessible page.
                unsafe {
                    rustix::mm::mprotect(
                        self.base.add(start).cast(),
                        len,
                        MprotectFlags::READ | MprotectFlags::WRITE,
                    )
                }?;
            }
            self.size = new_size;
        }
        Ok(())
    }
    fn as_ptr(&self) -> *mut u8 {
        self.base
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // Forget this memory's windows and unmap it under the registry lock,
        // so a concurrent unmap never writes over a freed range.
        let _guard = self.windows.forget_memory(self.base as usize, self.total);
        // SAFETY: our own reservation (windows inside it go with it).
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.total) };
    }
}
