//! Every registered command is documented in `docs/repl.md` and has golden
//! tests (human and `--json`). Regenerate the page's command section with
//! `TIDEMARK_BLESS=1 cargo test -p tidemark --test registry`.

use std::path::PathBuf;

const START: &str = "<!-- commands:start (generated from the registry; do not edit) -->\n";
const END: &str = "<!-- commands:end -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn repl_reference_lists_every_command() {
    let path = root().join("docs/repl.md");
    let page = std::fs::read_to_string(&path).expect("docs/repl.md exists");
    let (head, rest) = page
        .split_once(START)
        .expect("docs/repl.md has the commands:start marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/repl.md has the commands:end marker");
    let fresh = format!(
        "{head}{START}{}{END}{tail}",
        tidemark_shell::commands::reference_markdown()
    );
    if std::env::var_os("TIDEMARK_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    assert!(
        page == fresh,
        "docs/repl.md is stale: run `TIDEMARK_BLESS=1 cargo test -p tidemark --test registry`"
    );
    for c in tidemark_shell::commands::REGISTRY {
        assert!(
            page.contains(&format!("### `{}`", c.name)),
            "`{}` is not in docs/repl.md",
            c.name
        );
    }
}

#[test]
fn every_command_has_golden_tests() {
    for c in tidemark_shell::commands::REGISTRY {
        let base = c.name.replace(' ', "_");
        for case in [format!("{base}.toml"), format!("{base}-json.toml")] {
            let p = root().join("workbench/tests/cmd").join(&case);
            assert!(
                p.exists(),
                "`{}` has no golden test {}",
                c.name,
                p.display()
            );
        }
        let script =
            std::fs::read_to_string(root().join(format!("workbench/tests/cmd/{base}.tms")))
                .unwrap();
        assert!(
            script
                .lines()
                .any(|l| l.trim_start_matches("! ").starts_with(c.name)),
            "the golden script for `{}` never runs it",
            c.name
        );
    }
}
