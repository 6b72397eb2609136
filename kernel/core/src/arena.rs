//! Arenas: kernel-owned blocks of memory carved into regions (shared-memory
//! regions and channel rings), with accounting and high-water marks.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use tidemark_abi::Error;

use crate::Pid;

/// Memory an arena lives in. Its address never changes while it exists, so
/// rings and (later) guest mappings may point into it.
pub trait Backing: Send {
    /// Start of the memory (at least 8-byte aligned).
    fn ptr(&self) -> *mut u8;
    /// Length in bytes.
    fn len(&self) -> usize;
    /// Whether the backing is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The concrete backing, for an engine that maps it into guests.
    fn as_any(&self) -> &dyn core::any::Any;
}

/// Heap memory, the backing on every board until a platform supplies its own.
pub struct HeapBacking(Box<[u64]>);

impl HeapBacking {
    /// Zeroed memory of `len` bytes (rounded up to 8).
    pub fn new(len: usize) -> HeapBacking {
        HeapBacking(vec![0u64; len.div_ceil(8)].into_boxed_slice())
    }
}

impl Backing for HeapBacking {
    fn ptr(&self) -> *mut u8 {
        self.0.as_ptr() as *mut u8
    }
    fn len(&self) -> usize {
        self.0.len() * 8
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

pub use tidemark_protocol::Purpose;

/// A region of an arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Kernel-wide region id.
    pub id: u32,
    /// Arena holding it.
    pub arena: u32,
    /// Offset in the arena.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// Process that allocated it (0: the kernel).
    pub owner: Pid,
    /// Use.
    pub purpose: Purpose,
}

/// One arena.
pub struct Arena {
    /// Arena id.
    pub id: u32,
    backing: Box<dyn Backing>,
    regions: BTreeMap<usize, Region>,
    used: usize,
    high_water: usize,
}

impl Arena {
    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.backing.len()
    }
    /// Bytes in regions.
    pub fn used(&self) -> usize {
        self.used
    }
    /// Most bytes ever in regions at once.
    pub fn high_water(&self) -> usize {
        self.high_water
    }
    /// The memory it lives in.
    pub fn backing(&self) -> &dyn Backing {
        &*self.backing
    }
    /// Regions by offset.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }
    /// Pointer to `offset`.
    pub fn ptr_at(&self, offset: usize) -> *mut u8 {
        assert!(offset <= self.size());
        // SAFETY: in bounds of the backing.
        unsafe { self.backing.ptr().add(offset) }
    }
    /// Free gaps between regions, as (offset, len).
    pub fn gaps(&self) -> Vec<(usize, usize)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for r in self.regions.values() {
            if r.offset > at {
                gaps.push((at, r.offset - at));
            }
            at = r.offset + r.len;
        }
        if at < self.size() {
            gaps.push((at, self.size() - at));
        }
        gaps
    }
    /// 0.0 when all free space is one gap; towards 1.0 as it splinters.
    pub fn fragmentation(&self) -> f32 {
        let gaps = self.gaps();
        let free: usize = gaps.iter().map(|g| g.1).sum();
        let largest = gaps.iter().map(|g| g.1).max().unwrap_or(0);
        if free == 0 {
            0.0
        } else {
            1.0 - largest as f32 / free as f32
        }
    }

    fn fit(&self, len: usize, align: usize) -> Option<usize> {
        self.gaps().into_iter().find_map(|(off, glen)| {
            let start = off.next_multiple_of(align);
            (start + len <= off + glen).then_some(start)
        })
    }
}

/// All arenas, with a total budget.
pub struct Arenas {
    arenas: BTreeMap<u32, Arena>,
    by_region: BTreeMap<u32, (u32, usize)>,
    next_arena: u32,
    /// Default arena size.
    pub arena_size: usize,
    /// Most bytes all arenas together may occupy.
    pub budget: usize,
    /// Granule of regions that may be mapped into guests on their own (the
    /// host page size where the backing is mappable, else 1): such regions
    /// start and end on it, so a mapping never shows a neighbour.
    pub page: usize,
    new_backing: fn(usize) -> Box<dyn Backing>,
}

fn heap_backing(len: usize) -> Box<dyn Backing> {
    Box::new(HeapBacking::new(len))
}

impl Arenas {
    /// Arenas of `arena_size` bytes each, at most `budget` bytes in all, on the heap.
    pub fn new(arena_size: usize, budget: usize) -> Arenas {
        Arenas::with_backing(arena_size, budget, heap_backing, 1)
    }

