//! Builds the guests in `kernel/guests` for wasm32 with a nested cargo (as
//! wasmtime's test-programs artifacts crate does) and assembles the WAT
//! fixtures, then writes `guests.rs` listing every module's bytes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let kernel = manifest_dir.parent().unwrap();
    let guests = kernel.join("guests");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    // One guest target dir per host target dir, kept across builds so guest
    // rebuilds are incremental.
    let target_dir = target_dir_of(&out).join("guests");

    ensure_target();
    for dir in [
        guests.as_path(),
        &kernel.join("sdk"),
        &kernel.join("abi"),
        &kernel.join("ring"),
        &kernel.join("svc"),
        &kernel.parent().unwrap().join("plugins"),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-changed={}", guests.join("wat").display());

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--config", tidemark_abi::GUEST_BUILD_CONFIG]);
    // The host build's flags are not the guests' flags.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    for (k, _) in env::vars() {
        if k.starts_with("CARGO_PROFILE_")
            || k.starts_with("CARGO_CFG_")
            || k.starts_with("CARGO_FEATURE_")
        {
            cmd.env_remove(k);
        }
    }
    let status = cmd
        .status()
        .expect("could not run cargo to build the guests");
    assert!(
        status.success(),
        "building the guests in {} failed (see the errors above)",
        guests.display()
    );

    let mut entries = String::new();
    let mut services = String::new();
    let mut benches = String::new();
    let release = target_dir.join(TARGET).join("release");
    let plugins = ["init", "vfs", "bus", "kv"];
    for name in ["ping", "pong", "counter", "probe", "hostile", "svcbench"]
        .into_iter()
        .chain(plugins)
    {
        let path = release.join(format!("{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        fs::copy(&path, &dest).unwrap_or_else(|e| panic!("missing guest {}: {e}", path.display()));
        let list = match name {
            "svcbench" => &mut benches,
            n if plugins.contains(&n) => &mut services,
            _ => &mut entries,
        };
        list.push_str(&entry(name, &dest, "rust"));
    }
    let mut wats: Vec<_> = fs::read_dir(guests.join("wat"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    wats.sort();
    for wat_path in wats
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
    {
        let name = wat_path.file_stem().unwrap().to_str().unwrap();
        let bytes =
            wat::parse_file(wat_path).unwrap_or_else(|e| panic!("{}: {e}", wat_path.display()));
        let dest = out.join(format!("{name}.wat.wasm"));
        fs::write(&dest, bytes).unwrap();
        // Fixtures only scale tests and benchmarks run.
        let list = if ["busy", "idle"].contains(&name) {
            &mut benches
        } else {
            &mut entries
        };
        list.push_str(&entry(name, &dest, "wat"));
    }
    fs::write(
        out.join("guests.rs"),
        format!(
            "/// Every example and test guest module.\npub const ALL: &[Guest] = &[\n{entries}];\n\n\
             /// The system services (`plugins/`).\npub const SERVICES: &[Guest] = &[\n{services}];\n\n\
             /// Guests that only benchmarks and scale tests run (not in board bundles or example caches).\n\
             pub const BENCHES: &[Guest] = &[\n{benches}];\n"
        ),
    )
    .unwrap();
}

fn entry(name: &str, path: &Path, source: &str) -> String {
    format!(
        "    Guest {{ name: {name:?}, source: {source:?}, bytes: include_bytes!({:?}) }},\n",
        path.display().to_string()
    )
}

/// `target/` of the host build, found from OUT_DIR (`target/<profile>/build/<pkg>/out`).
fn target_dir_of(out: &Path) -> PathBuf {
    out.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|b| b.parent())
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out.join("t"))
}

/// Installs the wasm32 target with rustup when it is missing, saying so.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc --print sysroot");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return;
    }
    println!(
        "cargo:warning=the {TARGET} target is missing; installing it with `rustup target add {TARGET}`"
    );
    let ok = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the Rust target {TARGET} is needed to build Tidemark's guests and `rustup target add {TARGET}` failed; \
         install it by hand or use a rustup-managed toolchain"
    );
}
