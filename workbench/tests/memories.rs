//! Guest memories on every board: `peek` reads a live process's memory
//! (on hosted, copied by the process itself at its next safe point: a
//! parked counter and a spinning guest both answer), `dump --memories`
//! keeps every live process's non-zero pages, and `peek` in `tidemark
//! inspect` reads the same bytes back from the file. The module's data is
//! the same bytes on every engine.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

/// The hex `peek` printed in `stdout`: a script's `--json` line, or the
/// REPL's pretty JSON.
fn peeked(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str::<Value>(&text)
        .into_iter()
        .chain(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
        )
        .find_map(|v| {
            let v = v.get("output").cloned().unwrap_or(v);
            v["hex"].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no peek in {}", String::from_utf8_lossy(stdout)))
}

fn live_and_dumped(board: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir =
        std::env::temp_dir().join(format!("tidemark-memories-{board}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args(["run", "--board", board, "--json"])
        .arg(root.join("../tests/postmortem/memories.tms"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = peeked(&out.stdout);
    let dump = dir.join("target/memories.tmdump");
    let d = tidemark_protocol::dump_from_bytes(&std::fs::read(&dump).unwrap()).unwrap();
    // The counter, parked on its channel, and the spinner, always running.
    for pid in [1, 2] {
        let m = d
            .memory_of(pid)
            .unwrap_or_else(|| panic!("no memory of pid {pid}"));
        assert_eq!(m.missing, None, "pid {pid}");
        assert!(
            m.size >= 1 << 20 && !m.pages.is_empty(),
            "pid {pid}: {} bytes",
            m.size
        );
    }
    let mut inspect = Command::new(BIN)
        .arg("inspect")
        .arg(&dump)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    inspect
        .stdin
        .take()
        .unwrap()
        .write_all(b"peek ca 0x100000 --len 48 --json\n")
        .unwrap();
    let out = inspect.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        peeked(&out.stdout),
        live,
        "{board}: the dump reads other bytes than the live process"
    );
    let _ = std::fs::remove_dir_all(&dir);
    live
}

#[test]
fn peek_and_dumped_memories_agree_on_every_board() {
    let hosted = live_and_dumped("hosted");
    // The counter's data segment: its manifest's classes come first.
    assert!(
        hosted.starts_with(
            &"classes="
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        "{hosted}"
    );
    for board in ["qemu-riscv32", "wasm-js"] {
        assert_eq!(live_and_dumped(board), hosted, "{board}");
    }
}