    /// As [`Arenas::new`] with a platform's backing allocator whose
    /// mappable granule is `page` (a power of two, at most 4096).
    pub fn with_backing(
        arena_size: usize,
        budget: usize,
        new_backing: fn(usize) -> Box<dyn Backing>,
        page: usize,
    ) -> Arenas {
        assert!(
            page.is_power_of_two() && page <= 4096,
            "arena page must be a power of two up to 4096"
        );
        Arenas {
            arenas: BTreeMap::new(),
            by_region: BTreeMap::new(),
            next_arena: 1,
            arena_size,
            budget,
            page,
            new_backing,
        }
    }

    /// An arena by id.
    pub fn arena(&self, id: u32) -> Option<&Arena> {
        self.arenas.get(&id)
    }

    /// Total bytes of all arenas.
    pub fn reserved(&self) -> usize {
        self.arenas.values().map(|a| a.size()).sum()
    }

    /// Allocates a region; opens a new arena when none has room.
    pub fn alloc(
        &mut self,
        id: u32,
        len: usize,
        align: usize,
        owner: Pid,
        purpose: Purpose,
    ) -> Result<Region, Error> {
        if len == 0 || !align.is_power_of_two() || align > 4096 {
            return Err(Error::InvalidArgument);
        }
        let align = align.max(8);
        let found = self
            .arenas
            .values()
            .find_map(|a| a.fit(len, align).map(|off| (a.id, off)));
        let (arena_id, offset) = match found {
            Some(f) => f,
            None => {
                let size = len.next_multiple_of(4096).max(self.arena_size);
                if self.reserved() + size > self.budget {
                    return Err(Error::NoMemory);
                }
                let id = self.next_arena;
                self.next_arena += 1;
                let backing = (self.new_backing)(size);
                self.arenas.insert(
                    id,
                    Arena {
                        id,
                        backing,
                        regions: BTreeMap::new(),
                        used: 0,
                        high_water: 0,
                    },
                );
                (id, 0)
            }
        };
        let region = Region {
            id,
            arena: arena_id,
            offset,
            len,
            owner,
            purpose,
        };
        let arena = self.arenas.get_mut(&arena_id).expect("just found");
        // Fresh regions read as zeroes, whatever their previous tenant left.
        // SAFETY: the range was free and lies inside the arena.
        unsafe { core::ptr::write_bytes(arena.ptr_at(offset), 0, len) };
        arena.regions.insert(offset, region);
        arena.used += len;
        arena.high_water = arena.high_water.max(arena.used);
        self.by_region.insert(id, (arena_id, offset));
        Ok(region)
    }

    /// Frees a region.
    pub fn free(&mut self, region: u32) -> Option<Region> {
        let (arena, offset) = self.by_region.remove(&region)?;
        let a = self.arenas.get_mut(&arena)?;
        let r = a.regions.remove(&offset)?;
        a.used -= r.len;
        Some(r)
    }

    /// A region by id.
    pub fn region(&self, region: u32) -> Option<&Region> {
        let (arena, offset) = self.by_region.get(&region)?;
        self.arenas.get(arena)?.regions.get(offset)
    }

    /// Pointer to a region's first byte.
    pub fn region_ptr(&self, region: u32) -> Option<(*mut u8, usize)> {
        let r = self.region(region)?;
        Some((self.arenas[&r.arena].ptr_at(r.offset), r.len))
    }

    /// All arenas.
    pub fn iter(&self) -> impl Iterator<Item = &Arena> {
        self.arenas.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_accounting_and_fragmentation() {
        let mut a = Arenas::new(4096, 16384);
        let r1 = a.alloc(1, 1000, 8, 1, Purpose::Shm).unwrap();
        let r2 = a.alloc(2, 1000, 64, 1, Purpose::Shm).unwrap();
        let _r3 = a.alloc(3, 1000, 8, 1, Purpose::Shm).unwrap();
        assert_eq!(r2.offset % 64, 0);
        let arena = a.iter().next().unwrap();
        assert_eq!(arena.used(), 3000);
        a.free(r2.id).unwrap();
        let arena = a.iter().next().unwrap();
        assert_eq!((arena.used(), arena.high_water()), (2000, 3000));
        assert!(arena.fragmentation() > 0.0);
        assert_eq!(
            a.alloc(4, 900, 8, 1, Purpose::Shm).unwrap().offset,
            r1.len,
            "first fit reuses the hole"
        );
        assert!(a.region(r1.id).is_some());
        // A region larger than an arena gets its own arena; the budget caps the total.
        assert_eq!(a.alloc(5, 10000, 8, 1, Purpose::Shm).unwrap().arena, 2);
        assert_eq!(
            a.alloc(6, 8192, 8, 1, Purpose::Shm).unwrap_err(),
            Error::NoMemory
        );
    }
}
