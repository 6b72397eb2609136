//! The qemu-riscv32 board from outside: a kernel booted on its own is
//! reachable over its UART socket, and QEMU dying mid-request is reported by
//! both the booting and the attached process, with non-zero exits, instead
//! of hanging either; the next boot on the same socket is attached to as if
//! nothing had happened.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

fn wait_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} hung after QEMU died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn qemu_dying_is_reported_not_hung_on() {
    let sock = std::env::temp_dir().join(format!("tidemark-qemu-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let mut boot = boot_on(&sock);
    let mut attach = Command::new(BIN)
        .arg("attach")
        .arg(&sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = attach.stdin.take().unwrap();
    // `info`, then a tail that waits two minutes: QEMU dies mid-request.
    input
        .write_all(b"info\nchan new t\nchan tail t --for 120s\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    // Kill the machine under both of them.
    let pattern = format!("qemu-system-riscv32 .*{}", sock.display());
    let qemu = Command::new("pkill")
        .arg("-9")
        .arg("-f")
        .arg(&pattern)
        .status()
        .unwrap();
    assert!(qemu.success(), "no QEMU process serving {}", sock.display());
    let killed = Instant::now();
    let _ = input.write_all(b"ps\ninfo\n");
    drop(input);

    let status = wait_exit(&mut attach, "tidemark attach");
    // Reported within the link's own timeouts, not the tail's two minutes.
    assert!(killed.elapsed() < Duration::from_secs(30));
    let out = attach.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains("board     qemu-riscv32"),
        "the first command ran over the UART:\n{stdout}"
    );
    // `info` reports what the board's manifest says: its engine, and a heap
    // of the rest of RAM (all but the image and the stacks).
    let manifest: toml::Table = include_str!("../../boards/qemu-riscv32/board.toml")
        .parse()
        .unwrap();
    let engine = manifest["board"]["engine"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("\nengine    {engine}\n")),
        "engine {engine} per the manifest:\n{stdout}"
    );
    let (ram, heap) = (
        manifest["memory"]["ram"].as_str().unwrap(),
        manifest["memory"]["heap"].as_str().unwrap(),
    );
    let ram_mib: f64 = ram.strip_suffix('M').expect("ram in M").parse().unwrap();
    let heap_mib: f64 = stdout
        .split("used of ")
        .nth(1)
        .and_then(|t| t.split(" MiB").next())
        .and_then(|n| n.parse().ok())
        .expect("a heap size in MiB");
    assert_eq!(heap, "rest");
    assert!(
        heap_mib < ram_mib && heap_mib > ram_mib - 16.0,
        "heap {heap_mib} MiB is not the rest of {ram}:\n{stdout}"
    );
    assert!(!status.success(), "attach must fail once the link is gone");
    assert!(stderr.contains("link to the kernel is gone"), "{stderr}");

    let status = wait_exit(&mut boot, "tidemark boot");
    let out = boot.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !status.success() && stderr.contains("QEMU exited"),
        "{status:?}\n{stderr}"
    );
    assert!(!sock.exists(), "the socket is cleaned up");

    // A new machine on the same socket: attached to, answering.
    let mut boot = boot_on(&sock);
    let out = Command::new(BIN)
        .arg("attach")
        .arg(&sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut a| {
            a.stdin.take().unwrap().write_all(b"info\nps\n")?;
            a.wait_with_output()
        })
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("board     qemu-riscv32"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let term = Command::new("kill")
        .args(["-TERM", &boot.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = wait_exit(&mut boot, "tidemark boot after SIGTERM");
    assert!(!status.success(), "{status:?}");
    assert!(
        qemu_pid(&sock).is_none(),
        "the second QEMU stopped with its workbench"
    );
}

/// `tidemark boot qemu-riscv32 --listen SOCK`, once QEMU's socket exists.
fn boot_on(sock: &std::path::Path) -> std::process::Child {
    let mut boot = Command::new(BIN)
        .args(["boot", "qemu-riscv32", "--listen"])
        .arg(&sock)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !sock.exists() {
        assert!(boot.try_wait().unwrap().is_none(), "boot ended early");
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "QEMU never created its UART socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    boot
}

/// The QEMU a `tidemark boot` started, found by its socket on the command line.
fn qemu_pid(sock: &std::path::Path) -> Option<u32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("qemu-system-riscv32 .*{}", sock.display())])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
}

fn alive(pid: u32) -> bool {
    // A zombie is dead: its state is `Z`.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// What CI runners and supervisors send (SIGTERM), a closed terminal
/// (SIGHUP), Ctrl-C (SIGINT) and a workbench killed outright (SIGKILL): in
/// every case the QEMU it started stops too, never left reparented to init.
#[test]
fn no_qemu_outlives_the_workbench() {
    for signal in ["TERM", "HUP", "INT", "KILL"] {
        let sock = std::env::temp_dir().join(format!(
            "tidemark-orphan-{signal}-{}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&sock);
        let mut boot = Command::new(BIN)
            .args(["boot", "qemu-riscv32", "--listen"])
            .arg(&sock)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let qemu = loop {
            if let Some(pid) = qemu_pid(&sock).filter(|_| sock.exists()) {
                break pid;
            }
            assert!(boot.try_wait().unwrap().is_none(), "boot ended early");
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "QEMU never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &boot.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_exit(&mut boot, "the workbench");
        let start = Instant::now();
        while alive(qemu) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "QEMU {qemu} outlived the workbench's SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&sock);
    }
}
