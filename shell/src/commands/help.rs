use clap::Parser;
use serde::Serialize;

use crate::output::{Human, table};
use crate::session::{Session, ShellError};

/// Lists commands, or shows one command's help.
#[derive(Parser)]
pub struct Args {
    /// Command (one or two words).
    command: Vec<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Help {
    commands: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Entry {
    name: &'static str,
    kind: super::Kind,
    about: String,
}

impl Human for Help {
    fn human(&self) -> String {
        if let Some(u) = &self.usage {
            return u.trim_end().to_string();
        }
        let rows: Vec<Vec<String>> = self.commands.iter().map(|e| vec![e.name.to_string(), e.about.clone()]).collect();
        format!("{}\n\n`help COMMAND` or `COMMAND --help` for details; every command takes --json.", table(&["COMMAND", "WHAT"], &rows))
    }
}

fn run(_: &mut Session, a: Args) -> Result<Help, ShellError> {
    if a.command.is_empty() {
        let commands = super::REGISTRY.iter().map(|c| Entry { name: c.name, kind: c.kind, about: c.about() }).collect();
        return Ok(Help { commands, usage: None });
    }
    let (c, _) = super::find(&a.command).ok_or_else(|| ShellError::UnknownCommand(a.command.join(" ")))?;
    Ok(Help { commands: vec![Entry { name: c.name, kind: c.kind, about: c.about() }], usage: Some((c.args)().render_long_help().to_string()) })
}

super::command!("help", Query, Args, run);
