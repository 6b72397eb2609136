//! A board's kernel panicking, end to end: `panic --yes` makes the real
//! kernel image panic (on qemu-riscv32, in QEMU; on wasm-js, in Node); its
//! panic handler sends the kernel's dump as its last words; the workbench
//! says so and `--dump-on-trap` writes the dump, which reads back as the
//! system that was running (hosted refuses: its kernel is the workbench).

use std::process::Command;

use tidemark_protocol::dump_from_bytes;

fn panics_and_leaves_its_dump(board: &str) {
    let dir = std::env::temp_dir().join(format!("tidemark-panic-{board}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/postmortem/panic.tms");
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["run", "--board", board, "--dump-on-trap"])
        .arg(&dir)
        .arg(&script)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the kernel panicked (kernel panic: "),
        "{stdout}"
    );
    assert!(
        stderr.contains("tidemark: the kernel panicked: kernel panic: "),
        "{stderr}"
    );
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{board}-panic-")), "{name}");
    let d = dump_from_bytes(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!(
        d.reason.starts_with("kernel panic: ")
            && d.reason.contains("asked by the monitor: on purpose"),
        "{}",
        d.reason
    );
    assert_eq!(d.info.board, board);
    // The system as it was: the guest that drew, its last frame presented.
    assert!(d.ps.iter().any(|p| p.name == "draw"), "{:?}", d.ps);
    assert!(
        d.arenas
            .iter()
            .flat_map(|a| &a.regions)
            .any(|r| r.purpose == tidemark_protocol::Purpose::Display)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn qemu_riscv32_panics_and_leaves_its_dump() {
    panics_and_leaves_its_dump("qemu-riscv32");
}

#[test]
fn wasm_js_panics_and_leaves_its_dump() {
    panics_and_leaves_its_dump("wasm-js");
}
