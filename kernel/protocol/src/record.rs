//! Recordings of one process's boundary (`spawn --record`, `record PID`,
//! `tidemark replay`): every hostcall it made, with its arguments, what it
//! returned and the bytes it wrote into the guest's memory, so the module
//! can be run again alone, fed the same answers, on any engine.
//!
//! The file is `TMRECD`, a little-endian `u16` [`RECORD_VERSION`], then the
//! [`Recording`] in postcard.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::dump::{FileError, read_file, write_file};
use crate::types::Wait;

/// The recording file's magic bytes.
pub const RECORD_MAGIC: &[u8; 6] = b"TMRECD";

/// The recording file's format version.
pub const RECORD_VERSION: u16 = 1;

/// What a recorded hostcall gave back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Returned {
    /// This value.
    Value(i64),
    /// Nothing yet: the process parked (a `Readable`, `Writable`, `Select`
    /// or `Package` wait is followed by the same call again; after `Until`
    /// and `Yield` the call returns 0).
    Parked(Wait),
    /// The process ended with this code.
    Exit(i32),
}

/// Bytes a hostcall wrote into the guest's memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Written {
    /// Guest address.
    pub at: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// One hostcall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Call {
    /// Catalogue number.
    pub number: u16,
    /// Arguments (i32 ones sign-extended).
    pub args: Vec<i64>,
    /// What it gave back.
    pub returned: Returned,
    /// What it wrote into the guest.
    pub writes: Vec<Written>,
}

/// One process's boundary, from its first instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Recording {
    /// Pid it ran as.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Package.
    pub package: String,
    /// Module hash (hex).
    pub hash: String,
    /// The module's bytes, so the file replays on its own.
    pub module: Vec<u8>,
    /// Board recorded on.
    pub board: String,
    /// Engine recorded on.
    pub engine: String,
    /// Every hostcall, in order.
    pub calls: Vec<Call>,
    /// Why recording stopped before the process ended, if it did (its
    /// size limit, a hot reload).
    pub stopped: Option<String>,
    /// Whether the process had ended when the recording was taken.
    pub ended: bool,
}

impl Call {
    /// Bytes this call takes in a recording, roughly (its limit counts these).
    pub fn size(&self) -> usize {
        16 + self.args.len() * 8 + self.writes.iter().map(|w| 8 + w.bytes.len()).sum::<usize>()
    }
}

/// The file's bytes.
pub fn recording_to_bytes(r: &Recording) -> Vec<u8> {
    write_file(RECORD_MAGIC, RECORD_VERSION, r)
}

/// Reads a recording file's bytes; never panics on any input.
pub fn recording_from_bytes(bytes: &[u8]) -> Result<Recording, FileError> {
    read_file(bytes, RECORD_MAGIC, RECORD_VERSION, "recording")
}

/// A hostcall as a guest made it: number, name and arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallSite {
    /// Catalogue number.
    pub number: u16,
    /// Its name.
    pub name: String,
    /// Arguments.
    pub args: Vec<i64>,
}

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReplayEnd {
    /// Every recorded call was made again, with the same arguments.
    Matched {
        /// What the guest did at the end (`exited with code 0`, or that it
        /// was still running when the recording ends).
        then: String,
    },
    /// The guest did something else than the recording says.
    Diverged {
        /// Index of the first call that differs (0-based).
        index: usize,
        /// What the recording has there (`None`: it had ended).
        expected: Option<CallSite>,
        /// What the guest did there (`None`: no call; see `why`).
        got: Option<CallSite>,
        /// In words.
        why: String,
    },
}

/// What `tidemark replay` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplayReport {
    /// Package recorded.
    pub package: String,
    /// Where it was recorded (`board`, `engine`).
    pub recorded_on: String,
    /// The engine it was replayed on.
    pub engine: String,
    /// Calls the replay went through.
    pub replayed: usize,
    /// Calls in the recording.
    pub total: usize,
    /// How it ended.
    pub end: ReplayEnd,
    /// How long the guest ran (ns), its compile not counted.
    pub elapsed_ns: u64,
}
