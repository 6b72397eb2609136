//! The framebuffer's hostcalls and what boards and the monitor read of it.

extern crate std;

use alloc::sync::Arc;
use alloc::vec;
use tidemark_abi::{DisplayInfo, Error, Rights, Wire, display_format, nr};

use super::display::DisplayMode;
use super::*;

fn clock() -> u64 {
    7
}

fn kernel(display: Option<DisplayMode>) -> Kernel {
    let config = Config {
        display,
        ..Config::default()
    };
    let mut k = Kernel::new(config, clock);
    k.install("empty", Arc::from(&b"\0asm\x01\0\0\0"[..]), true)
        .unwrap();
    k
}

const MODE: DisplayMode = DisplayMode {
    width: 8,
    height: 4,
};

fn spawn_with(k: &mut Kernel, rights: Option<Rights>) -> (Pid, i64) {
    let mut spec = SpawnSpec::new("empty");
    let region = k.open_display().ok().map(|d| d.region);
    if let (Some(r), Some(id)) = (rights, region) {
        spec = spec.grant("display", Object::Region(id), r);
    }
    let s = k.spawn(spec).unwrap();
    k.started(s.pid);
    k.procs.get_mut(&s.pid).unwrap().classes = Classes::ALL;
    let h = k.procs[&s.pid]
        .caps
        .lookup("display")
        .map_or(-1, |h| i64::from(h.to_raw()));
    (s.pid, h)
}

fn ret(v: i64) -> Outcome {
    Outcome::Return(v)
}

fn err(e: Error) -> Outcome {
    Outcome::Return(e.code() as i64)
}

#[test]
fn a_guest_draws_presents_and_the_board_scans_out_once_per_present() {
    let mut k = kernel(Some(MODE));
    let (pid, h) = spawn_with(&mut k, Some(Rights::READ.union(Rights::WRITE)));
    let mut mem = vec![0u8; 64];
    assert_eq!(k.hostcall(pid, nr::display_info, &[h, 8], &mut mem), ret(0));
    let info = DisplayInfo::decode(&mem[8..]);
    assert_eq!(
        info,
        DisplayInfo {
            width: 8,
            height: 4,
            stride: 32,
            format: display_format::XRGB8888,
            presents: 0
        }
    );
    // Row 1, pixel 2: 0x00112233.
    mem[..4].copy_from_slice(&0x0011_2233u32.to_le_bytes());
    assert_eq!(
        k.hostcall(pid, nr::shm_write, &[h, 32 + 8, 0, 4], &mut mem),
        ret(4)
    );
    assert!(k.take_present().is_none(), "nothing presented yet");
    assert_eq!(k.hostcall(pid, nr::display_present, &[h], &mut mem), ret(1));
    let s = k.take_present().expect("a present to scan out");
    assert_eq!((s.mode, s.len, s.presents), (MODE, 128, 1));
    // SAFETY: the framebuffer lives as long as the kernel.
    let px = unsafe { core::slice::from_raw_parts(s.base, s.len) };
    assert_eq!(&px[40..44], &[0x33, 0x22, 0x11, 0x00]);
    assert!(k.take_present().is_none(), "one scan-out a present");
    // What the monitor reads: geometry, and bytes clipped to the end.
    let part = k.framebuffer_part(120, 64).unwrap();
    assert_eq!(
        (part.width, part.height, part.stride, part.presents),
        (8, 4, 32, 1)
    );
    assert_eq!((part.offset, part.pixels.len()), (120, 8));
    assert_eq!(k.framebuffer_part(0, 0).unwrap().pixels.len(), 0);
    assert_eq!(k.framebuffer_part(500, 8).unwrap().pixels.len(), 0);
    assert_eq!(&k.framebuffer().unwrap()[40..44], &[0x33, 0x22, 0x11, 0x00]);
}

#[test]
fn presenting_needs_w_and_only_the_display_is_a_display() {
    let mut k = kernel(Some(MODE));
    let (ro, h) = spawn_with(&mut k, Some(Rights::READ));
    let mut mem = vec![0u8; 64];
    assert_eq!(k.hostcall(ro, nr::display_info, &[h, 8], &mut mem), ret(0));
    assert_eq!(
        k.hostcall(ro, nr::display_present, &[h], &mut mem),
        err(Error::PermissionDenied)
    );
    assert!(k.take_present().is_none());
    // Any other region is not a display.
    let (pid, _) = spawn_with(&mut k, None);
    let other = match k.hostcall(pid, nr::shm_alloc, &[64, 8], &mut mem) {
        Outcome::Return(h) if h >= 0 => h,
        o => panic!("shm_alloc: {o:?}"),
    };
    assert_eq!(
        k.hostcall(pid, nr::display_info, &[other, 8], &mut mem),
        err(Error::InvalidHandle)
    );
    assert_eq!(
        k.hostcall(pid, nr::display_present, &[other], &mut mem),
        err(Error::InvalidHandle)
    );
    assert_eq!(
        k.hostcall(pid, nr::display_present, &[0x7fff_0000], &mut mem),
        err(Error::InvalidHandle)
    );
}

#[test]
fn the_framebuffer_outlives_every_grant_of_it() {
    let mut k = kernel(Some(MODE));
    assert!(
        k.display().is_none() && k.arenas().iter().next().is_none(),
        "nothing until used"
    );
    let region = k.open_display().unwrap().region;
    assert_eq!(region, super::display::DISPLAY_REGION);
    let (pid, h) = spawn_with(&mut k, Some(Rights::ALL));
    let mut mem = vec![0u8; 16];
    assert_eq!(k.hostcall(pid, nr::cap_drop, &[h], &mut mem), ret(0));
    k.exit(pid, Exit::Code(0));
    assert!(
        k.arenas().region(region).is_some(),
        "the kernel's own hold keeps it"
    );
    let arena = k.arenas().iter().next().unwrap();
    assert!(
        arena
            .regions()
            .any(|r| r.purpose == arena::Purpose::Display)
    );
    assert_eq!(k.framebuffer().unwrap().len(), MODE.bytes());
}

#[test]
fn a_board_without_a_display_or_room_for_one_has_none() {
    let mut k = kernel(None);
    assert_eq!(k.open_display().err(), Some(Error::NotFound));
    assert!(
        k.display().is_none() && k.framebuffer().is_none() && k.framebuffer_part(0, 8).is_none()
    );
    // 4096 x 4096 x 4 is 64 MiB, the whole default budget and then some.
    let config = Config {
        display: Some(DisplayMode {
            width: 4096,
            height: 4096,
        }),
        arena_budget: 1 << 20,
        ..Config::default()
    };
    let mut k = Kernel::new(config, clock);
    assert_eq!(k.open_display().err(), Some(Error::NoMemory));
    assert!(k.display().is_none());
    // Region numbering is the kernel's as before: the display's id is reserved.
    assert_eq!(k.region_with(KERNEL_PID, b"x"), Ok(1));
}

#[test]
fn display_modes_parse_within_bounds() {
    assert_eq!(
        DisplayMode::parse("320x240"),
        Some(DisplayMode {
            width: 320,
            height: 240
        })
    );
    for bad in ["", "320", "0x240", "320x0", "4097x1", "ax1", "320x240x1"] {
        assert_eq!(DisplayMode::parse(bad), None, "{bad}");
    }
    assert_eq!((MODE.stride(), MODE.bytes()), (32, 128));
}
