//! The userland end to end, through the `tidemark` binary: an image
//! committed and saved boots again with its writes (files and kv's keys);
//! a guest is refused what its grant does not cover, with events naming
//! it; a client of a stopped service gets a clear error, not a hang, and
//! its next call after the restart succeeds. On hosted and qemu-riscv32.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tidemark-userland-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The boards the userland tests run on.
const BOARDS: [&str; 2] = ["hosted", "qemu-riscv32"];

fn run(dir: &Path, args: &[&str], script: &str) -> String {
    let path = dir.join("s.tms");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(BIN).arg("run").args(args).arg(&path).env_remove("TIDEMARK_PROJECT").current_dir(dir).output().unwrap();
    ok(out, script)
}

#[test]
fn a_committed_image_boots_again_with_its_files_and_keys() {
    for board in BOARDS {
        commit_and_boot_again(board);
    }
}

fn commit_and_boot_again(board: &str) {
    let d = scratch(&format!("commit-{board}"));
    let image = d.join("saved.tmfs");
    let first = run(
        &d,
        &["--services", "--board", board],
        &format!(
            "expect event /kv: ready/ within 60s\n\
             fs put /etc/motd \"from the first boot\"\n\
             kv set colour teal\n\
             fs commit --save {}\n\
             expect /committed \\d+ changes/\n",
            image.display()
        ),
    );
    assert!(first.contains("saved to"), "{first}");
    let second = run(
        &d,
        &["--image", image.to_str().unwrap(), "--board", board],
        "expect event /kv: 1 keys restored/ within 60s\n\
         fs cat /etc/motd\n\
         expect /from the first boot/\n\
         kv get colour\n\
         expect /colour = \"teal\"/\n\
         fs diff\n\
         expect /no changes/\n\
         fs ls /etc\n\
         expect /motd\\s+19\\s+lower/\n",
    );
    assert!(second.contains("from the first boot"), "{second}");
    // A damaged image is refused before boot, saying where.
    let mut bytes = std::fs::read(&image).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&image, &bytes).unwrap();
    let out = Command::new(BIN).args(["run", "--board", board, "--image"]).arg(&image).arg(d.join("s.tms")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad file-system image at byte"), "{stderr}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_guest_is_held_to_its_grant_and_a_stopped_service_is_a_clear_error() {
    for board in BOARDS {
        held_to_its_grant(board);
    }
}

fn held_to_its_grant(board: &str) {
    let d = scratch(&format!("grant-{board}"));
    let project = d.join("p");
    ok(Command::new(BIN).arg("new").arg(&project).args(["--template", "kv-client"]).output().unwrap(), "new");
    // vfs read-only for this guest.
    let manifest = project.join("Tidemark.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("fs = { root = \"/home/app\" }", "fs = { root = \"/home/app\", write = false }")).unwrap();
    let script = project.join("grant.tms");
    std::fs::write(
        &script,
        "expect event /app: boot 1/ within 20s\n\
         # kv: a key outside app/\n\
         chan send cmd \"get secrets/key\"\n\
         chan tail out --count 1\n\
         expect /permission denied: read key `secrets\\/key`/\n\
         expect event /kv: permission denied to `app`: read key `secrets\\/key` \\(holds keys `app\\/\\*` read-write\\)/\n\
         # vfs: a write on a read-only root\n\
         chan send cmd \"put notes.txt x\"\n\
         chan tail out --count 1\n\
         expect /permission denied: write `notes.txt`/\n\
         expect event /vfs: permission denied to `app`: write `notes.txt` \\(holds `\\/home\\/app` read-only\\)/\n\
         # bus: a topic it may not publish on\n\
         chan send cmd \"pub sensors/x 1\"\n\
         chan tail out --count 1\n\
         expect event /bus: permission denied to `app`: publish `sensors\\/x`/\n\
         # One publish, two subscribers: app (sensors/#) and the monitor.\n\
         bus sub \"sensors/*/temp\" --for 10ms\n\
         bus pub sensors/hall/temp 19\n\
         expect /delivered to 2, dropped by 0/\n\
         expect event /app: message on sensors\\/hall\\/temp from monitor: 19/ within 5s\n\
         # kv stopped: the call fails within its timeout instead of hanging.\n\
         svc restart kv --stop\n\
         expect event /init: kv stopped/ within 5s\n\
         chan send cmd \"timeout 300\"\n\
         chan tail out --count 1\n\
         chan send cmd \"get app/boots\"\n\
         chan tail out --count 1 --for 5s\n\
         expect /error: unavailable: kv did not answer in 300 ms/\n\
         svc restart kv\n\
         expect event /kv: 1 keys restored/ within 60s\n\
         chan send cmd \"get app/boots\"\n\
         chan tail out --count 1 --for 5s\n\
         expect /\"1\"/\n\
         svc ls\n\
         expect /kv\\s+running\\s+\\d+\\s+1\\s/\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("dev").arg(&project).args(["--board", board]).arg("--script").arg(&script).output().unwrap();
    // The boot wrote no note: the read-only root refused it.
    let stdout = ok(out, "dev with the grant script");
    assert!(stdout.contains("kv did not answer in 300 ms"), "{stdout}");
    let _ = std::fs::remove_dir_all(&d);
}
