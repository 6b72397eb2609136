//! `tidemark new`: scaffold a project from a template compiled into the binary.

use std::path::Path;
use std::process::ExitCode;

/// A template: relative paths and contents.
pub struct Template {
    /// Name.
    pub name: &'static str,
    /// Files.
    pub files: &'static [(&'static str, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// Where the repository's templates say the SDK is: a relative path ending so.
const SDK_IN_REPO: &str = "kernel/sdk";

/// Where a scaffolded project keeps its copy of the guest SDK crates
/// (`SDK_FILES`), relative to the project directory; the SDK crate itself
/// is `sdk` in it.
pub const SDK_DIR: &str = ".tidemark/sdk";

/// Repoints every `"../…/kernel/sdk"` string in a template's `Cargo.toml` at
/// `to`.
fn repoint_sdk(text: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(end) = rest.find(&format!("{SDK_IN_REPO}\"")) {
        // Walk back over the `../` steps to the opening quote.
        let mut start = end;
        while rest[..start].ends_with("../") {
            start -= 3;
        }
        if rest[..start].ends_with('"') {
            out.push_str(&rest[..start]);
            out.push_str(to);
        } else {
            out.push_str(&rest[..end + SDK_IN_REPO.len()]);
        }
        rest = &rest[end + SDK_IN_REPO.len()..];
    }
    out.push_str(rest);
    out
}

impl Template {
    /// One-line description: the first comment of its guest sources or its manifest's name.
    pub fn about(&self) -> &'static str {
        match self.name {
            "two-guest" => "a Rust service and a Rust client that calls it",
            "service" => "a Rust service answering requests on a channel",
            "client" => "a Rust client calling a service on a channel",
            "wat" => "a minimal WAT guest",
            "kv-client" => "a guest of the system services: kv, bus and vfs through init",
            _ => "",
        }
    }
}

/// Writes `template` into `dir` (which must not exist or be empty), naming the project after `dir`.
pub fn scaffold(template: &Template, dir: &Path) -> Result<Vec<String>, String> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .next()
            .is_some()
    {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: not a usable project name", dir.display()))?;
    // The Rust guests build against a copy of the SDK inside the project, so
    // the project builds wherever it is, whatever became of our checkout.
    let needs_sdk = template
        .files
        .iter()
        .any(|(rel, text)| rel.ends_with("Cargo.toml") && text.contains(SDK_IN_REPO));
    let mut written = Vec::new();
    for (rel, text) in template.files {
        let text = if rel.ends_with("Cargo.toml") {
            let depth = Path::new(rel)
                .parent()
                .map_or(0, |p| p.components().count());
            text_sdk(text, depth)
        } else if *rel == "Tidemark.toml" {
            text.replacen(
                &format!("name = \"{}\"", template.name),
                &format!("name = \"{name}\""),
                1,
            )
        } else {
            text.to_string()
        };
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("files live in a directory"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(rel.to_string());
    }
    if needs_sdk {
        for (rel, text) in SDK_FILES {
            let rel = format!("{SDK_DIR}/{rel}");
            let path = dir.join(&rel);
            std::fs::create_dir_all(path.parent().expect("files live in a directory"))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(rel);
        }
    }
    Ok(written)
}

/// A template manifest `depth` directories below the project, its SDK path
/// pointed at the project's copy.
fn text_sdk(text: &str, depth: usize) -> String {
    repoint_sdk(text, &format!("{}{SDK_DIR}/sdk", "../".repeat(depth)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdk_path_is_repointed_into_the_project() {
        let t = "[dependencies]\ntidemark-sdk = { path = \"../../../kernel/sdk\" }\nother = { path = \"x/kernel/sdk2\" }\n";
        assert_eq!(
            super::text_sdk(t, 1),
            "[dependencies]\ntidemark-sdk = { path = \"../.tidemark/sdk/sdk\" }\nother = { path = \"x/kernel/sdk2\" }\n"
        );
        assert_eq!(
            super::text_sdk("a = \"../../kernel/sdk\"", 0),
            "a = \".tidemark/sdk/sdk\""
        );
    }
}

/// `tidemark new`.
pub fn run(dir: Option<&Path>, template: &str, list: bool, json: bool) -> Result<ExitCode, String> {
    if list {
        if json {
            let v: Vec<_> = TEMPLATES.iter().map(|t| serde_json::json!({ "name": t.name, "about": t.about(), "files": t.files.len() })).collect();
            println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        } else {
            for t in TEMPLATES {
                println!("{:<10} {}", t.name, t.about());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = dir.ok_or("a project directory is needed")?;
    let t = TEMPLATES
        .iter()
        .find(|t| t.name == template)
        .ok_or_else(|| format!("no template `{template}` (`tidemark new --list` lists them)"))?;
    let files = scaffold(t, dir)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "project": dir.display().to_string(), "template": t.name, "files": files })
        );
    } else {
        println!(
            "created {} from `{}` ({} files); run it with: tidemark dev {}",
            dir.display(),
            t.name,
            files.len(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
