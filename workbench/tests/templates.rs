//! Every template scaffolds offline and runs as it stands: `tidemark new`,
//! then `tidemark dev --script` with the template's own smoke session.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

#[test]
fn new_lists_the_templates() {
    let out = Command::new(BIN).args(["new", "--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for t in ["two-guest", "service", "client", "wat"] {
        assert!(text.contains(t), "{text}");
    }
    let out = Command::new(BIN).args(["new", "--list", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
}

#[test]
fn every_template_scaffolds_and_runs() {
    let base = std::env::temp_dir().join(format!("tidemark-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    for t in ["two-guest", "service", "client", "wat"] {
        let dir = base.join(format!("my-{t}"));
        let out = Command::new(BIN).args(["new"]).arg(&dir).args(["--template", t]).output().unwrap();
        assert!(out.status.success(), "new {t}: {}", String::from_utf8_lossy(&out.stderr));
        let manifest = std::fs::read_to_string(dir.join("Tidemark.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"my-{t}\"")), "{manifest}");
        let out = Command::new(BIN).arg("dev").arg(&dir).arg("--script").arg(dir.join("tests/smoke.tms")).output().unwrap();
        assert!(
            out.status.success(),
            "dev {t} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Scaffolding never overwrites.
        let again = Command::new(BIN).args(["new"]).arg(&dir).args(["--template", t]).output().unwrap();
        assert!(!again.status.success());
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_bad_manifest_is_reported_at_its_span() {
    let dir = std::env::temp_dir().join(format!("tidemark-badmanifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Tidemark.toml"), "[project]\nname = \"x\"\n[[guest]]\nname = \"g\"\npath = \"nowhere\"\n").unwrap();
    let out = Command::new(BIN).arg("dev").arg(&dir).arg("--no-tui").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such guest source") && err.contains("path = \"nowhere\""), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
