//! Embeds `guest-templates/` into the binary so `tidemark new` works offline,
//! and with them the guest SDK crates their Rust guests depend on
//! (`kernel/sdk` and its path dependencies), their workspace-inherited fields
//! resolved so that they build outside this workspace. Also embeds every
//! board's manifest, `boards/*/board.toml` (parsed by `src/board.rs`).

use std::path::{Path, PathBuf};

fn walk(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name == "target"
            || name == "Cargo.lock"
            || name.starts_with('.')
            || skip.contains(&name.as_str())
        {
            continue;
        }
        if p.is_dir() {
            walk(&p, &[], out);
        } else {
            out.push(p);
        }
    }
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn inherits(v: &toml::Value) -> bool {
    v.get("workspace").and_then(toml::Value::as_bool) == Some(true)
}

/// The dependency tables of a manifest: `[dependencies]`, `[build-dependencies]`
/// and their `[target.*]` forms.
fn dep_tables(m: &mut toml::Table) -> Vec<&mut toml::Table> {
    let mut out = Vec::new();
    let mut targets = Vec::new();
    for (k, v) in m.iter_mut() {
        match (k.as_str(), v) {
            ("dependencies" | "build-dependencies", toml::Value::Table(t)) => out.push(t),
            ("target", toml::Value::Table(t)) => {
                targets.extend(t.iter_mut().filter_map(|(_, v)| v.as_table_mut()))
            }
            _ => {}
        }
    }
    for t in targets {
        for (k, v) in t.iter_mut() {
            if let ("dependencies" | "build-dependencies", toml::Value::Table(d)) = (k.as_str(), v)
            {
                out.push(d);
            }
        }
    }
    out
}

