//! Postmortem dumps: `tidemark inspect` runs the read-only commands over
//! the dumps checked in under `tests/dumps/` (one per board, each taken by
//! `tests/dumps/system.tms`) and matches goldens, as humility does over its
//! dumps; so a change to what a dump holds fails here until the format
//! version is bumped and the dumps are taken again:
//! `TIDEMARK_BLESS=1 cargo test -p tidemark --test inspect` (it boots
//! QEMU for the qemu-riscv32 dump), then
//! `TRYCMD=overwrite cargo test -p tidemark --test inspect` and
//! `python3 workbench/tests/sanitize.py workbench/tests/inspect/*.std*`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tidemark_protocol::{KernelDump, ProcState, dump_from_bytes};

const BOARDS: [&str; 2] = ["hosted", "qemu-riscv32"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Takes the dump of `tests/dumps/system.tms` on `board`.
fn take(board: &str) -> KernelDump {
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .current_dir(root())
        .args(["run", "--board", board, "tests/dumps/system.tms"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "system.tms failed on {board}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(root().join("target/system.tmdump")).unwrap();
    if std::env::var_os("TIDEMARK_BLESS").is_some() {
        std::fs::write(root().join(format!("tests/dumps/{board}.tmdump")), &bytes).unwrap();
    }
    dump_from_bytes(&bytes).unwrap()
}

fn checked_in(board: &str) -> KernelDump {
    let path = root().join(format!("tests/dumps/{board}.tmdump"));
    let bytes = std::fs::read(&path).unwrap();
    dump_from_bytes(&bytes).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nTake the dumps again: TIDEMARK_BLESS=1 cargo test -p tidemark --test inspect",
            path.display()
        )
    })
}

/// What a dump says about the system, without times and counts.
fn shape(d: &KernelDump) -> Vec<String> {
    let mut out: Vec<String> =
        d.ps.iter()
            .map(|p| format!("{} {} {}", p.pid, p.name, state(&p.state)))
            .collect();
    out.extend(
        d.channels
            .iter()
            .map(|c| format!("{} {} {}", c.id, c.name, c.frames_in_flight)),
    );
    out.extend(
        d.caps
            .iter()
            .map(|c| format!("{} holds {}", c.pid, c.caps.len())),
    );
    out
}

/// The state, but for a trap's engine-specific report.
fn state(s: &ProcState) -> String {
    match s {
        ProcState::Ended(_) => s.name().into(),
        s => format!("{} {}", s.name(), s.detail()),
    }
}

#[test]
fn checked_in_dumps_read_back_and_hold_what_system_tms_makes() {
    let fresh = take("hosted");
    let blessing = std::env::var_os("TIDEMARK_BLESS").is_some();
    if blessing {
        take("qemu-riscv32");
    }
    for board in BOARDS {
        let d = checked_in(board);
        assert_eq!(d.info.board, board);
        assert_eq!(d.reason, "asked");
        assert_eq!(
            shape(&d),
            shape(&fresh),
            "tests/dumps/{board}.tmdump no longer holds what tests/dumps/system.tms makes: take the dumps again"
        );
    }
}

#[test]
fn inspect_runs_the_read_only_commands_on_each_board_s_dump() {
    trycmd::TestCases::new().case("tests/inspect/*.toml");
}

#[test]
fn a_damaged_dump_is_refused_with_where_and_why() {
    let bytes = std::fs::read(root().join("tests/dumps/hosted.tmdump")).unwrap();
    for (what, bad, says) in [
        (
            "cut short",
            bytes[..bytes.len() / 2].to_vec(),
            "the dump is damaged",
        ),
        (
            "another version",
            [&bytes[..6], &[99, 0], &bytes[8..]].concat(),
            "dump format v99",
        ),
        ("not a dump", b"hello".to_vec(), "not a Tidemark dump"),
    ] {
        let path = std::env::temp_dir().join(format!("tidemark-bad-{}.tmdump", std::process::id()));
        std::fs::write(&path, &bad).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("inspect")
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(says) && stderr.contains(&path.display().to_string()),
            "{what}: {stderr}"
        );
    }
}

/// A process that traps leaves a dump taken before its capabilities went:
/// `run --dump-on-trap DIR` writes it, and `inspect` shows what it held.
#[test]
fn a_trap_leaves_a_dump_of_what_the_process_held() {
    let dir = std::env::temp_dir().join(format!("tidemark-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = dir.with_extension("tms");
    std::fs::write(
        &script,
        "chan new req\nspawn maintrap --name doomed --cap c=req:r\nexpect event /trapped/\nps --all\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["run", "--dump-on-trap"])
        .arg(&dir)
        .arg(&script)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("pid 1 `doomed` trapped") && stderr.contains("dump written to"), "{stderr}");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let d = dump_from_bytes(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!(d.reason.starts_with("pid 1 `doomed` trapped: wasm `unreachable`"), "{}", d.reason);
    let p = d.ps.iter().find(|p| p.pid == 1).unwrap();
    assert_eq!(p.state.name(), "trapped");
    let caps = d.caps_of(1);
    assert_eq!(caps.len(), 1, "the dump shows the capability it held: {caps:?}");
    assert_eq!(caps[0].name, "c");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(script);
}
