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
/// 2: protocol 9's: an arena region may be the display (`Purpose::Display`);
///    guest memories.
pub const DUMP_VERSION: u16 = 2;

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
    /// Live processes' linear memories, read just after the rest (when
    /// asked for: `dump --memories`).
    pub memories: Vec<GuestMemory>,
}

/// Bytes of one page of a [`GuestMemory`].
pub const MEMORY_PAGE: usize = 4096;

/// One process's linear memory: its size and the pages that are not all
/// zero (a guest's memory is mostly zeroes), or why it was not read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GuestMemory {
    /// Pid.
    pub pid: u32,
    /// Bytes of linear memory (a hosted process's channel windows read as
    /// zeroes: their rings are in the dump's channels).
    pub size: u64,
    /// The [`MEMORY_PAGE`]-byte pages holding anything but zeroes.
    pub pages: Vec<MemoryPage>,
    /// Why it was not read (the process did not stop in time), if not.
    pub missing: Option<String>,
}

/// A page of a [`GuestMemory`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemoryPage {
    /// Where it starts in the process's memory.
    pub offset: u64,
    /// Its bytes ([`MEMORY_PAGE`] of them, fewer for the last page).
    pub bytes: Vec<u8>,
}

impl GuestMemory {
    /// Keeps the non-zero pages of `mem`.
    pub fn of(pid: u32, mem: &[u8]) -> GuestMemory {
        GuestMemory {
            pid,
            size: mem.len() as u64,
            pages: mem
                .chunks(MEMORY_PAGE)
                .enumerate()
                .filter(|(_, p)| p.iter().any(|b| *b != 0))
                .map(|(i, p)| MemoryPage {
                    offset: (i * MEMORY_PAGE) as u64,
                    bytes: p.to_vec(),
                })
                .collect(),
            missing: None,
        }
    }

    /// A memory that could not be read, and why.
    pub fn missing(pid: u32, why: String) -> GuestMemory {
        GuestMemory {
            pid,
            size: 0,
            pages: Vec::new(),
            missing: Some(why),
        }
    }

    /// Bytes `[offset, offset + len)`, clipped to the memory, zeroes
    /// where no page was kept.
    pub fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        let start = offset.min(self.size);
        let end = start.saturating_add(u64::from(len)).min(self.size);
        let mut out = alloc::vec![0u8; (end - start) as usize];
        for p in &self.pages {
            let (ps, pe) = (p.offset, p.offset.saturating_add(p.bytes.len() as u64));
            let (s, e) = (ps.max(start), pe.min(end));
            if s < e && ((e - ps) as usize) <= p.bytes.len() {
                out[(s - start) as usize..(e - start) as usize]
                    .copy_from_slice(&p.bytes[(s - ps) as usize..(e - ps) as usize]);
            }
        }
        out
    }
}

impl KernelDump {
    /// A process's memory, when the dump holds it.
    pub fn memory_of(&self, pid: u32) -> Option<&GuestMemory> {
        self.memories.iter().find(|m| m.pid == pid)
    }

    /// A process's capabilities (empty when it has none or is unknown).
    pub fn caps_of(&self, pid: u32) -> &[CapInfo] {
        self.caps
            .iter()
            .find(|c| c.pid == pid)
            .map_or(&[], |c| &c.caps)
    }
}

/// Why bytes are not a file (dump or recording) this build reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// The bytes do not start with the file's magic.
    NotThisKind(&'static str),
    /// Another format version.
    Version {
        /// What the file should be (`dump`, `recording`).
        what: &'static str,
        /// Its version.
        found: u16,
        /// The version this build reads.
        reads: u16,
    },
    /// The body does not decode.
    Malformed(&'static str, String),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NotThisKind(what) => write!(f, "not a Tidemark {what} (no header)"),
            FileError::Version { what, found, reads } => write!(
                f,
                "{what} format v{found}; this tidemark reads v{reads} (take it again, or read it with the tidemark that wrote it)"
            ),
            FileError::Malformed(what, e) => write!(f, "the {what} is damaged: {e}"),
        }
    }
}

/// `magic`, `version` (little-endian), then `value` in postcard.
pub(crate) fn write_file<T: Serialize>(magic: &[u8; 6], version: u16, value: &T) -> Vec<u8> {
    let mut out = Vec::from(&magic[..]);
    out.extend_from_slice(&version.to_le_bytes());
    postcard::to_extend(value, out).expect("a Vec grows")
}

