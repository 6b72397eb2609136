//! QEMU's virtio-gpu (`-device virtio-gpu-device`, a virtio-mmio v2
//! transport) as the scan-out of the kernel's framebuffer: a 2D resource
//! whose backing is the framebuffer region itself, so a present is a
//! transfer and a flush, never a copy by the hart. Polled, no interrupts,
//! as everything on this board. Without the device, presents do nothing.

use tidemark_kernel::display::Scanout;

/// The `virt` machine's eight virtio-mmio slots.
const SLOTS: usize = 0x1000_1000;
const SLOT_SIZE: usize = 0x1000;
const SLOT_COUNT: usize = 8;

const MAGIC: u32 = 0x7472_6976; // "virt"
const DEVICE_GPU: u32 = 16;

// Register offsets (virtio 1.2, 4.2.2).
const R_MAGIC: usize = 0x000;
const R_VERSION: usize = 0x004;
const R_DEVICE: usize = 0x008;
const R_DEVICE_FEATURES_SEL: usize = 0x014;
const R_DRIVER_FEATURES: usize = 0x020;
const R_DRIVER_FEATURES_SEL: usize = 0x024;
const R_QUEUE_SEL: usize = 0x030;
const R_QUEUE_NUM_MAX: usize = 0x034;
const R_QUEUE_NUM: usize = 0x038;
const R_QUEUE_READY: usize = 0x044;
const R_QUEUE_NOTIFY: usize = 0x050;
const R_INTERRUPT_ACK: usize = 0x064;
const R_INTERRUPT_STATUS: usize = 0x060;
const R_STATUS: usize = 0x070;
const R_QUEUE_DESC: usize = 0x080;
const R_QUEUE_DRIVER: usize = 0x090;
const R_QUEUE_DEVICE: usize = 0x0a0;

const S_ACKNOWLEDGE: u32 = 1;
const S_DRIVER: u32 = 2;
const S_DRIVER_OK: u32 = 4;
const S_FEATURES_OK: u32 = 8;
/// VIRTIO_F_VERSION_1 is feature bit 32: bit 0 of feature word 1.
const F_VERSION_1_WORD1: u32 = 1;

// virtio-gpu control commands (virtio 1.2, 5.7.6).
const CMD_RESOURCE_CREATE_2D: u32 = 0x0101;
const CMD_SET_SCANOUT: u32 = 0x0103;
const CMD_RESOURCE_FLUSH: u32 = 0x0104;
const CMD_TRANSFER_TO_HOST_2D: u32 = 0x0105;
const CMD_RESOURCE_ATTACH_BACKING: u32 = 0x0106;
const RESP_OK_NODATA: u32 = 0x1100;
/// Bytes B, G, R, X: a little-endian `0x00RRGGBB`, the kernel's XRGB8888.
const FORMAT_B8G8R8X8_UNORM: u32 = 2;
const RESOURCE: u32 = 1;

/// Descriptors in the control queue: one command, one response.
const QUEUE: usize = 2;
const DESC_NEXT: u16 = 1;
/// The driver polls: no used-buffer interrupts.
const AVAIL_NO_INTERRUPT: u16 = 1;
const DESC_WRITE: u16 = 2;
/// Polls of the used ring before a command counts as lost.
const SPINS: u32 = 50_000_000;

#[repr(C)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[repr(C)]
struct Avail {
    flags: u16,
    idx: u16,
    ring: [u16; QUEUE],
}

#[repr(C)]
struct UsedElem {
    id: u32,
    len: u32,
}

#[repr(C)]
struct Used {
    flags: u16,
    idx: u16,
    ring: [UsedElem; QUEUE],
}

/// The control queue and its command buffers, in one static: the device
/// reads and writes them by physical address (identity-mapped here).
#[repr(C, align(4096))]
struct Ring {
    desc: [Desc; QUEUE],
    avail: Avail,
    used: Used,
    req: [u32; 16],
    resp: [u32; 6],
}

static mut RING: Ring = Ring {
    desc: [const {
        Desc {
            addr: 0,
            len: 0,
            flags: 0,
            next: 0,
        }
    }; QUEUE],
    avail: Avail {
        flags: 0,
        idx: 0,
        ring: [0; QUEUE],
    },
    used: Used {
        flags: 0,
        idx: 0,
        ring: [const { UsedElem { id: 0, len: 0 } }; QUEUE],
    },
    req: [0; 16],
    resp: [0; 6],
};

/// Where the scan-out stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not looked for yet: the first present sets it up.
    Unprobed,
    /// Set up for this framebuffer (its base address).
    Ready(usize),
    /// No device, or it refused a command: presents do nothing.
    Absent,
}

/// The GPU's driver state.
pub struct Gpu {
    base: usize,
    state: State,
    used_seen: u16,
}

/// Orders memory and device I/O both ways: the ring's writes land before
/// the notify, the device's before the driver reads the used ring.
fn io_fence() {
    // SAFETY: a fence instruction only.
    unsafe { core::arch::asm!("fence iorw, iorw") };
}

fn reg(base: usize, off: usize) -> *mut u32 {
    (base + off) as *mut u32
}

fn read(base: usize, off: usize) -> u32 {
    // SAFETY: a virtio-mmio register of a slot of the virt machine.
    unsafe { reg(base, off).read_volatile() }
}

fn write(base: usize, off: usize, v: u32) {
    // SAFETY: as `read`.
    unsafe { reg(base, off).write_volatile(v) }
}

impl Gpu {
    /// Nothing looked for yet (no MMIO access until the first present).
    pub const fn new() -> Gpu {
        Gpu {
            base: 0,
            state: State::Unprobed,
            used_seen: 0,
        }
    }

