//! The one error that travels from kernel to client.

use alloc::string::String;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The frame could not be decoded.
    Malformed,
    /// The frame is larger than the protocol allows.
    Oversized,
    /// The peer speaks another protocol version.
    Version,
    /// The kernel refused; `code` is the ABI error when there is one.
    Refused,
    /// No such process, channel, package or capability.
    NotFound,
    /// A module failed to compile, link or start; its process ended.
    Module,
    /// A reload was refused or rolled back; the previous module runs.
    Reload,
}

impl ErrorKind {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Oversized => "oversized",
            ErrorKind::Version => "version",
            ErrorKind::Refused => "refused",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Module => "module",
            ErrorKind::Reload => "reload",
        }
    }
}

/// An error reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorReply {
    /// Kind.
    pub kind: ErrorKind,
    /// The ABI error, when the kernel returned one.
    pub code: Option<tidemark_abi::Error>,
    /// Human message.
    pub message: String,
}

impl ErrorReply {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            kind,
            code: None,
            message: message.into(),
        }
    }
    /// A refusal carrying the ABI error.
    pub fn abi(e: tidemark_abi::Error, message: impl Into<String>) -> ErrorReply {
        let kind = if e == tidemark_abi::Error::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Refused
        };
        ErrorReply {
            kind,
            code: Some(e),
            message: message.into(),
        }
    }
    /// Nothing by that name or id.
    pub fn not_found(message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            kind: ErrorKind::NotFound,
            code: Some(tidemark_abi::Error::NotFound),
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl core::error::Error for ErrorReply {}
