//! Every scripted session in `tests/sessions/` passes on the hosted board,
//! and every one not marked `# hosted-only` on `qemu-riscv32` too (a real
//! QEMU booting the real kernel image, driven over its emulated UART).

use std::process::Command;

fn sessions_pass_on(board: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "tms")).collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "expected the session suite in {}", dir.display());
    let junit = std::env::temp_dir().join(format!("tidemark-sessions-{board}-{}.xml", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark")).arg("run").args(&scripts).args(["--board", board, "--junit"]).arg(&junit).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sessions failed:\n{stderr}");
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(report.contains(&format!("tests=\"{}\" failures=\"0\"", scripts.len())), "{report}");
    let hosted_only = scripts.iter().filter(|p| std::fs::read_to_string(p).unwrap().lines().any(|l| l.trim() == "# hosted-only")).count();
    let skipped = if board == "hosted" { 0 } else { hosted_only };
    assert!(report.contains(&format!("skipped=\"{skipped}\"")), "{report}");
    let _ = std::fs::remove_file(junit);
}

#[test]
fn sessions_pass_on_hosted() {
    sessions_pass_on("hosted");
}

#[test]
fn sessions_pass_on_qemu_riscv32() {
    sessions_pass_on("qemu-riscv32");
}
