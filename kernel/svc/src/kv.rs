//! The key-value store's requests and answers.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Longest key, in bytes.
pub const MAX_KEY: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE: usize = 8 * 1024;

/// A request to kv.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The value of a key.
    Get(String),
    /// Sets a key.
    Set(String, Vec<u8>),
    /// Deletes a key; answers whether it existed.
    Delete(String),
    /// Keys starting with a prefix, in order, at most `limit`.
    List {
        /// The prefix ("" for all the connection may see).
        prefix: String,
        /// Most keys to return.
        limit: u32,
    },
    /// Sets `key` to `new` (deletes it when `None`) only if its value is
    /// `expect` (absent when `None`).
    Cas {
        /// The key.
        key: String,
        /// The value it must have.
        expect: Option<Vec<u8>>,
        /// The value to give it.
        new: Option<Vec<u8>>,
    },
    /// How many keys and bytes the store holds.
    Stats,
}

/// An answer from kv.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A value, or none.
    Value(Option<Vec<u8>>),
    /// Done.
    Done,
    /// Whether the deleted key existed.
    Existed(bool),
    /// Keys.
    Keys(Vec<String>),
    /// Counts.
    Stats {
        /// Keys held.
        keys: u64,
        /// Bytes of keys and values.
        bytes: u64,
        /// Times the store was written to vfs.
        saves: u64,
    },
}
