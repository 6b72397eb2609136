//! The file system's requests and answers, and the packed image format of
//! its read-only lower layer.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub mod image;

/// Longest path, in bytes.
pub const MAX_PATH: usize = 512;
/// Most bytes one read or write moves (a frame carries the rest).
pub const MAX_IO: usize = 8 * 1024;
/// Open file handles per connection.
pub const MAX_HANDLES: usize = 16;

/// A request to vfs. Paths are `/`-separated and relative to the
/// connection's root directory (a leading `/` names that root); `..` and
/// empty levels are refused, so nothing above the root can be named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// What a path is.
    Stat(String),
    /// A directory's entries.
    List(String),
    /// Makes a directory (its parent must exist).
    Mkdir(String),
    /// Opens a file; answers a handle whose position starts at 0.
    Open {
        /// The path.
        path: String,
        /// Create it if missing.
        create: bool,
        /// Cut it to 0 bytes.
        truncate: bool,
    },
    /// Reads up to `len` bytes at the handle's position, moving it.
    Read {
        /// The handle.
        handle: u32,
        /// Most bytes.
        len: u32,
    },
    /// Writes at the handle's position, moving it.
    Write {
        /// The handle.
        handle: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Moves the handle's position.
    Seek {
        /// The handle.
        handle: u32,
        /// The new position (past the end is allowed; a write there fills with zeros).
        pos: u64,
    },
    /// Closes a handle.
    Close(u32),
    /// Reads a whole range of a file by path.
    Get {
        /// The path.
        path: String,
        /// Where to start.
        offset: u64,
        /// Most bytes.
        len: u32,
    },
    /// Writes a file by path, creating it; `append` adds at its end, else
    /// it is replaced.
    Put {
        /// The path.
        path: String,
        /// The bytes.
        data: Vec<u8>,
        /// Append instead of replace.
        append: bool,
    },
    /// Sets a file's length.
    Truncate {
        /// The path.
        path: String,
        /// The new length.
        len: u64,
    },
    /// Moves a file or directory.
    Rename {
        /// From.
        from: String,
        /// To (must not exist).
        to: String,
    },
    /// Removes a file or an empty directory.
    Remove(String),
    /// What the upper layer changed against the lower image.
    Diff,
    /// Drops the upper layer: the lower image shows again, exactly.
    Discard,
    /// Folds the upper layer into a new lower image (and empties it);
    /// answers its size, which `Image` then reads.
    Commit,
    /// A piece of the lower image as last committed (or booted).
    Image {
        /// Where to start.
        offset: u64,
        /// Most bytes.
        len: u32,
    },
}

/// File or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A file.
    File,
    /// A directory.
    Dir,
}

/// Which layer an entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The read-only image.
    Lower,
    /// This session's writes.
    Upper,
}

/// A directory entry or a stat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Entry {
    /// Its name (the last level; "/" for the root).
    pub name: String,
    /// File or directory.
    pub kind: Kind,
    /// Bytes (0 for a directory).
    pub size: u64,
    /// Where it comes from.
    pub layer: Layer,
}

/// What changed at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New in the upper layer.
    Added,
    /// In the image, changed in the upper layer.
    Modified,
    /// In the image, removed in the upper layer.
    Removed,
}

/// One line of `Diff`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Change {
    /// The path, from the file system's root.
    pub path: String,
    /// What happened.
    pub kind: ChangeKind,
    /// File or directory.
    pub entry: Kind,
}

/// An answer from vfs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Done.
    Done,
    /// A stat.
    Stat(Entry),
    /// A listing, by name.
    Entries(Vec<Entry>),
    /// An open handle.
    Handle(u32),
    /// Bytes read (fewer than asked at the end of the file).
    Data(Vec<u8>),
    /// Bytes written.
    Written(u32),
    /// The upper layer's changes, by path.
    Changes(Vec<Change>),
    /// A commit: the new image's size, and how many changes it folded in.
    Committed {
        /// Image bytes.
        bytes: u64,
        /// Changes folded in.
        changes: u32,
    },
    /// A discard: how many changes were dropped.
    Discarded(u32),
}

/// The levels of a path relative to a root: `None` for `..`, `.`, empty
/// levels (other than one leading `/` or the bare root), or a path too long.
pub fn valid_relative(path: &str) -> Option<Vec<&str>> {
    if path.len() > MAX_PATH {
        return None;
    }
    let p = path.strip_prefix('/').unwrap_or(path);
    if p.is_empty() {
        return Some(Vec::new());
    }
    let levels: Vec<&str> = p.split('/').collect();
    levels
        .iter()
        .all(|l| !l.is_empty() && *l != "." && *l != ".." && !l.contains('\0'))
        .then_some(levels)
}
