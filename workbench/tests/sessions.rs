//! Every scripted session in `tests/sessions/` passes on the hosted board.

use std::process::Command;

#[test]
fn sessions_pass_on_hosted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "tms")).collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "expected the session suite in {}", dir.display());
    let junit = std::env::temp_dir().join(format!("tidemark-sessions-{}.xml", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark")).arg("run").args(&scripts).arg("--junit").arg(&junit).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sessions failed:\n{stderr}");
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(report.contains(&format!("tests=\"{}\" failures=\"0\"", scripts.len())), "{report}");
    let _ = std::fs::remove_file(junit);
}