/// The guest SDK: `kernel/sdk` and its path dependencies, each written out
/// under `out/<crate dir name>` with a self-contained manifest; returns the
/// generated constant.
fn sdk(workspace: &Path, out: &Path) -> String {
    let ws_manifest = workspace.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", ws_manifest.display());
    let ws = read_toml(&ws_manifest);
    let ws = ws
        .get("workspace")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let empty = toml::Table::new();
    let ws_package = ws
        .get("package")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);
    let ws_deps = ws
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);

    // Resolves `name.workspace = true` against [workspace.dependencies];
    // relative paths there are relative to the workspace root.
    let resolve_dep = |name: &str, spec: &toml::Value, crate_dir: &Path| -> toml::Table {
        let mut t = if inherits(spec) {
            let mut base = match ws_deps.get(name) {
                Some(toml::Value::String(v)) => toml::Table::from_iter([(
                    "version".to_string(),
                    toml::Value::String(v.clone()),
                )]),
                Some(toml::Value::Table(t)) => t.clone(),
                _ => panic!(
                    "{}: `{name}.workspace = true` but the workspace does not declare it",
                    crate_dir.display()
                ),
            };
            if let Some(p) = base.get("path").and_then(toml::Value::as_str) {
                let abs = workspace.join(p);
                base.insert(
                    "path".into(),
                    toml::Value::String(abs.display().to_string()),
                );
            }
            let own = spec.as_table().unwrap();
            for (k, v) in own {
                match k.as_str() {
                    "workspace" => {}
                    "features" => {
                        let mut f = base
                            .get("features")
                            .and_then(toml::Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        f.extend(v.as_array().cloned().unwrap_or_default());
                        base.insert("features".into(), toml::Value::Array(f));
                    }
                    _ => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
            base
        } else {
            match spec {
                toml::Value::String(v) => toml::Table::from_iter([(
                    "version".to_string(),
                    toml::Value::String(v.clone()),
                )]),
                toml::Value::Table(t) => t.clone(),
                _ => panic!("{}: odd dependency `{name}`", crate_dir.display()),
            }
        };
        if let Some(p) = t.get("path").and_then(toml::Value::as_str) {
            let abs = crate_dir.join(p).canonicalize().unwrap_or_else(|e| {
                panic!("{}: dependency `{name}` at {p}: {e}", crate_dir.display())
            });
            t.insert(
                "path".into(),
                toml::Value::String(abs.display().to_string()),
            );
        }
        t
    };

    // The crates: kernel/sdk and its path dependencies, transitively.
    let mut crates: Vec<PathBuf> = Vec::new();
    let mut queue = vec![workspace.join("kernel/sdk").canonicalize().unwrap()];
    while let Some(dir) = queue.pop() {
        if crates.contains(&dir) {
            continue;
        }
        let mut m = read_toml(&dir.join("Cargo.toml"));
        for deps in dep_tables(&mut m) {
            for (name, spec) in deps.iter() {
                if let Some(p) = resolve_dep(name, spec, &dir)
                    .get("path")
                    .and_then(toml::Value::as_str)
                {
                    queue.push(PathBuf::from(p));
                }
            }
        }
        crates.push(dir);
    }
    let dir_name = |d: &Path| d.file_name().unwrap().to_string_lossy().to_string();

    let _ = std::fs::remove_dir_all(out);
    let mut entries = String::new();
    for dir in &crates {
        let name = dir_name(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut m = read_toml(&dir.join("Cargo.toml"));
        // Package fields inherited from the workspace.
        if let Some(toml::Value::Table(p)) = m.get_mut("package") {
            p.remove("workspace");
            for (k, v) in p.iter_mut() {
                if inherits(v) {
                    *v = ws_package.get(k).cloned().unwrap_or_else(|| {
                        panic!(
                            "{}: `{k}.workspace = true` but [workspace.package] has no `{k}`",
                            dir.display()
                        )
                    });
                }
            }
        }
        if m.get("lints").is_some_and(inherits) {
            match ws.get("lints") {
                Some(l) => m.insert("lints".into(), l.clone()),
                None => m.remove("lints"),
            };
        }
        // Only what building the crate needs: no tests, benches, examples or dev-dependencies.
        for k in ["dev-dependencies", "test", "bench", "example"] {
            m.remove(k);
        }
        if let Some(toml::Value::Table(t)) = m.get_mut("target") {
            for (_, v) in t.iter_mut() {
                if let Some(v) = v.as_table_mut() {
                    v.remove("dev-dependencies");
                }
            }
        }
        for deps in dep_tables(&mut m) {
            let names: Vec<String> = deps.keys().cloned().collect();
            for dep in names {
                let mut t = resolve_dep(&dep, &deps[&dep], dir);
                if let Some(p) = t.get("path").and_then(toml::Value::as_str) {
                    let p = PathBuf::from(p);
                    assert!(
                        crates.contains(&p),
                        "{}: path dependency `{dep}` is not part of the embedded SDK",
                        dir.display()
                    );
                    t.insert(
                        "path".into(),
                        toml::Value::String(format!("../{}", dir_name(&p))),
                    );
                }
                deps.insert(dep, toml::Value::Table(t));
            }
        }
        let manifest = out.join(&name).join("Cargo.toml");
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        let header = "# Written by `tidemark new`: a copy of the Tidemark guest SDK this\n# project builds against (workspace fields resolved).\n\n";
        std::fs::write(
            &manifest,
            format!("{header}{}", toml::to_string(&m).unwrap()),
        )
        .unwrap();
        entries.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            format!("{name}/Cargo.toml"),
            manifest.display().to_string()
        ));
        let mut files = Vec::new();
        walk(
            dir,
            &["tests", "benches", "examples", "Cargo.toml"],
            &mut files,
        );
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let rel = f.strip_prefix(dir).unwrap().display().to_string();
            entries.push_str(&format!(
                "    ({:?}, include_str!({:?})),\n",
                format!("{name}/{rel}"),
                f.display().to_string()
            ));
        }
    }
    format!(
        "/// The guest SDK crates the templates build against (`{}`), manifests\n/// made self-contained: (path under the SDK directory, contents).\npub const SDK_FILES: &[(&str, &str)] = &[\n{entries}];\n",
        crates
            .iter()
            .map(|d| dir_name(d))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `boards/*/board.toml`, in directory order: the generated constant.
fn boards(workspace: &Path) -> String {
    let root = workspace.join("boards");
    // The whole folder: a new board's directory must rerun this script.
    println!("cargo:rerun-if-changed={}", root.display());
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("board.toml").is_file())
        .collect();
    dirs.sort();
    let entries: String = dirs
        .iter()
        .map(|d| {
            let dir = d.file_name().unwrap().to_string_lossy().to_string();
            let file = d.join("board.toml");
            format!(
                "    ({dir:?}, {:?}, include_str!({:?})),\n",
                format!("boards/{dir}/board.toml"),
                file.display().to_string()
            )
        })
        .collect();
    format!(
        "/// Every board's manifest, compiled in: (directory, path for messages, text).\npub const MANIFESTS: &[(&str, &str, &str)] = &[\n{entries}];\n"
    )
}

fn main() {
    let workspace = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("..")
        .canonicalize()
        .unwrap();
    let root = workspace.join("guest-templates");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut templates = String::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let mut files = Vec::new();
        walk(&d, &[], &mut files);
        let entries: String = files
            .iter()
            .map(|f| {
                println!("cargo:rerun-if-changed={}", f.display());
                format!(
                    "        ({:?}, include_str!({:?})),\n",
                    f.strip_prefix(&d).unwrap().display().to_string(),
                    f.display().to_string()
                )
            })
            .collect();
        templates.push_str(&format!(
            "    Template {{ name: {name:?}, files: &[\n{entries}    ] }},\n"
        ));
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let sdk = sdk(&workspace, &out_dir.join("sdk"));
    std::fs::write(out_dir.join("boards.rs"), boards(&workspace)).unwrap();
    std::fs::write(out_dir.join("templates.rs"), format!("/// Every template, compiled in.\npub const TEMPLATES: &[Template] = &[\n{templates}];\n\n{sdk}")).unwrap();
}
