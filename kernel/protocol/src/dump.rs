//! Postmortem dumps: a kernel's whole inspectable state as one value
//! ([`KernelDump`], the `Dump` request's reply), and the file that holds it.
//!
//! A dump is made of the same views the monitor serves, so a client can
//! answer every read-only request from it exactly as the live kernel did
//! (`tidemark inspect`). The file is `TMDUMP`, a little-endian `u16`
//! [`DUMP_VERSION`], then the dump in postcard: compact, and the same
//! encoding the kernel already speaks, so a board can write it where a
//! host can read it later.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::types::*;

/// The dump file's magic bytes.
pub const DUMP_MAGIC: &[u8; 6] = b"TMDUMP";

/// The dump file's format version. Postcard is not self-describing: any
/// change to a type a dump holds changes the format, and the checked-in
/// dumps' golden tests fail until this is bumped and they are regenerated.
/// 1: protocol 8's views.
pub const DUMP_VERSION: u16 = 1;

/// One process's capability table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProcessCaps {
    /// Pid.
    pub pid: u32,
    /// Its capabilities.
    pub caps: Vec<CapInfo>,
}

/// Everything a kernel can show about itself, taken in one step (so its
/// parts agree with each other).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KernelDump {
    /// Why it was taken: `asked`, or what failed.
    pub reason: String,
    /// Identity, board, engine and uptime at the time.
    pub info: KernelInfo,
    /// Every process, ended ones included.
    pub ps: Vec<ProcessInfo>,
    /// Every process's capability table.
    pub caps: Vec<ProcessCaps>,
    /// Every channel: cursors, writers, parked parties, ring occupancy.
    pub channels: Vec<ChannelInfo>,
    /// Every arena and its regions.
    pub arenas: Vec<ArenaInfo>,
    /// The package cache.
    pub packages: CacheInfo,
    /// The signed catalog, the server and the trusted keys.
    pub catalog: CatalogInfo,
    /// The events the kernel still holds (logs among them), oldest first;
    /// empty when the request left them out.
    pub events: Vec<Event>,
}

impl KernelDump {
    /// A process's capabilities (empty when it has none or is unknown).
    pub fn caps_of(&self, pid: u32) -> &[CapInfo] {
        self.caps
            .iter()
            .find(|c| c.pid == pid)
            .map_or(&[], |c| &c.caps)
    }
}

/// Why bytes are not a dump this build reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DumpError {
    /// The bytes do not start with [`DUMP_MAGIC`].
    NotADump,
    /// Another format version.
    Version(u16),
    /// The body does not decode.
    Malformed(String),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::NotADump => f.write_str("not a Tidemark dump (no TMDUMP header)"),
            DumpError::Version(v) => write!(
                f,
                "dump format v{v}; this tidemark reads v{DUMP_VERSION} (take the dump again, or inspect it with the tidemark that wrote it)"
            ),
            DumpError::Malformed(e) => write!(f, "the dump is damaged: {e}"),
        }
    }
}

/// The file's bytes.
pub fn dump_to_bytes(d: &KernelDump) -> Vec<u8> {
    let mut out = Vec::from(&DUMP_MAGIC[..]);
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    postcard::to_extend(d, out).expect("a Vec grows")
}

/// Reads a dump file's bytes; never panics on any input.
pub fn dump_from_bytes(bytes: &[u8]) -> Result<KernelDump, DumpError> {
    let rest = bytes
        .strip_prefix(&DUMP_MAGIC[..])
        .ok_or(DumpError::NotADump)?;
    let (v, body) = rest.split_at_checked(2).ok_or(DumpError::NotADump)?;
    let v = u16::from_le_bytes([v[0], v[1]]);
    if v != DUMP_VERSION {
        return Err(DumpError::Version(v));
    }
    let (d, tail) =
        postcard::take_from_bytes(body).map_err(|e| DumpError::Malformed(alloc::format!("{e}")))?;
    if !tail.is_empty() {
        return Err(DumpError::Malformed(alloc::format!(
            "{} bytes after the end",
            tail.len()
        )));
    }
    Ok(d)
}
