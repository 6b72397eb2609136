//! Every scripted session in `tests/sessions/` passes on the hosted board,
//! and every one not marked `# hosted-only` on `qemu-riscv32` too (a real
//! QEMU booting the real kernel image, driven over its emulated UART) and on
//! `wasm-js` (the kernel's WebAssembly bytes in Node, through the JS
//! runtime: that comparison is Node's test runner's, in
//! `boards/wasm-js/runtime/test/`, run by `tests/wasm_js.rs`); and each
//! board answers every command as hosted does, but for the fields that are
//! the engine's or the board's own (see [`BOARD_FIELDS`]).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn scripts() -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tms"))
        .collect();
    scripts.sort();
    assert!(
        scripts.len() >= 5,
        "expected the session suite in {}",
        dir.display()
    );
    scripts
}

/// Runs the suite on `board`; checks the JUnit report; returns the `--json` lines.
fn sessions_pass_on(board: &str) -> Vec<Value> {
    let scripts = scripts();
    let junit = std::env::temp_dir().join(format!(
        "tidemark-sessions-{board}-{}.xml",
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .arg("run")
        .args(&scripts)
        .args(["--board", board, "--json", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sessions failed:\n{stderr}");
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(
        report.contains(&format!("tests=\"{}\" failures=\"0\"", scripts.len())),
        "{report}"
    );
    let hosted_only = scripts
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l.trim() == "# hosted-only")
        })
        .count();
    let skipped = if board == "hosted" { 0 } else { hosted_only };
    assert!(
        report.contains(&format!("skipped=\"{skipped}\"")),
        "{report}"
    );
    let _ = std::fs::remove_file(junit);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Fields whose values are the engine's or the board's, not the session's,
/// one per line in `tests/sessions/board-fields.txt` (Node's wasm-js test
/// reads the same file): how many hostcalls a blocked guest made while it
/// waited and how often it parked (timing), its linear memory (the hosted
/// engine maps channel windows into it), the board's memory budget per
/// process, and a channel's data ring use (hosted keeps small frames in
/// their slots).
fn board_fields() -> Vec<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions/board-fields.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn without_board_fields(v: &Value) -> Value {
    let fields = board_fields();
    strip(v, &fields)
}

fn strip(v: &Value, fields: &[String]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !fields.iter().any(|f| f == k.as_str()))
                .map(|(k, v)| (k.clone(), strip(v, fields)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| strip(v, fields)).collect()),
        v => v.clone(),
    }
}

#[test]
fn sessions_pass_on_hosted() {
    sessions_pass_on("hosted");
}

#[test]
fn sessions_pass_on_qemu_riscv32_and_answer_as_hosted_does() {
    answer_as_hosted_does("qemu-riscv32");
}

/// Runs the suite on `board` and on hosted, and compares every answer but
/// the board's own fields.
fn answer_as_hosted_does(board: &str) {
    let other = sessions_pass_on(board);
    let hosted = sessions_pass_on("hosted");
    // Sessions marked hosted-only are skipped on the board: compare the rest.
    let hosted_only: Vec<String> = scripts()
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l.trim() == "# hosted-only")
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let shared = |v: &Value| {
        !hosted_only.iter().any(|s| {
            v["script"]
                .as_str()
                .is_some_and(|p| p.ends_with(s.as_str()))
        })
    };
    let hosted: Vec<&Value> = hosted.iter().filter(|v| shared(v)).collect();
    assert_eq!(
        hosted.len(),
        other.len(),
        "the boards ran different commands"
    );
    assert!(!other.is_empty());
    for (h, q) in hosted.iter().zip(&other) {
        assert_eq!(
            without_board_fields(h),
            without_board_fields(q),
            "`{}` ({} line {}) answered differently",
            h["command"],
            h["script"],
            h["line"]
        );
    }
}

/// `tidemark run --board hosted,qemu-riscv32` runs each script on both and
/// prints where their answers differ, side by side, without the boards' own
/// fields; it exits 1 when they differ (goldens in `tests/compare/`).
#[test]
fn run_on_two_boards_prints_where_they_answer_differently() {
    trycmd::TestCases::new().case("tests/compare/*.toml");
}
