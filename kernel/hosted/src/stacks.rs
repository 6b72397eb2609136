//! Fiber stacks, kept for the next process when one ends. wasmtime's
//! on-demand allocator maps a fresh stack for every `call_async` (an mmap, a
//! guard page, then a page fault for each page the guest touches, and an
//! munmap at the end): most of what a spawn cost beside instantiating. A
//! stack handed back here is reused warm, as the pooling allocator does.

use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;
use rustix::mm::{MapFlags, ProtFlags};
use wasmtime::{StackCreator, StackMemory};

/// Spare stacks kept (each holds only the pages a guest touched).
const MAX_SPARE: usize = 64;
const GUARD: usize = 4096;

struct Mapping {
    /// Start of the mapping: the guard page, then the stack.
    base: usize,
    /// Stack bytes above the guard.
    size: usize,
}

impl Mapping {
    fn new(size: usize) -> wasmtime::Result<Mapping> {
        let size = size.next_multiple_of(GUARD);
        // SAFETY: a fresh private mapping owned by the new value.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                size + GUARD,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }?;
        // SAFETY: the first page of our own mapping becomes the guard.
        unsafe { rustix::mm::mprotect(base, GUARD, rustix::mm::MprotectFlags::empty()) }?;
        Ok(Mapping {
            base: base as usize,
            size,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer any fiber's stack.
        let _ = unsafe { rustix::mm::munmap(self.base as *mut _, self.size + GUARD) };
    }
}

/// Hands wasmtime stacks from its spares, and takes them back.
#[derive(Default)]
pub(crate) struct Stacks {
    spare: Arc<Mutex<Vec<Mapping>>>,
}

struct Stack {
    mapping: Option<Mapping>,
    spare: Arc<Mutex<Vec<Mapping>>>,
}

// SAFETY: stacks are page-aligned, sized as asked, with a guard page below.
unsafe impl StackCreator for Stacks {
    fn new_stack(&self, size: usize, zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let reused = {
            let mut spare = self.spare.lock();
            let at = spare
                .iter()
                .position(|m| m.size == size.next_multiple_of(GUARD));
            at.map(|i| spare.swap_remove(i))
        };
        let mapping = match reused {
            Some(m) => {
                if zeroed {
                    // SAFETY: the stack part of a spare mapping, used by nobody.
                    unsafe {
                        rustix::mm::madvise(
                            (m.base + GUARD) as *mut _,
                            m.size,
                            rustix::mm::Advice::LinuxDontNeed,
                        )
                    }?;
                }
                m
            }
            None => Mapping::new(size)?,
        };
        Ok(Box::new(Stack {
            mapping: Some(mapping),
            spare: self.spare.clone(),
        }))
    }
}

impl Stack {
    fn m(&self) -> &Mapping {
        self.mapping.as_ref().expect("taken only on drop")
    }
}

// SAFETY: see `Stacks`.
unsafe impl StackMemory for Stack {
    fn top(&self) -> *mut u8 {
        (self.m().base + GUARD + self.m().size) as *mut u8
    }
    fn range(&self) -> Range<usize> {
        let m = self.m();
        m.base + GUARD..m.base + GUARD + m.size
    }
    fn guard_range(&self) -> Range<*mut u8> {
        let m = self.m();
        m.base as *mut u8..(m.base + GUARD) as *mut u8
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let m = self.mapping.take().expect("dropped once");
        let mut spare = self.spare.lock();
        if spare.len() < MAX_SPARE {
            spare.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_handed_back_is_reused_and_its_guard_stays() {
        let s = Stacks::default();
        let a = s.new_stack(64 << 10, false).unwrap();
        let (top, range, guard) = (a.top() as usize, a.range(), a.guard_range());
        assert_eq!(range.end, top);
        assert_eq!(range.len(), 64 << 10);
        assert_eq!(guard.end as usize, range.start);
        drop(a);
        let b = s.new_stack(64 << 10, true).unwrap();
        assert_eq!(b.top() as usize, top, "the spare was not reused");
        // Another size is a new mapping.
        let c = s.new_stack(128 << 10, false).unwrap();
        assert_ne!(c.top() as usize, top);
    }
}
