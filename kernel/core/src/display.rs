//! The board's framebuffer: a region the kernel allocates on first use and
//! then holds for good, granted to guests as the capability `display`
//! (`ObjectRef::Display`, always region 0). A guest draws into it with `shm_write` and calls
//! `display_present`; the board then scans it out (QEMU's virtio-gpu on
//! qemu-riscv32, [`Kernel::take_present`]) and `screenshot` reads it
//! (`Framebuffer`, [`Kernel::framebuffer_part`]). The kernel never reads
//! the pixels itself: they are the guest's.

use tidemark_abi::{DisplayInfo, Error, display_format};
use tidemark_protocol::FramebufferPart;

use crate::arena::Purpose;
use crate::{KERNEL_PID, Kernel, Pid};

/// A framebuffer's size, from the board manifest's `[display]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisplayMode {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl DisplayMode {
    /// Largest side the kernel sets up (4096 x 4096 x 4 bytes is 64 MiB).
    pub const MAX_SIDE: u32 = 4096;

    /// Bytes from one row to the next (XRGB8888, no padding).
    pub const fn stride(self) -> u32 {
        self.width * 4
    }

    /// Bytes of the whole framebuffer.
    pub const fn bytes(self) -> usize {
        self.stride() as usize * self.height as usize
    }

    /// Reads `WIDTHxHEIGHT` (how the workbench passes `[display]` to a
    /// board's image build, `TIDEMARK_DISPLAY`).
    pub fn parse(s: &str) -> Option<DisplayMode> {
        let (w, h) = s.trim().split_once('x')?;
        let (width, height) = (w.parse().ok()?, h.parse().ok()?);
        let ok = |v: u32| (1..=Self::MAX_SIDE).contains(&v);
        (ok(width) && ok(height)).then_some(DisplayMode { width, height })
    }
}

/// The live framebuffer.
#[derive(Clone, Copy, Debug)]
pub struct Display {
    /// The region holding the pixels.
    pub region: u32,
    /// Its size.
    pub mode: DisplayMode,
    /// `display_present` calls so far.
    pub presents: u64,
    /// A present the board has not scanned out yet.
    pending: bool,
}

/// What a board scans out after a present ([`Kernel::take_present`]).
#[derive(Clone, Copy, Debug)]
pub struct Scanout {
    /// First byte of the pixels (a physical address on bare metal).
    pub base: *const u8,
    /// Bytes.
    pub len: usize,
    /// Size.
    pub mode: DisplayMode,
    /// Presents so far.
    pub presents: u64,
}

/// The framebuffer's region id: reserved (the kernel numbers every other
/// object from 1), so `region 0` is the display on every board.
pub const DISPLAY_REGION: u32 = 0;

impl Kernel {
    /// The framebuffer, set up on first use (the first grant of it, or the
    /// monitor's first read): a board that never draws never pays for it.
    /// `NotFound` on a board without a display, `NoMemory` when the arena
    /// budget has no room for it.
    pub fn open_display(&mut self) -> Result<&Display, Error> {
        if self.display.is_none() {
            let mode = self.config.display.ok_or(Error::NotFound)?;
            self.arenas.alloc(
                DISPLAY_REGION,
                mode.bytes(),
                4096,
                KERNEL_PID,
                Purpose::Display,
            )?;
            // The kernel's own hold: granted copies come and go.
            self.region_holders.insert(DISPLAY_REGION, 1);
            self.display = Some(Display {
                region: DISPLAY_REGION,
                mode,
                presents: 0,
                pending: false,
            });
        }
        self.display.as_ref().ok_or(Error::NotFound)
    }

    /// The framebuffer, once opened ([`Kernel::open_display`]).
    pub fn display(&self) -> Option<&Display> {
        self.display.as_ref()
    }

    /// The framebuffer's pixels as they are now.
    pub fn framebuffer(&self) -> Option<&[u8]> {
        let d = self.display.as_ref()?;
        let (base, len) = self.arenas.region_ptr(d.region)?;
        // SAFETY: the region lives as long as the kernel (its hold is never
        // released). Guests write it only through hostcalls, which run
        // under the same exclusive hold of the kernel as this borrow.
        Some(unsafe { core::slice::from_raw_parts(base, len.min(d.mode.bytes())) })
    }

    /// The framebuffer's geometry and up to `len` of its bytes from
    /// `offset` (clipped to its end).
    pub fn framebuffer_part(&self, offset: u32, len: u32) -> Option<FramebufferPart> {
        let d = self.display?;
        let pixels = self.framebuffer()?;
        let start = (offset as usize).min(pixels.len());
        let end = start.saturating_add(len as usize).min(pixels.len());
        Some(FramebufferPart {
            width: d.mode.width,
            height: d.mode.height,
            stride: d.mode.stride(),
            format: display_format::XRGB8888,
            presents: d.presents,
            region: d.region,
            offset: start as u32,
            pixels: pixels[start..end].to_vec(),
        })
    }

    /// The framebuffer to scan out, once per present (none pending: `None`).
    pub fn take_present(&mut self) -> Option<Scanout> {
        let d = self.display.as_mut().filter(|d| d.pending)?;
        d.pending = false;
        let d = *d;
        let (base, len) = self.arenas.region_ptr(d.region)?;
        Some(Scanout {
            base,
            len,
            mode: d.mode,
            presents: d.presents,
        })
    }

    /// The framebuffer region `handle` names, with `need`.
    fn display_cap(
        &self,
        pid: Pid,
        raw: i64,
        need: tidemark_abi::Rights,
    ) -> Result<Display, Error> {
        let id = self.region_cap(pid, raw, need)?;
        self.display
            .filter(|d| d.region == id)
            .ok_or(Error::InvalidHandle)
    }

    /// `display_info`: the geometry of the framebuffer `handle` names.
    pub(crate) fn display_info(&self, pid: Pid, raw: i64) -> Result<DisplayInfo, Error> {
        let d = self.display_cap(pid, raw, tidemark_abi::Rights::NONE)?;
        Ok(DisplayInfo {
            width: d.mode.width,
            height: d.mode.height,
            stride: d.mode.stride(),
            format: display_format::XRGB8888,
            presents: d.presents as u32,
        })
    }

    /// `display_present`: marks the framebuffer for scan-out.
    pub(crate) fn display_present(&mut self, pid: Pid, raw: i64) -> Result<u64, Error> {
        self.display_cap(pid, raw, tidemark_abi::Rights::WRITE)?;
        let d = self.display.as_mut().ok_or(Error::InvalidHandle)?;
        d.presents += 1;
        d.pending = true;
        Ok(d.presents)
    }
}
