//! The QEMU board's display, end to end: a guest draws a known picture
//! into the kernel's framebuffer and presents it; the kernel's virtio-gpu
//! driver hands the framebuffer to QEMU's device; QEMU's own `screendump`
//! (`screenshot --scanout`, over QMP) shows exactly the pixels the guest
//! drew, as the monitor's read of the framebuffer does.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[path = "support/listen.rs"]
mod listen;

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

/// Runs `script` (under `tests/display/`) on qemu-riscv32; the outputs of
/// its `screenshot`s.
fn screenshots(script: &str) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .current_dir(root)
        .args(["run", "--board", "qemu-riscv32", "--json"])
        .arg(root.join("../tests/display").join(script))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the script failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("screenshot"))
        })
        .map(|v| v["output"].clone())
        .collect()
}

/// Every pixel of `file` (under `workbench/target/`) is what the guest
/// drew in its last frame.
fn drawn_by_the_guest(file: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (w, h, rgb) = read_png(&root.join("target").join(file));
    assert_eq!((w, h), (320, 240));
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 3) as usize;
            let got =
                (u32::from(rgb[i]) << 16) | (u32::from(rgb[i + 1]) << 8) | u32::from(rgb[i + 2]);
            assert_eq!(got, drawn(x, y, w, h, 2), "{file} pixel ({x}, {y})");
        }
    }
}

#[test]
fn qemu_scans_out_what_the_guest_drew() {
    let shots = screenshots("scanout.tms");
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
    assert_eq!(
        (fb["via"].as_str(), scan["via"].as_str()),
        (Some("monitor"), Some("qmp"))
    );
    // And those pixels are what the guest drew in its last frame.
    drawn_by_the_guest("display-framebuffer.png");
    drawn_by_the_guest("display-scanout.png");
}

/// With the `qemu-display` feature the workbench attaches to QEMU's D-Bus
/// display at boot, and the picture QEMU pushes there is the guest's.
#[cfg(feature = "qemu-display")]
#[test]
fn qemu_s_dbus_display_shows_what_the_guest_drew() {
    let shots = screenshots("scanout-dbus.tms");
    assert_eq!(shots.len(), 2, "{shots:?}");
    assert_eq!(shots[1]["via"], "dbus");
    assert_eq!(shots[0]["digest"], shots[1]["digest"]);
    drawn_by_the_guest("display-dbus.png");
}

/// Without the feature, asking for the D-Bus display says how to get it.
#[cfg(not(feature = "qemu-display"))]
#[test]
fn without_the_feature_the_dbus_display_says_how_to_get_it() {
    let dir = std::env::temp_dir().join(format!("tidemark-nodbus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("dbus.tms");
    std::fs::write(&script, "! screenshot x.png --scanout --via dbus\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["run", "--board", "qemu-riscv32"])
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("built without the `qemu-display` feature: build it with `cargo build -p tidemark --features qemu-display`"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tidemark screenshot`: on a running kernel (`--attach`) it writes what
/// a guest drew there; on a fresh one, the framebuffer it sets up, black;
/// `--scanout` where nothing scans out is an error that says why.
#[test]
fn tidemark_screenshot_reads_a_running_kernel_or_a_fresh_one() {
    let dir = std::env::temp_dir().join(format!("tidemark-screenshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_tidemark");
    let sock = dir.join("kernel.sock");
    let kernel = listen::boot(&sock);
    let script = dir.join("draw.tms");
    std::fs::write(
        &script,
        "spawn probe --args \"draw 3\" --cap display=display\nexpect event /draw: 320x240, 3 presents/ within 30s\n",
    )
    .unwrap();
    let ran = Command::new(bin)
        .arg("run")
        .arg("--attach")
        .arg(&sock)
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let shot = |args: &[&str], file: &Path| {
        Command::new(bin)
            .arg("screenshot")
            .args(args)
            .arg(file)
            .arg("--json")
            .output()
            .unwrap()
    };
    let attached = dir.join("attached.png");
    let out = shot(&["--attach", sock.to_str().unwrap()], &attached);
    drop(kernel);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["presents"].as_u64(), v["source"].as_str()),
        (Some(3), Some("framebuffer"))
    );
    let (w, h, rgb) = read_png(&attached);
    assert_eq!(rgb[..3], [0, 0, 32], "frame 2's blue at (0, 0)");
    assert_eq!((w, h), (320, 240));

    let fresh = dir.join("fresh.png");
    let out = shot(&["--board", "hosted"], &fresh);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["presents"].as_u64(), Some(0));
    assert!(
        read_png(&fresh).2.iter().all(|b| *b == 0),
        "a fresh framebuffer is black"
    );

    let out = shot(&["--board", "hosted", "--scanout"], &fresh);
    assert_eq!(out.status.code(), Some(1));
    // Errors go to stderr, as JSON under --json.
    let v: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--scanout needs a QEMU board"),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
