//! `tidemark boot hosted --listen` in one process, sessions attaching from
//! others: the guests keep running across detach and reattach.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

#[path = "support/listen.rs"]
mod listen;
use listen::boot;

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(sock: &Path, script: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("run")
        .arg("--attach")
        .arg(sock)
        .arg(script)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn attach_detach_reattach_without_disturbing_guests() {
    let dir = std::env::temp_dir().join(format!("tidemark-attach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("kernel.sock");
    let mut kernel = boot(&sock);
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600,
        "the monitor socket is private"
    );

    let setup = script(
        &dir,
        "setup.tms",
        "chan new req\nchan new resp\nspawn counter --cap req=req:r --cap resp=resp:w\nexpect event /counter: ready/\nchan send req \"add 5\"\n",
    );
    let (ok, out) = run(&sock, &setup);
    assert!(ok, "{out}");

    // A second session, after the first detached: same guest, same state.
    let again = script(
        &dir,
        "again.tms",
        "ps\nexpect /1\\s+counter\\s+blocked/\nchan send req inc\nchan tail resp --count 2 --for 10s\nexpect /#1 .* 0x0600000000000000/\n",
    );
    let (ok, out) = run(&sock, &again);
    assert!(ok, "{out}");

    // A second kernel may not take over a live socket.
    let second = Command::new(BIN)
        .args(["boot", "hosted", "--listen"])
        .arg(&sock)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // Interrupting the kernel removes its socket and exits cleanly.
    Command::new("kill")
        .arg("-INT")
        .arg(kernel.0.id().to_string())
        .status()
        .unwrap();
    let status = kernel.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!sock.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listen_refuses_to_replace_a_file_that_is_not_a_socket() {
    let dir = std::env::temp_dir().join(format!("tidemark-notsock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("precious.txt");
    std::fs::write(&path, "keep me").unwrap();
    let out = Command::new(BIN)
        .args(["boot", "hosted", "--listen"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn attaching_to_nothing_is_a_clear_error() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions/counter.tms");
    let out = Command::new(BIN)
        .args(["run", "--attach", "/nonexistent/tidemark.sock"])
        .arg(script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot attach to /nonexistent/tidemark.sock")
    );
}

/// Link faults on a live kernel: a client that sends garbage, one that
/// hangs up halfway through a request frame, one that sends a request and
/// hangs up before the reply. Each costs only its own connection: the next
/// attach is answered and the guests never noticed.
#[test]
fn a_client_that_dies_mid_request_costs_nothing_but_itself() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use tidemark_protocol::{Body, Request, encode, req};

    let dir = std::env::temp_dir().join(format!("tidemark-linkfault-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("kernel.sock");
    let _kernel = boot(&sock);
    let setup = script(
        &dir,
        "setup.tms",
        "chan new req\nchan new resp\nspawn counter --cap req=req:r --cap resp=resp:w\nexpect event /counter: ready/\nchan send req inc\n",
    );
    let (ok, out) = run(&sock, &setup);
    assert!(ok, "{out}");

    let request = encode(
        1,
        &Body::Request(Request::Hello(req::Hello {
            version: tidemark_protocol::PROTOCOL_VERSION,
            client: "fault".into(),
        })),
    );
    let faults: [&[u8]; 3] = [
        b"\xff\x00garbage that is not a frame\r\n\x1b[2J",
        &request[..request.len() / 2],
        &request,
    ];
    for bytes in faults {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(bytes).unwrap();
        drop(s);
    }

    let again = script(
        &dir,
        "again.tms",
        "ps\nexpect /1\\s+counter\\s+blocked/\nchan send req inc\nchan tail resp --count 2 --for 10s\nexpect /#1 .* 0x0200000000000000/\n",
    );
    let (ok, out) = run(&sock, &again);
    assert!(ok, "after three broken clients: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}
