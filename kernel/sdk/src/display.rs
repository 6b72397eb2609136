//! The board's framebuffer, granted as the capability `display`.

use crate::abi::{DisplayInfo, Wire};
use crate::shm::Region;
use crate::{Result, check, sys};

/// The framebuffer: a shared-memory region the board scans out.
#[derive(Clone, Copy, Debug)]
pub struct Display {
    /// The region holding the pixels.
    pub region: Region,
    /// Its geometry when it was looked up.
    pub info: DisplayInfo,
}

impl Display {
    /// The framebuffer granted under `name` (the monitor grants it as
    /// `display`: `spawn PKG --cap display=display`).
    pub fn lookup(name: &str) -> Result<Display> {
        let region = Region::lookup(name)?;
        let mut b = [0u8; DisplayInfo::SIZE];
        // SAFETY: `b` is DisplayInfo::SIZE bytes.
        check(unsafe { sys::display_info(region.cap.0, b.as_mut_ptr() as i32) })?;
        Ok(Display {
            region,
            info: DisplayInfo::decode(&b),
        })
    }

    /// Writes `pixels` (XRGB8888, little-endian) into row `y` from column 0.
    pub fn write_row(&self, y: u32, pixels: &[u8]) -> Result<()> {
        self.region.write(y * self.info.stride, pixels)
    }

    /// Shows what the framebuffer holds now; returns the presents so far.
    pub fn present(&self) -> Result<u32> {
        // SAFETY: no pointers.
        check(unsafe { sys::display_present(self.region.cap.0) })
    }
}