/// Reads what [`write_file`] wrote; never panics on any input.
pub(crate) fn read_file<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    magic: &[u8; 6],
    version: u16,
    what: &'static str,
) -> Result<T, FileError> {
    let rest = bytes
        .strip_prefix(&magic[..])
        .ok_or(FileError::NotThisKind(what))?;
    let (v, body) = rest
        .split_at_checked(2)
        .ok_or(FileError::NotThisKind(what))?;
    let found = u16::from_le_bytes([v[0], v[1]]);
    if found != version {
        return Err(FileError::Version {
            what,
            found,
            reads: version,
        });
    }
    let (value, tail) = postcard::take_from_bytes(body)
        .map_err(|e| FileError::Malformed(what, alloc::format!("{e}")))?;
    if !tail.is_empty() {
        return Err(FileError::Malformed(
            what,
            alloc::format!("{} bytes after the end", tail.len()),
        ));
    }
    Ok(value)
}

/// The file's bytes.
pub fn dump_to_bytes(d: &KernelDump) -> Vec<u8> {
    write_file(DUMP_MAGIC, DUMP_VERSION, d)
}

/// The file's bytes written into `buf` without allocating (a panic handler
/// on a board whose heap may be what failed); their length, or `None` when
/// they do not fit.
pub fn dump_into(d: &KernelDump, buf: &mut [u8]) -> Option<usize> {
    let (head, body) = buf.split_at_mut_checked(DUMP_MAGIC.len() + 2)?;
    head[..DUMP_MAGIC.len()].copy_from_slice(DUMP_MAGIC);
    head[DUMP_MAGIC.len()..].copy_from_slice(&DUMP_VERSION.to_le_bytes());
    let n = postcard::to_slice(d, body).ok()?.len();
    Some(head.len() + n)
}

/// Reads a dump file's bytes; never panics on any input.
pub fn dump_from_bytes(bytes: &[u8]) -> Result<KernelDump, FileError> {
    read_file(bytes, DUMP_MAGIC, DUMP_VERSION, "dump")
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// A memory keeps only its non-zero pages and reads back as it was,
    /// zeroes included, clipped to its size.
    #[test]
    fn guest_memory_keeps_non_zero_pages_and_reads_back_exactly() {
        let mut mem = alloc::vec![0u8; 3 * MEMORY_PAGE + 100];
        mem[5] = 1;
        mem[2 * MEMORY_PAGE + 7] = 2;
        mem[3 * MEMORY_PAGE + 99] = 3;
        let m = GuestMemory::of(9, &mem);
        assert_eq!(m.size, mem.len() as u64);
        let kept: Vec<u64> = m.pages.iter().map(|p| p.offset).collect();
        assert_eq!(kept, [0, 2 * MEMORY_PAGE as u64, 3 * MEMORY_PAGE as u64]);
        assert_eq!(m.pages[2].bytes.len(), 100, "the last page is short");
        assert_eq!(m.read(0, mem.len() as u32), mem);
        assert_eq!(m.read(2 * MEMORY_PAGE as u64 + 6, 3), [0, 2, 0]);
        assert_eq!(m.read(mem.len() as u64 - 1, 50), [3], "clipped to the end");
        assert!(m.read(u64::MAX, 8).is_empty());
        let gone = GuestMemory::missing(4, "busy".into());
        assert_eq!((gone.size, gone.missing.as_deref()), (0, Some("busy")));
    }

    /// A dump written without allocating reads back as the one written
    /// with; one that does not fit is refused.
    #[test]
    fn dump_into_matches_dump_to_bytes() {
        let d: KernelDump = dump_from_bytes(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/dumps/hosted.tmdump"
            ))
            .unwrap(),
        )
        .unwrap();
        let bytes = dump_to_bytes(&d);
        let mut buf = alloc::vec![0u8; bytes.len() + 10];
        assert_eq!(dump_into(&d, &mut buf), Some(bytes.len()));
        assert_eq!(&buf[..bytes.len()], &bytes[..]);
        assert_eq!(dump_into(&d, &mut buf[..bytes.len() - 1]), None);
        assert_eq!(dump_into(&d, &mut [0u8; 4]), None);
    }
}
