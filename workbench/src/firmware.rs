//! Bare-metal boards' kernel images (`[build]` in the manifest: QEMU's
//! and the ESP32-C6's): build the image crate with its boot bundle, for the
//! board's target, with the manifest's limits and heap.
//!
//! The image crate lives in `boards/<board>/<[build].crate>` (its own
//! workspace); `TIDEMARK_BOARDS_DIR` points elsewhere when the binary runs
//! away from the source tree. Each board builds into its own target
//! directory, `target/boards/<board>` (both have a `bare-wasmi` binary).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::Board;
use crate::board::{Build, Heap};

/// How `board` builds: only boards with an image crate get here.
fn parts(board: Board) -> Result<(&'static Build, &'static str), String> {
    let m = board.manifest();
    match (&m.build, &m.target) {
        (Some(b), Some(t)) => Ok((b, t)),
        _ => Err(format!(
            "board `{}` has no kernel image of its own (it runs inside the workbench)",
            board.name()
        )),
    }
}

pub fn boards_dir() -> PathBuf {
    std::env::var_os("TIDEMARK_BOARDS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards"),
        PathBuf::from,
    )
}

fn build_dir() -> PathBuf {
    std::env::var_os("TIDEMARK_BOARD_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/boards"),
        PathBuf::from,
    )
}

/// The boot bundle: the guests `only` names (every example and test guest
/// without), and nothing else in `dir`.
fn write_bundle(dir: &Path, only: Option<&[String]>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Some(names) = only
        && let Some(n) = names.iter().find(|n| {
            !tidemark_guest_artifacts::ALL
                .iter()
                .any(|g| g.name == n.as_str())
        })
    {
        return Err(format!(
            "the board's [build] bundle names `{n}`, which is not a built guest"
        ));
    }
    let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
    for e in std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
    {
        let p = e.path();
        if p.file_stem().is_some_and(|s| !wanted(&s.to_string_lossy())) {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    for g in tidemark_guest_artifacts::ALL
        .iter()
        .filter(|g| wanted(g.name))
    {
        let path = dir.join(format!("{}.wasm", g.name));
        if std::fs::read(&path).ok().as_deref() != Some(g.bytes) {
            std::fs::write(&path, g.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Builds the board's kernel image (with the example guests as its boot
/// bundle) once per run of the workbench; returns its path.
pub fn image(board: Board) -> Result<PathBuf, String> {
    static IMAGES: Mutex<Vec<(&str, Result<PathBuf, String>)>> = Mutex::new(Vec::new());
    let mut images = IMAGES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, r)) = images.iter().find(|(n, _)| *n == board.name()) {
        return r.clone();
    }
    let r = build(board, Variant::Kernel { guests: true });
    images.push((board.name(), r.clone()));
    r
}

/// What to build from the board's image crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The kernel, with or without the boot bundle of example guests.
    Kernel {
        /// Link the example guests in.
        guests: bool,
    },
    /// A bare wasmi embedding built the same way (the size baseline).
    BareWasmi,
}

/// Builds `variant` of the board's image crate; returns the ELF's path.
pub fn build(board: Board, variant: Variant) -> Result<PathBuf, String> {
    build_for(board, variant, &board.manifest().transport.kind)
}

/// As [`build`], with the monitor on `transport` (`serial`, or `rtt` on
/// boards whose image has the `rtt` feature).
pub fn build_for(board: Board, variant: Variant, transport: &str) -> Result<PathBuf, String> {
    let (spec, target) = parts(board)?;
    let name = board.name();
    crate::guest_build::ensure_target(target)?;
    let krate = boards_dir().join(name).join(&spec.krate);
    if !krate.join("Cargo.toml").exists() {
        return Err(format!(
            "the {name} kernel crate is not at {} (set TIDEMARK_BOARDS_DIR)",
            krate.display()
        ));
    }
    // An image without guests gets its own target dir, so switching does
    // not relink the usual one every time.
    let mut base = build_dir().join(name);
    if transport == "rtt" {
        base.push("rtt");
    }
    let (target_dir, bundle, bin) = match variant {
        Variant::Kernel { guests: true } | Variant::BareWasmi => {
            let bundle = base.join(format!("{name}-bundle"));
            write_bundle(&bundle, spec.bundle.as_deref())?;
            let bin = if variant == Variant::BareWasmi {
                "bare-wasmi"
            } else {
                spec.bin.as_str()
            };
            (base.clone(), bundle, bin)
        }
        Variant::Kernel { guests: false } => {
            let bundle = base.join(format!("{name}-empty-bundle"));
            std::fs::create_dir_all(&bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
            (base.join("no-guests"), bundle, spec.bin.as_str())
        }
    };
    eprintln!("tidemark: building {bin} for {name}");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // Run inside the crate: its .cargo/config.toml picks the target and linker script.
    cmd.current_dir(&krate)
        .args([
            "build",
            "--profile",
            &spec.profile,
            "--locked",
            "--color",
            "never",
            "--bin",
            bin,
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("TIDEMARK_BUNDLE", &bundle)
        .env("TIDEMARK_LIMITS", board.manifest().limits_env())
        .env("TIDEMARK_PACKAGES", board.manifest().packages_env())
        .env("TIDEMARK_DISPLAY", board.manifest().display_env());
    if let Some(m) = &board.manifest().memory
        && let Heap::Fixed(h) = &m.heap
    {
        cmd.env("TIDEMARK_HEAP_BYTES", h.bytes.to_string());
    }
    if transport == "rtt" {
        cmd.args(["--features", "rtt"]);
    }
    crate::guest_build::clean_env(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {bin} for {name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    // Cargo's `dev` profile writes to `debug`; every other to its own name.
    let profile_dir = if spec.profile == "dev" {
        "debug"
    } else {
        spec.profile.as_str()
    };
    // A wasm target's binary is a module: cargo names it `<bin>.wasm`.
    let file = if target.starts_with("wasm32") {
        format!("{bin}.wasm")
    } else {
        bin.to_string()
    };
    Ok(target_dir.join(target).join(profile_dir).join(file))
}
