//! Naming kernel objects in requests: by id or by name, resolved by the
//! kernel, so a client never fetches a table to turn one into the other.

use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Serialize};

/// A process, by pid or by name (the newest live process of that name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProcRef {
    /// Pid.
    Pid(u32),
    /// Name.
    Name(String),
}

/// A channel, by id or by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChanRef {
    /// Id.
    Id(u32),
    /// Name.
    Name(String),
}

/// An object to grant, named as in [`ChanRef`] for channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObjectRef {
    /// A channel.
    Channel(ChanRef),
    /// A shared-memory region, by id.
    Region(u32),
    /// The board's framebuffer (a region the kernel holds for good).
    Display,
}

/// Digits are an id; anything else is a name (how the REPL reads a word).
fn number(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl From<&str> for ProcRef {
    fn from(s: &str) -> ProcRef {
        number(s).map_or_else(|| ProcRef::Name(s.to_string()), ProcRef::Pid)
    }
}

impl From<u32> for ProcRef {
    fn from(pid: u32) -> ProcRef {
        ProcRef::Pid(pid)
    }
}

impl From<&str> for ChanRef {
    fn from(s: &str) -> ChanRef {
        number(s).map_or_else(|| ChanRef::Name(s.to_string()), ChanRef::Id)
    }
}

impl From<u32> for ChanRef {
    fn from(id: u32) -> ChanRef {
        ChanRef::Id(id)
    }
}

impl fmt::Display for ProcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcRef::Pid(p) => write!(f, "process {p}"),
            ProcRef::Name(n) => write!(f, "process `{n}`"),
        }
    }
}

impl fmt::Display for ChanRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChanRef::Id(c) => write!(f, "channel {c}"),
            ChanRef::Name(n) => write!(f, "channel `{n}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_ids_and_the_rest_names() {
        assert_eq!(ProcRef::from("12"), ProcRef::Pid(12));
        assert_eq!(ProcRef::from("svc2"), ProcRef::Name("svc2".into()));
        assert_eq!(ChanRef::from("req"), ChanRef::Name("req".into()));
        assert_eq!(
            ChanRef::from("99999999999"),
            ChanRef::Name("99999999999".into()),
            "too large for an id"
        );
        assert_eq!(ChanRef::from(""), ChanRef::Name(String::new()));
    }
}
