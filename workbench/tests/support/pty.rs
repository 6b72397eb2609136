//! QEMU's `virt` machine with its UART on a pty (`-serial pty`), and a
//! stable name for it: what a USB board and its `/dev/serial/by-id/` link
//! look like to the workbench. Shared by tests/serial.rs and benches/board.rs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A QEMU that is killed when dropped, so a failing test leaves none behind.
pub struct Machine(Child);

impl Machine {
    /// Kills it now (the board going away).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A machine with its UART on a fresh pty; returns it and the pty's path.
pub fn boot_on_pty(image: &Path) -> (Machine, PathBuf) {
    let mut qemu = Command::new("qemu-system-riscv32")
        .args([
            "-machine",
            "virt",
            "-bios",
            "none",
            "-m",
            "128M",
            "-smp",
            "1",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-serial",
            "pty",
            "-kernel",
        ])
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-riscv32 (scripts/setup installs it)");
    // QEMU says where the pty is on stdout.
    let mut err = BufReader::new(qemu.stdout.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        // "char device redirected to /dev/pts/3 (label serial0)"
        if let Some(rest) = line.split("redirected to ").nth(1) {
            let pty = rest.split_whitespace().next().unwrap().to_string();
            // Keep draining stdout so QEMU never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return (Machine(qemu), pty.into());
        }
        line.clear();
    }
    panic!("QEMU did not say which pty it opened");
}

/// Points `link` at `target`, atomically (as udev replaces a by-id link).
pub fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}
