//! A hosted kernel in its own process, serving its monitor on a Unix
//! socket (`tidemark boot hosted --listen`), for tests that attach to a
//! running kernel. Shared by `tests/attach.rs` and `tests/display.rs`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel's process; killed when the test ends, however it ends.
pub struct Kernel(pub Child);

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots a hosted kernel listening on `sock`, once the socket is there.
pub fn boot(sock: &Path) -> Kernel {
    let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["boot", "hosted", "--listen"])
        .arg(sock)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the kernel never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Kernel(child)
}
