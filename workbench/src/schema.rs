//! `tidemark schema [COMMAND]`: the JSON schema of each REPL command's
//! `--json` result (and of the error object), from the same types the
//! commands return; golden tests pin them (`tests/schemas/`).

use std::process::ExitCode;

use tidemark_shell::commands::{REGISTRY, find};

/// Every command's schema, plus the error object, keyed by name.
pub fn all() -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<(String, serde_json::Value)> = REGISTRY
        .iter()
        .map(|c| (c.name.to_string(), (c.schema)().to_value()))
        .collect();
    // The workbench's own commands with `--json` (`tidemark schema tidemark ports`).
    fn of<T: schemars::JsonSchema>() -> serde_json::Value {
        schemars::SchemaGenerator::default()
            .into_root_schema_for::<T>()
            .to_value()
    }
    out.push(("tidemark ports".into(), of::<crate::ports::Ports>()));
    out.push(("tidemark probes".into(), of::<crate::probes::Probes>()));
    out.push(("tidemark flash".into(), of::<crate::flash::Flashed>()));
    out.push(("tidemark pkg keygen".into(), of::<crate::pkg::KeyPair>()));
    out.push(("tidemark pkg build".into(), of::<crate::pkg::BuiltDir>()));
    out.push((
        "tidemark pkg publish".into(),
        of::<crate::pkg::dir::Published>(),
    ));
    out.push((
        "tidemark pkg verify".into(),
        of::<crate::pkg::dir::Verified>(),
    ));
    out.push(("tidemark lock".into(), of::<crate::lock::Lock>()));
    out.push((
        "tidemark serve-playground".into(),
        of::<crate::playground::Listening>(),
    ));
    // Last: `run` finds it there.
    out.push(("error".into(), of::<tidemark_shell::session::JsonError>()));
    out
}

/// `tidemark schema`.
pub fn run(command: &[String]) -> Result<ExitCode, String> {
    let value = if command.is_empty() {
        serde_json::Value::Object(all().into_iter().collect())
    } else if command == ["error"] {
        all().pop().expect("the error schema").1
    } else if command.first().is_some_and(|c| c == "tidemark") {
        let name = command.join(" ");
        all()
            .into_iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("`{name}` has no --json result"))?
            .1
    } else {
        let (c, n) = find(command).ok_or_else(|| {
            format!(
                "unknown command `{}` (try `tidemark schema` for all)",
                command.join(" ")
            )
        })?;
        if n != command.len() {
            return Err(format!("unknown command `{}`", command.join(" ")));
        }
        (c.schema)().to_value()
    };
    println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// File name of a command's schema golden: `chan tail` → `chan_tail.json`.
    fn file_name(command: &str) -> String {
        format!("{}.json", command.replace(' ', "_"))
    }

    /// Every command (and the error object) has a checked-in schema equal to
    /// what it produces: a `--json` consumer learns of a change here.
    /// `TIDEMARK_BLESS=1` rewrites them; review the diff.
    #[test]
    fn schema_goldens_for_every_command() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas");
        let mut failures = Vec::new();
        for (name, schema) in all() {
            let path = dir.join(file_name(&name));
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if std::env::var_os("TIDEMARK_BLESS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == text => {}
                Ok(_) => failures.push(format!("{name}: schema changed ({})", path.display())),
                Err(_) => failures.push(format!("{name}: no schema golden at {}", path.display())),
            }
        }
        assert!(
            failures.is_empty(),
            "TIDEMARK_BLESS=1 to accept:\n{}",
            failures.join("\n")
        );
    }
}
