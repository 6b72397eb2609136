use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::kv::{Answer, Request};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Sets a key in kv (`--delete` removes it instead). The value is text, or
/// hex with `--hex`.
#[derive(Parser)]
pub struct Args {
    /// The key.
    key: String,
    /// The value (text, or hex with --hex); not with --delete.
    value: Option<String>,
    /// The value is hex digits.
    #[arg(long)]
    hex: bool,
    /// Delete the key.
    #[arg(long, conflicts_with = "value")]
    delete: bool,
}

/// What kv did.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Set {
    /// The key.
    pub key: String,
    /// Bytes stored (0 for a delete).
    pub bytes: usize,
    /// For a delete: whether the key existed.
    pub existed: Option<bool>,
}

impl Human for Set {
    fn human(&self) -> String {
        match self.existed {
            Some(true) => format!("deleted {}", self.key),
            Some(false) => format!("{}: was not set", self.key),
            None => format!("set {} ({} bytes)", self.key, self.bytes),
        }
    }
}

fn run(s: &mut Session, a: Args) -> Result<Set, ShellError> {
    if a.delete {
        return match crate::services::call(s, Service::Kv, &Request::Delete(a.key.clone()))? {
            Answer::Existed(e) => Ok(Set { key: a.key, bytes: 0, existed: Some(e) }),
            other => Err(ShellError::Protocol(format!("kv answered {other:?} to a delete"))),
        };
    }
    let text = a.value.ok_or_else(|| ShellError::Usage("kv set needs a value (or --delete)".into()))?;
    let value = if a.hex { crate::output::parse_hex(&text).map_err(ShellError::Usage)? } else { text.into_bytes() };
    let bytes = value.len();
    match crate::services::call(s, Service::Kv, &Request::Set(a.key.clone(), value))? {
        Answer::Done => Ok(Set { key: a.key, bytes, existed: None }),
        other => Err(ShellError::Protocol(format!("kv answered {other:?} to a set"))),
    }
}

super::command!("kv set", Mutation, Args, run);
