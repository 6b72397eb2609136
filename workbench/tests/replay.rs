//! Record and replay: ping and pong, spawned with `--record` on a board,
//! replay bit-exactly (every call, argument and exit code) when their
//! modules run alone on either engine; another module diverges at its
//! first different call.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tidemark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Records ping and pong exchanging 50 round trips on `board`; returns
/// the two recordings.
fn record(board: &str, test: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tidemark-replay-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ping, pong) = (dir.join("ping.tmrec"), dir.join("pong.tmrec"));
    let script = dir.join("record.tms");
    std::fs::write(
        &script,
        format!(
            "chan new there\nchan new back\n\
             spawn ping --args \"rr 50\" --cap out=there:w --cap in=back:r --record\n\
             spawn pong --cap in=there:r --cap out=back:w --record\n\
             ps --all\nexpect /ping\\s+exited.*code 0/ within 20s\n\
             ps --all\nexpect /pong\\s+exited.*code 50/ within 20s\n\
             record ping {}\nexpect /[0-9]+ calls/\nrecord pong {}\n",
            ping.display(),
            pong.display()
        ),
    )
    .unwrap();
    let out = tidemark(&["run", "--board", board, script.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    (ping, pong)
}

fn replays(file: &Path, engine: &str, code: i32) {
    let out = tidemark(&[
        "replay",
        file.to_str().unwrap(),
        "--engine",
        engine,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replayed"], report["total"], "{report}");
    assert!(report["total"].as_u64().unwrap() > 100, "{report}");
    assert_eq!(report["end"]["kind"], "matched", "{report}");
    assert_eq!(
        report["end"]["then"],
        format!("exited with code {code}"),
        "{report}"
    );
}

#[test]
fn ping_and_pong_recorded_on_hosted_replay_bit_exactly_on_wasmi_and_wasmtime() {
    let (ping, pong) = record("hosted", "engines");
    for engine in ["wasmi", "wasmtime"] {
        replays(&ping, engine, 0);
        replays(&pong, engine, 50);
    }
}

#[test]
fn ping_and_pong_recorded_on_qemu_riscv32_replay_on_wasmtime() {
    let (ping, pong) = record("qemu-riscv32", "qemu");
    replays(&ping, "wasmtime", 0);
    replays(&pong, "wasmtime", 50);
}

#[test]
fn another_module_diverges_at_its_first_different_call_and_a_damaged_file_is_refused() {
    let (ping, pong) = record("hosted", "diverge");
    // pong's module under ping's recording: pong's first call differs.
    let module = std::env::temp_dir().join(format!("tidemark-pong-{}.wasm", std::process::id()));
    let rec = tidemark_protocol::recording_from_bytes(&std::fs::read(&pong).unwrap()).unwrap();
    std::fs::write(&module, &rec.module).unwrap();
    let out = tidemark(&[
        "replay",
        ping.to_str().unwrap(),
        "--module",
        module.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("diverged at call 0") && said.contains("expected proc_args("),
        "{said}"
    );

    let bytes = std::fs::read(&ping).unwrap();
    std::fs::write(&module, &bytes[..bytes.len() / 3]).unwrap();
    let out = tidemark(&["replay", module.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the recording is damaged"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_file(module);
}
