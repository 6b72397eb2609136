//! The wasm-js board's JS runtime, under Node's own test runner
//! (`boards/wasm-js/runtime/test/`): the kernel's WebAssembly bytes boot in
//! a worker, bad input is refused with its reason, and the session suite
//! runs through the runtime with the hosted board's answers. Node comes
//! from `scripts/setup` (Debian's `nodejs`).

use std::path::Path;
use std::process::Command;

#[test]
fn the_js_runtime_passes_its_node_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/wasm-js/runtime");
    let mut files: Vec<_> = std::fs::read_dir(dir.join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "expected the runtime's tests in {}",
        dir.display()
    );
    let out = Command::new("node")
        .arg("--test")
        .args(&files)
        .current_dir(&dir)
        .env("TIDEMARK_BIN", env!("CARGO_BIN_EXE_tidemark"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): run ./scripts/setup, which installs it")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The figures the tests print (boot time) go to the cargo log.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "node --test failed:\n{stdout}\n{stderr}"
    );
    // Every test ran: a runner that found no files also exits 0.
    assert!(stdout.contains("# pass 5\n"), "{stdout}");
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
