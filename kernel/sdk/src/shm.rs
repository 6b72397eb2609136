//! Shared-memory regions.

use crate::abi::{ShmRegion, Wire};
use crate::cap::Cap;
use crate::{Result, check, sys};

/// A shared-memory region this process holds a capability for.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    /// The capability.
    pub cap: Cap,
}

impl Region {
    /// Allocates a region of `size` bytes aligned to `align`.
    pub fn alloc(size: u32, align: u32) -> Result<Region> {
        // SAFETY: no pointers.
        check(unsafe { sys::shm_alloc(size as i32, align as i32) })
            .map(|h| Region { cap: Cap(h as i32) })
    }

    /// A region granted under `name`.
    pub fn lookup(name: &str) -> Result<Region> {
        Cap::lookup(name).map(|cap| Region { cap })
    }

    /// Attaches the region and returns where it lives.
    pub fn attach(&self) -> Result<ShmRegion> {
        let mut b = [0u8; ShmRegion::SIZE];
        // SAFETY: `b` is ShmRegion::SIZE bytes.
        check(unsafe { sys::shm_attach(self.cap.0, b.as_mut_ptr() as i32) })?;
        Ok(ShmRegion::decode(&b))
    }

    /// Detaches the region.
    pub fn detach(&self) -> Result<()> {
        // SAFETY: no pointers.
        check(unsafe { sys::shm_detach(self.cap.0) }).map(|_| ())
    }

    /// Copies bytes at `offset` into `buf`.
    pub fn read(&self, offset: u32, buf: &mut [u8]) -> Result<()> {
        // SAFETY: pointer and length describe `buf`.
        check(unsafe {
            sys::shm_read(
                self.cap.0,
                offset as i32,
                buf.as_mut_ptr() as i32,
                buf.len() as i32,
            )
        })
        .map(|_| ())
    }

    /// Copies `data` to `offset`.
    pub fn write(&self, offset: u32, data: &[u8]) -> Result<()> {
        // SAFETY: pointer and length describe `data`.
        check(unsafe {
            sys::shm_write(
                self.cap.0,
                offset as i32,
                data.as_ptr() as i32,
                data.len() as i32,
            )
        })
        .map(|_| ())
    }
}