    /// Shows `fb`: sets the device up on the first call, then transfers
    /// the framebuffer to the host resource and flushes it.
    pub fn present(&mut self, fb: Scanout) {
        if self.state == State::Unprobed {
            self.state = match self.setup(fb) {
                Some(()) => State::Ready(fb.base as usize),
                None => State::Absent,
            };
        }
        if self.state != State::Ready(fb.base as usize) {
            return;
        }
        let (w, h) = (fb.mode.width, fb.mode.height);
        let ok = self.command(&[
            CMD_TRANSFER_TO_HOST_2D,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            w,
            h,
            0,
            0,
            RESOURCE,
            0,
        ]) && self.command(&[CMD_RESOURCE_FLUSH, 0, 0, 0, 0, 0, 0, 0, w, h, RESOURCE, 0]);
        if !ok {
            self.state = State::Absent;
        }
    }

    fn setup(&mut self, fb: Scanout) -> Option<()> {
        self.base = (0..SLOT_COUNT).map(|i| SLOTS + i * SLOT_SIZE).find(|&b| {
            read(b, R_MAGIC) == MAGIC && read(b, R_VERSION) == 2 && read(b, R_DEVICE) == DEVICE_GPU
        })?;
        let b = self.base;
        write(b, R_STATUS, 0);
        // The reset is done when the status reads 0 again.
        if !(0..SPINS).any(|_| read(b, R_STATUS) == 0) {
            return None;
        }
        write(b, R_STATUS, S_ACKNOWLEDGE | S_DRIVER);
        // Only VIRTIO_F_VERSION_1: no 3D, no EDID, no events.
        write(b, R_DEVICE_FEATURES_SEL, 1);
        write(b, R_DRIVER_FEATURES_SEL, 0);
        write(b, R_DRIVER_FEATURES, 0);
        write(b, R_DRIVER_FEATURES_SEL, 1);
        write(b, R_DRIVER_FEATURES, F_VERSION_1_WORD1);
        write(b, R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
        if read(b, R_STATUS) & S_FEATURES_OK == 0 {
            return None;
        }
        write(b, R_QUEUE_SEL, 0);
        if (read(b, R_QUEUE_NUM_MAX) as usize) < QUEUE {
            return None;
        }
        write(b, R_QUEUE_NUM, QUEUE as u32);
        let ring = &raw mut RING;
        // SAFETY: addresses of the static's fields; the hart is the only
        // other user of the ring, and only from this driver.
        let (desc, avail, used) = unsafe {
            (
                &raw const (*ring).desc as usize,
                &raw const (*ring).avail as usize,
                &raw const (*ring).used as usize,
            )
        };
        for (off, addr) in [
            (R_QUEUE_DESC, desc),
            (R_QUEUE_DRIVER, avail),
            (R_QUEUE_DEVICE, used),
        ] {
            write(b, off, addr as u32);
            write(b, off + 4, 0);
        }
        // SAFETY: the ring is this driver's; the device has no queue yet.
        unsafe { (&raw mut (*ring).avail.flags).write_volatile(AVAIL_NO_INTERRUPT) };
        write(b, R_QUEUE_READY, 1);
        write(
            b,
            R_STATUS,
            S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK,
        );
        let (w, h) = (fb.mode.width, fb.mode.height);
        let ok = self.command(&[
            CMD_RESOURCE_CREATE_2D,
            0,
            0,
            0,
            0,
            0,
            RESOURCE,
            FORMAT_B8G8R8X8_UNORM,
            w,
            h,
        ]) && self.command(&[
            CMD_RESOURCE_ATTACH_BACKING,
            0,
            0,
            0,
            0,
            0,
            RESOURCE,
            1,
            fb.base as u32,
            0,
            fb.len as u32,
            0,
        ]) && self.command(&[CMD_SET_SCANOUT, 0, 0, 0, 0, 0, 0, 0, w, h, 0, RESOURCE]);
        ok.then_some(())
    }

    /// Sends one command (its words, the 24-byte header first) and waits
    /// for the device's answer; whether it was `OK_NODATA`.
    fn command(&mut self, words: &[u32]) -> bool {
        let ring = &raw mut RING;
        // SAFETY: the ring is this driver's alone, and the device touches
        // only what the descriptors hand it, until the used index moves.
        unsafe {
            let req = &raw mut (*ring).req;
            let resp = &raw mut (*ring).resp;
            let n = words.len().min(16);
            core::ptr::copy_nonoverlapping(words.as_ptr(), req.cast::<u32>(), n);
            resp.cast::<u32>().write_volatile(0);
            (*ring).desc[0] = Desc {
                addr: req as usize as u64,
                len: (n * 4) as u32,
                flags: DESC_NEXT,
                next: 1,
            };
            (*ring).desc[1] = Desc {
                addr: resp as usize as u64,
                len: 24,
                flags: DESC_WRITE,
                next: 0,
            };
            let avail = &raw mut (*ring).avail;
            let idx = (&raw const (*avail).idx).read_volatile();
            (&raw mut (*avail).ring[idx as usize % QUEUE]).write_volatile(0);
            io_fence();
            (&raw mut (*avail).idx).write_volatile(idx.wrapping_add(1));
            io_fence();
            write(self.base, R_QUEUE_NOTIFY, 0);
            let want = self.used_seen.wrapping_add(1);
            let used = &raw const (*ring).used.idx;
            let mut spins = 0;
            while used.read_volatile() != want {
                spins += 1;
                if spins == SPINS {
                    return false;
                }
                core::hint::spin_loop();
            }
            io_fence();
            self.used_seen = want;
            write(
                self.base,
                R_INTERRUPT_ACK,
                read(self.base, R_INTERRUPT_STATUS),
            );
            resp.cast::<u32>().read_volatile() == RESP_OK_NODATA
        }
    }
}
