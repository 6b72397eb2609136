use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::kv::{Answer, Request};

use crate::output::{Human, show_bytes};
use crate::session::{Session, ShellError};

/// Reads a key from kv (through the monitor's connection, which reaches
/// every key).
#[derive(Parser)]
pub struct Args {
    /// The key.
    key: String,
}

/// A key's value.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Value {
    /// The key.
    pub key: String,
    /// Its value, when it has one.
    pub value: Option<Vec<u8>>,
    /// The value as text, when it is UTF-8.
    pub text: Option<String>,
}

impl Human for Value {
    fn human(&self) -> String {
        match &self.value {
            None => format!("{}: (not set)", self.key),
            Some(v) => format!("{} = {}", self.key, show_bytes(v)),
        }
    }
}

fn run(s: &mut Session, a: Args) -> Result<Value, ShellError> {
    match crate::services::call(s, Service::Kv, &Request::Get(a.key.clone()))? {
        Answer::Value(value) => Ok(Value {
            text: value.as_ref().and_then(|v| String::from_utf8(v.clone()).ok()),
            key: a.key,
            value,
        }),
        other => Err(ShellError::Protocol(format!("kv answered {other:?} to a get"))),
    }
}

super::command!("kv get", Query, Args, run);
