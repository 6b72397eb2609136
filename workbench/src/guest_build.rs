//! Building a project's guests: Cargo crates for wasm32, WAT files assembled.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::project::{GuestSpec, Project, Source};

/// The wasm target guests build for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// A built guest.
pub struct Built {
    /// Guest name.
    pub name: String,
    /// Module bytes.
    pub bytes: Vec<u8>,
    /// How long the build took.
    pub took: Duration,
}

/// A failed build, with the compiler's output.
#[derive(Debug)]
pub struct BuildError {
    /// Guest name.
    pub guest: String,
    /// What the compiler (or assembler) said.
    pub output: String,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "building `{}` failed:\n{}",
            self.guest,
            self.output.trim_end()
        )
    }
}

/// Installs a Rust target with rustup when it is missing, saying so.
pub fn ensure_target(target: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(o)
            if String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == target) =>
        {
            Ok(())
        }
        Ok(_) => {
            eprintln!(
                "tidemark: the {target} target is missing; installing it (rustup target add {target})"
            );
            match Command::new("rustup")
                .args(["target", "add", target])
                .status()
            {
                Ok(s) if s.success() => Ok(()),
                _ => Err(format!(
                    "could not install {target}; run `rustup target add {target}`"
                )),
            }
        }
        Err(_) => Err(format!(
            "rustup not found: install the {target} target for your toolchain by hand"
        )),
    }
}

/// Clears what a nested cargo must not inherit: neither the flags nor the
/// jobserver of whatever started us (a jobserver named by fd numbers may not
/// be ours to use).
pub fn clean_env(cmd: &mut Command) {
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
}

/// Builds one guest.
pub fn build(project: &Project, g: &GuestSpec) -> Result<Built, BuildError> {
    let start = Instant::now();
    let fail = |output: String| BuildError {
        guest: g.name.clone(),
        output,
    };
    let bytes = match &g.source {
        Source::Cargo { dir, krate } => {
            let target_dir = project.dir.join("target");
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.args([
                "build",
                "--release",
                "--color",
                "never",
                "--message-format",
                "short",
                "--target",
                TARGET,
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .args(["--config", tidemark_abi::GUEST_BUILD_CONFIG]);
            clean_env(&mut cmd);
            let out = cmd
                .output()
                .map_err(|e| fail(format!("could not run cargo: {e}")))?;
            if !out.status.success() {
                return Err(fail(without_noise(&String::from_utf8_lossy(&out.stderr))));
            }
            let artifact = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{}.wasm", krate.replace('-', "_")));
            std::fs::read(&artifact).map_err(|e| {
                fail(format!(
                    "{}: {e} (is the crate a cdylib?)",
                    artifact.display()
                ))
            })?
        }
        Source::File(path) => read_module(path).map_err(fail)?,
    };
    Ok(Built {
        name: g.name.clone(),
        bytes,
        took: start.elapsed(),
    })
}

/// Every guest build warns that `+atomics` is an unstable target feature
/// (it is what lets the SDK run rings in place): known noise, dropped so
/// the first real message is the first one shown.
pub const NOISE: &str = "unstable feature specified for `-Ctarget-feature`";

/// Compiler output without the known noise.
pub fn without_noise(output: &str) -> String {
    let mut out = String::new();
    let mut lines = output.lines().peekable();
    while let Some(l) = lines.next() {
        if l.contains(NOISE) {
            // Its notes follow, indented or as `= note:` lines.
            while lines.peek().is_some_and(|n| {
                n.starts_with(' ') || n.starts_with("  =") || n.trim_start().starts_with("= note")
            }) {
                lines.next();
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    if path.extension().is_some_and(|e| e == "wat") {
        wat::parse_file(path).map_err(|e| e.to_string())
    } else {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_atomics_warning_is_dropped_and_real_errors_kept() {
        let out = "warning: unstable feature specified for `-Ctarget-feature`: `atomics`\n  |\n  = note: this feature is not stably supported; its behavior can change in the future\n\nsvc/src/lib.rs:3:9: error: expected expression\nerror: could not compile `svc`\n";
        assert_eq!(
            without_noise(out),
            "\nsvc/src/lib.rs:3:9: error: expected expression\nerror: could not compile `svc`\n"
        );
        assert_eq!(without_noise("warning: unused\n"), "warning: unused\n");
    }
}
