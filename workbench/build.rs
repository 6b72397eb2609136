//! Embeds `guest-templates/` into the binary so `tidemark new` works offline.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name == "target" || name == "Cargo.lock" || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../guest-templates");
    let root = root.canonicalize().unwrap();
    println!("cargo:rerun-if-changed={}", root.display());
    let mut templates = String::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let mut files = Vec::new();
        walk(&d, &mut files);
        let entries: String = files
            .iter()
            .map(|f| {
                println!("cargo:rerun-if-changed={}", f.display());
                format!("        ({:?}, include_str!({:?})),\n", f.strip_prefix(&d).unwrap().display().to_string(), f.display().to_string())
            })
            .collect();
        templates.push_str(&format!("    Template {{ name: {name:?}, files: &[\n{entries}    ] }},\n"));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(out, format!("/// Every template, compiled in.\npub const TEMPLATES: &[Template] = &[\n{templates}];\n")).unwrap();
    println!("cargo:rustc-env=TIDEMARK_SDK_DIR={}", root.join("../kernel/sdk").canonicalize().unwrap().display());
}
