//! The esp32c6 board without a board (no ESP32 emulator is installable
//! here): its image builds, fits the chip's 512 KiB of RAM, and becomes a
//! flash image espflash would write (bootloader, partition table, app with
//! the app descriptor); the commands that need the board say so clearly.
//! `scripts/hil-esp32c6` runs the session suite on a real one.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

fn json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tidemark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kib(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_u64().unwrap() as f64 / 1024.0
}

#[test]
fn the_image_builds_fits_in_ram_and_is_reported_beside_bare_wasmi() {
    let kernel = json(&["image", "esp32c6", "--json"]);
    let bare = json(&["image", "esp32c6", "--bare-wasmi", "--json"]);
    let ram = |s: &serde_json::Value| {
        ["data", "bss", "stack"]
            .iter()
            .map(|k| s[*k].as_u64().unwrap())
            .sum::<u64>()
    };
    // Static data, the heap (in .bss) and the stack the linker script left:
    // all of it in the chip's SRAM (the rest of the 512 KiB holds code run
    // from RAM).
    assert!(ram(&kernel) <= 512 << 10, "{kernel}");
    assert!(
        kernel["bss"].as_u64().unwrap() >= 320 << 10,
        "the manifest's heap is in .bss: {kernel}"
    );
    let flash = |s: &serde_json::Value| s["text"].as_u64().unwrap() + s["rodata"].as_u64().unwrap();
    eprintln!(
        "esp32c6 image: text {:.1} KiB, rodata {:.1} KiB, data {:.1} KiB, bss {:.1} KiB, stack {:.1} KiB; \
         bare wasmi: text {:.1} KiB, rodata {:.1} KiB; text+rodata {:.2}x bare",
        kib(&kernel, "text"),
        kib(&kernel, "rodata"),
        kib(&kernel, "data"),
        kib(&kernel, "bss"),
        kib(&kernel, "stack"),
        kib(&bare, "text"),
        kib(&bare, "rodata"),
        flash(&kernel) as f64 / flash(&bare) as f64
    );
    assert!(
        flash(&kernel) > flash(&bare),
        "the kernel is more than bare wasmi"
    );
}

#[test]
fn the_flash_image_is_what_espflash_writes() {
    let file = std::env::temp_dir().join(format!("tidemark-c6-{}.bin", std::process::id()));
    let r = json(&[
        "flash",
        "--board",
        "esp32c6",
        "--save-image",
        file.to_str().unwrap(),
        "--json",
    ]);
    let segs: Vec<(u64, &str)> = r["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["addr"].as_u64().unwrap(), s["what"].as_str().unwrap()))
        .collect();
    assert_eq!(
        segs,
        [
            (0, "bootloader"),
            (0x8000, "partition-table"),
            (0x10000, "app")
        ]
    );
    assert_eq!(
        (r["via"].as_str(), r["transport"].as_str()),
        (Some("saved"), Some("serial"))
    );
    let bin = std::fs::read(&file).unwrap();
    // ESP image header magic, at the bootloader and at the app.
    assert_eq!((bin[0], bin[0x10000]), (0xe9, 0xe9));
    // The app descriptor (`esp_app_desc!`) opens the app's first segment:
    // after the 24-byte image header and the 8-byte segment header.
    assert_eq!(
        bin[0x10000 + 32..0x10000 + 36],
        0xabcd_5432u32.to_le_bytes()
    );
    assert!(
        bin.windows(16).any(|w| w == b"tidemark-esp32c6"),
        "the descriptor names the project"
    );
    // The partition table's magic.
    assert_eq!(bin[0x8000..0x8002], [0xaa, 0x50]);
    // The RTT transport's image builds too (its monitor is the probe's).
    let r = json(&[
        "flash",
        "--board",
        "esp32c6",
        "--transport",
        "rtt",
        "--save-image",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["transport"].as_str(), Some("rtt"));
    assert!(
        r["elf"].as_str().unwrap().contains("/rtt/"),
        "its own target dir: {r}"
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn board_commands_without_the_board_say_what_is_missing() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env_remove("TIDEMARK_BOARD")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[
        "flash",
        "--board",
        "qemu-riscv32",
        "--save-image",
        "/dev/null",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("booted by QEMU") && err.contains("nothing to flash"),
        "{err}"
    );
    // Unless a board is plugged in: then these are for scripts/hil-esp32c6.
    let plugged = Command::new(BIN)
        .args(["ports", "--json"])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&plugged.stdout).contains("esp_usb_serial_jtag") {
        return;
    }
    let (code, err) = run(&["attach", "--board", "esp32c6"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no esp32c6 found on USB (id 303a:1001)") && err.contains("tidemark ports"),
        "{err}"
    );
    let (code, err) = run(&["run", "--board", "esp32c6", "/dev/null"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no esp32c6 found on USB"), "{err}");
}
