//! The QEMU board's display, end to end: a guest draws a known picture
//! into the kernel's framebuffer and presents it; the kernel's virtio-gpu
//! driver hands the framebuffer to QEMU's device; QEMU's own `screendump`
//! (`screenshot --scanout`, over QMP) shows exactly the pixels the guest
//! drew, as the monitor's read of the framebuffer does.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The `draw` picture of `kernel/guests/probe` at (`x`, `y`) in `frame`.
fn drawn(x: u32, y: u32, w: u32, h: u32, frame: u32) -> u32 {
    let sq = (frame * 8) % (w - 16);
    if (sq..sq + 16).contains(&x) && (h / 2..h / 2 + 16).contains(&y) {
        return 0xff_ffff;
    }
    ((x * 255 / w) << 16) | ((y * 255 / h) << 8) | ((frame * 16) & 0xff)
}

fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn qemu_scans_out_what_the_guest_drew() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .current_dir(root)
        .args(["run", "--board", "qemu-riscv32", "--json"])
        .arg(root.join("../tests/display/scanout.tms"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the script failed:\n{stderr}");
    let shots: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("screenshot"))
        })
        .map(|v| v["output"].clone())
        .collect();
    assert_eq!(shots.len(), 2, "{shots:?}");
    let (fb, scan) = (&shots[0], &shots[1]);
    assert_eq!(
        (fb["source"].as_str(), scan["source"].as_str()),
        (Some("framebuffer"), Some("scanout"))
    );
    assert_eq!(fb["presents"], 3);
    assert_eq!(
        fb["digest"], scan["digest"],
        "QEMU shows other pixels than the framebuffer holds"
    );
    // And those pixels are what the guest drew in its last frame.
    for file in ["framebuffer", "scanout"] {
        let (w, h, rgb) = read_png(&root.join(format!("target/display-{file}.png")));
        assert_eq!((w, h), (320, 240));
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                let got = (u32::from(rgb[i]) << 16)
                    | (u32::from(rgb[i + 1]) << 8)
                    | u32::from(rgb[i + 2]);
                assert_eq!(got, drawn(x, y, w, h, 2), "{file} pixel ({x}, {y})");
            }
        }
    }
}
