//! Every template scaffolds offline and runs as it stands: `tidemark new`,
//! then `tidemark dev --script` with the template's own smoke session, then
//! `tidemark run` in the project, whose kernel's package cache holds the
//! project's guests.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

#[test]
fn new_lists_the_templates() {
    let out = Command::new(BIN).args(["new", "--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for t in ["two-guest", "service", "client", "wat", "kv-client"] {
        assert!(text.contains(t), "{text}");
    }
    let out = Command::new(BIN)
        .args(["new", "--list", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
}

#[test]
fn every_template_scaffolds_and_runs() {
    let base = std::env::temp_dir().join(format!("tidemark-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    for (t, guests) in [
        ("two-guest", &["service", "client"][..]),
        ("service", &["service"]),
        ("client", &["client"]),
        ("wat", &["hello"]),
        ("kv-client", &["app"]),
    ] {
        let dir = base.join(format!("my-{t}"));
        let out = Command::new(BIN)
            .args(["new"])
            .arg(&dir)
            .args(["--template", t])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "new {t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest = std::fs::read_to_string(dir.join("Tidemark.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"my-{t}\"")),
            "{manifest}"
        );
        // Each Rust guest builds against the SDK copy inside the project, not
        // against the checkout the binary was built from.
        for g in guests
            .iter()
            .filter(|g| dir.join(g).join("Cargo.toml").is_file())
        {
            let crate_dir = dir.join(g);
            let cargo = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
            let line = cargo
                .lines()
                .find(|l| l.starts_with("tidemark-sdk"))
                .unwrap_or_else(|| panic!("{cargo}"));
            let path = line
                .split("path = \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("{line}"));
            assert!(std::path::Path::new(path).is_relative(), "{line}");
            let sdk = crate_dir
                .join(path)
                .canonicalize()
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(
                sdk.starts_with(dir.canonicalize().unwrap()),
                "{line}: {} is outside the project",
                sdk.display()
            );
            for c in ["sdk", "abi", "ring"] {
                let m =
                    std::fs::read_to_string(dir.join(".tidemark/sdk").join(c).join("Cargo.toml"))
                        .unwrap();
                assert!(
                    !m.contains("workspace = true") && !m.contains(".workspace"),
                    "{c}: {m}"
                );
            }
        }
        let out = Command::new(BIN)
            .arg("dev")
            .arg(&dir)
            .arg("--script")
            .arg(dir.join("tests/smoke.tms"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dev {t} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // `tidemark run` in the project: its guests are in the package cache
        // beside the examples, and not running.
        let script = base.join(format!("pkg-{t}.tms"));
        let mut text = String::from("pkg ls\nexpect /counter/\n");
        for g in guests {
            text.push_str(&format!("expect /(?m)^{g}\\s+[0-9a-f]{{16}}/\n"));
        }
        text.push_str("ps\n");
        std::fs::write(&script, text).unwrap();
        let out = Command::new(BIN)
            .arg("run")
            .arg(&script)
            .current_dir(&dir)
            .env_remove("TIDEMARK_PROJECT")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run in {t} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ps = stdout.split("tms> ps").nth(1).unwrap();
        for g in guests {
            assert!(!ps.contains(g), "{g} was spawned:\n{stdout}");
        }
        // Scaffolding never overwrites.
        let again = Command::new(BIN)
            .args(["new"])
            .arg(&dir)
            .args(["--template", t])
            .output()
            .unwrap();
        assert!(!again.status.success());
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_bad_manifest_is_reported_at_its_span() {
    let dir = std::env::temp_dir().join(format!("tidemark-badmanifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Tidemark.toml"),
        "[project]\nname = \"x\"\n[[guest]]\nname = \"g\"\npath = \"nowhere\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("dev")
        .arg(&dir)
        .arg("--no-tui")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such guest source") && err.contains("path = \"nowhere\""),
        "{err}"
    );
    // `tidemark run` and `tidemark shell` load the project (`--project`,
    // `TIDEMARK_PROJECT`, or the current directory's) and report it the same way.
    let script = dir.join("s.tms");
    std::fs::write(&script, "pkg ls\n").unwrap();
    let runs = [
        Command::new(BIN)
            .args(["run", "--project"])
            .arg(&dir)
            .arg(&script)
            .output()
            .unwrap(),
        Command::new(BIN)
            .arg("run")
            .arg(&script)
            .env("TIDEMARK_PROJECT", &dir)
            .output()
            .unwrap(),
        Command::new(BIN)
            .arg("run")
            .arg(&script)
            .current_dir(&dir)
            .env_remove("TIDEMARK_PROJECT")
            .output()
            .unwrap(),
        Command::new(BIN)
            .arg("shell")
            .current_dir(&dir)
            .env_remove("TIDEMARK_PROJECT")
            .output()
            .unwrap(),
    ];
    for out in runs {
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no such guest source") && err.contains("path = \"nowhere\""),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
