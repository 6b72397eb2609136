//! Links the boot bundle: every `.wasm` file in `$TIDEMARK_BUNDLE` (a
//! directory) becomes a package the kernel installs at boot, named after
//! the file. Without it the bundle is empty (host tests).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=TIDEMARK_BUNDLE");
    let mut entries = Vec::new();
    if let Some(bundle) = std::env::var_os("TIDEMARK_BUNDLE") {
        let bundle = PathBuf::from(bundle);
        println!("cargo:rerun-if-changed={}", bundle.display());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&bundle)
            .unwrap_or_else(|e| panic!("TIDEMARK_BUNDLE={}: {e}", bundle.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            entries.push(format!(
                "    ({name:?}, include_bytes!({:?})),\n",
                f.canonicalize().unwrap()
            ));
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bundle.rs");
    std::fs::write(out, format!("/// The boot bundle: (package name, module bytes).\npub static BUNDLE: &[(&str, &[u8])] = &[\n{}];\n", entries.concat())).unwrap();
}
