//! The packed image vfs boots its lower layer from, and `Commit` writes:
//! `TMFS`, a format `u16`, an entry count `u32`, then per entry a kind
//! byte (0 file, 1 directory), a path (`u16` length, UTF-8, no leading
//! `/`), and for a file its bytes (`u32` length). Little-endian; entries
//! in path order, each directory before what it holds.

use alloc::string::String;
use alloc::vec::Vec;

use super::Kind;

/// The first four bytes.
pub const MAGIC: &[u8; 4] = b"TMFS";
/// The format written.
pub const FORMAT: u16 = 1;

/// One entry of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEntry {
    /// Path from the root, without a leading `/`.
    pub path: String,
    /// File or directory.
    pub kind: Kind,
    /// A file's bytes (empty for a directory).
    pub data: Vec<u8>,
}

/// Why an image was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What is wrong.
    pub why: &'static str,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad file-system image at byte {}: {}", self.at, self.why)
    }
}

/// Encodes entries (sorted by path here) as an image.
pub fn encode(entries: &[ImageEntry]) -> Vec<u8> {
    let mut sorted: Vec<&ImageEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for e in sorted {
        out.push(match e.kind {
            Kind::File => 0,
            Kind::Dir => 1,
        });
        out.extend_from_slice(&(e.path.len() as u16).to_le_bytes());
        out.extend_from_slice(e.path.as_bytes());
        if e.kind == Kind::File {
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.data);
        }
    }
    out
}

/// The length of the image at the start of `b` (it may lie in a larger
/// buffer, as in a page-sized region), or `None` when `b` holds no whole
/// image. Checks only the lengths; [`decode`] checks the rest.
pub fn len(b: &[u8]) -> Option<usize> {
    let word = |at: usize, n: usize| -> Option<usize> {
        let s = b.get(at..at.checked_add(n)?)?;
        Some(s.iter().rev().fold(0usize, |acc, x| acc << 8 | usize::from(*x)))
    };
    if b.get(..4)? != MAGIC {
        return None;
    }
    let mut at = 10usize;
    for _ in 0..word(6, 4)? {
        let kind = *b.get(at)?;
        at = at.checked_add(3 + word(at + 1, 2)?)?;
        if kind == 0 {
            at = at.checked_add(4 + word(at, 4)?)?;
        }
    }
    (at <= b.len()).then_some(at)
}

/// Decodes an image, checking every length against what is there.
pub fn decode(b: &[u8]) -> Result<Vec<ImageEntry>, ImageError> {
    let mut at = 0usize;
    let take = |n: usize, at: &mut usize, why: &'static str| -> Result<&[u8], ImageError> {
        let s = b.get(*at..at.checked_add(n).ok_or(ImageError { at: *at, why })?).ok_or(ImageError { at: *at, why })?;
        *at += n;
        Ok(s)
    };
    if take(4, &mut at, "truncated magic")? != MAGIC {
        return Err(ImageError { at: 0, why: "not a TMFS image" });
    }
    let f = take(2, &mut at, "truncated format")?;
    if u16::from_le_bytes([f[0], f[1]]) != FORMAT {
        return Err(ImageError { at: 4, why: "unknown image format" });
    }
    let c = take(4, &mut at, "truncated count")?;
    let count = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let start = at;
        let kind = match take(1, &mut at, "truncated entry")?[0] {
            0 => Kind::File,
            1 => Kind::Dir,
            _ => return Err(ImageError { at: start, why: "unknown entry kind" }),
        };
        let l = take(2, &mut at, "truncated path length")?;
        let len = u16::from_le_bytes([l[0], l[1]]) as usize;
        let path = core::str::from_utf8(take(len, &mut at, "truncated path")?)
            .map_err(|_| ImageError { at: start, why: "path is not UTF-8" })?;
        if super::valid_relative(path).is_none() || path.is_empty() {
            return Err(ImageError { at: start, why: "bad path" });
        }
        let data = if kind == Kind::File {
            let l = take(4, &mut at, "truncated file length")?;
            let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            take(len, &mut at, "truncated file")?.to_vec()
        } else {
            Vec::new()
        };
        out.push(ImageEntry { path: path.into(), kind, data });
    }
    if at != b.len() {
        return Err(ImageError { at, why: "bytes after the last entry" });
    }
    Ok(out)
}
