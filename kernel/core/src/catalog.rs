//! The package catalog: what a package server offers, signed.
//!
//! The body is seed 004's: a little-endian record count, then that many
//! records of exactly [`RECORD`] bytes (name, version, SHA-256, size,
//! flags). Around it: a header with a magic, a format number and a catalog
//! version that only ever grows (an older catalog cannot be replayed), and
//! a trailer with the signer's Ed25519 public key and its signature over
//! everything before the signature.
//!
//! ```text
//! 0   magic "TMCATLG\0"          8
//! 8   format u32 = 1             4
//! 12  catalog version u64        8
//! 20  count u32                  4
//! 24  records                    count × 128
//! ..  signer public key         32
//! ..  Ed25519 signature         64   over bytes [0, end of the key)
//! ```
//!
//! Parsing borrows the bytes: records are views, nothing is allocated per
//! record.

use core::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use subtle::ConstantTimeEq;

use crate::package::Hash;

/// The magic a catalog starts with.
pub const MAGIC: [u8; 8] = *b"TMCATLG\0";
/// The catalog format this kernel reads.
pub const FORMAT: u32 = 1;
/// Bytes per record.
pub const RECORD: usize = 128;
/// Bytes before the first record.
pub const HEADER: usize = 24;
/// Bytes after the last record: public key and signature.
pub const TRAILER: usize = 32 + 64;
/// Longest name a record holds.
pub const NAME_BYTES: usize = 64;
/// Longest version a record holds.
pub const VERSION_BYTES: usize = 16;
/// Flag bit 0: a system package, pinned in the cache.
pub const FLAG_SYSTEM: u32 = 1;

/// An Ed25519 public key.
pub type PublicKey = [u8; 32];

/// Why a catalog was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogError {
    /// Fewer bytes than the header, its records and the trailer need.
    Truncated {
        /// Bytes there are.
        got: usize,
        /// Bytes the header (and its count of records) need.
        need: usize,
    },
    /// Not a catalog.
    Magic,
    /// A catalog format this kernel does not read.
    Format(u32),
    /// The record count does not match the bytes.
    Count {
        /// What the header says.
        count: u32,
        /// Records the bytes hold.
        fits: usize,
    },
    /// A record is malformed.
    Record {
        /// Which (0-based).
        index: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Two records carry one name.
    Duplicate {
        /// Index of the second.
        index: usize,
    },
    /// Signed by a key the kernel does not trust.
    UntrustedKey(PublicKey),
    /// The signature does not verify under the key it names.
    Signature,
    /// The kernel trusts no key yet.
    NoTrustedKey,
    /// An older catalog than the one the kernel holds (a replay).
    Replay {
        /// Version held.
        held: u64,
        /// Version offered.
        offered: u64,
    },
    /// Larger than the kernel keeps.
    TooLarge {
        /// Bytes offered.
        got: usize,
        /// The most the kernel keeps.
        max: usize,
    },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Truncated { got, need } => {
                write!(f, "truncated catalog: {got} bytes, at least {need} needed")
            }
            CatalogError::Magic => f.write_str("not a Tidemark catalog (bad magic)"),
            CatalogError::Format(n) => write!(f, "catalog format {n}; this kernel reads {FORMAT}"),
            CatalogError::Count { count, fits } => write!(
                f,
                "the record count lies: the header says {count}, the bytes hold {fits}"
            ),
            CatalogError::Record { index, what } => write!(f, "record {index}: {what}"),
            CatalogError::Duplicate { index } => {
                write!(f, "record {index}: a name already listed")
            }
            CatalogError::UntrustedKey(k) => {
                write!(f, "signed by an untrusted key ")?;
                key_hex(k, f)
            }
            CatalogError::Signature => {
                f.write_str("the signature does not verify (the catalog was altered, or signed by another key)")
            }
            CatalogError::NoTrustedKey => f.write_str(
                "no trusted key: name one in the board manifest or Tidemark.toml ([packages] keys)",
            ),
            CatalogError::Replay { held, offered } => write!(
                f,
                "catalog version {offered} is older than the one held ({held}): refused as a replay"
            ),
            CatalogError::TooLarge { got, max } => {
                write!(f, "catalog of {got} bytes is over the kernel's {max}")
            }
        }
    }
}

/// Writes a key as hex.
pub fn key_hex(k: &PublicKey, f: &mut impl fmt::Write) -> fmt::Result {
    for b in k {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// A catalog whose structure has been checked (not yet its signature).
#[derive(Clone, Copy)]
pub struct Catalog<'a> {
    bytes: &'a [u8],
    count: usize,
}

/// One record, borrowed from the catalog bytes.
#[derive(Clone, Copy)]
pub struct Record<'a>(&'a [u8; RECORD]);

fn padded(field: &[u8]) -> Result<&str, &'static str> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    if field[end..].iter().any(|&b| b != 0) {
        return Err("bytes after the name's NUL padding");
    }
    core::str::from_utf8(&field[..end]).map_err(|_| "a field is not UTF-8")
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Record<'a> {
    /// Package name.
    pub fn name(&self) -> &'a str {
        padded(&self.0[..NAME_BYTES]).unwrap_or("")
    }
    /// Version text.
    pub fn version(&self) -> &'a str {
        padded(&self.0[NAME_BYTES..NAME_BYTES + VERSION_BYTES]).unwrap_or("")
    }
    /// SHA-256 of the module.
    pub fn hash(&self) -> Hash {
        let mut h = [0u8; 32];
        h.copy_from_slice(&self.0[80..112]);
        Hash(h)
    }
    /// Exact size of the module in bytes.
    pub fn size(&self) -> u32 {
        u32_at(self.0, 112)
    }
    /// Flags ([`FLAG_SYSTEM`]).
    pub fn flags(&self) -> u32 {
        u32_at(self.0, 116)
    }
    /// A system package (pinned once cached).
    pub fn system(&self) -> bool {
        self.flags() & FLAG_SYSTEM != 0
    }

    fn check(&self) -> Result<(), &'static str> {
        let name = padded(&self.0[..NAME_BYTES])?;
        if name.is_empty() {
            return Err("empty name");
        }
        padded(&self.0[NAME_BYTES..NAME_BYTES + VERSION_BYTES])?;
        if self.flags() & !FLAG_SYSTEM != 0 {
            return Err("unknown flag bits");
        }
        if self.0[120..].iter().any(|&b| b != 0) {
            return Err("reserved bytes are not zero");
        }
        if self.size() == 0 {
            return Err("size 0");
        }
        Ok(())
    }
}

impl<'a> Catalog<'a> {
    /// Checks the structure: magic, format, that the count matches the
    /// bytes exactly, and every record.
    pub fn parse(bytes: &'a [u8]) -> Result<Catalog<'a>, CatalogError> {
        if bytes.len() < HEADER + TRAILER {
            return Err(CatalogError::Truncated {
                got: bytes.len(),
                need: HEADER + TRAILER,
            });
        }
        if bytes[..8] != MAGIC {
            return Err(CatalogError::Magic);
        }
        let format = u32_at(bytes, 8);
        if format != FORMAT {
            return Err(CatalogError::Format(format));
        }
        let count = u32_at(bytes, 20);
        let body = bytes.len() - HEADER - TRAILER;
        let need = (count as usize)
            .saturating_mul(RECORD)
            .saturating_add(HEADER + TRAILER);
        // A cut that leaves part of a record is a truncation; whole records
        // that disagree with the header are a count that lies.
        if body % RECORD != 0 && bytes.len() < need {
            return Err(CatalogError::Truncated {
                got: bytes.len(),
                need,
            });
        }
        if body % RECORD != 0 || body / RECORD != count as usize {
            return Err(CatalogError::Count {
                count,
                fits: body / RECORD,
            });
        }
        let c = Catalog {
            bytes,
            count: count as usize,
        };
        for (index, r) in c.records().enumerate() {
            r.check()
                .map_err(|what| CatalogError::Record { index, what })?;
            if c.records().take(index).any(|o| o.name() == r.name()) {
                return Err(CatalogError::Duplicate { index });
            }
        }
        Ok(c)
    }

    /// Parses and checks the signature against `trusted`.
    pub fn verified(bytes: &'a [u8], trusted: &[PublicKey]) -> Result<Catalog<'a>, CatalogError> {
        let c = Catalog::parse(bytes)?;
        c.verify(trusted)?;
        Ok(c)
    }

    /// The catalog version.
    pub fn version(&self) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&self.bytes[12..20]);
        u64::from_le_bytes(v)
    }

    /// Record count.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The key it names as its signer.
    pub fn signer(&self) -> PublicKey {
        let at = self.bytes.len() - TRAILER;
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.bytes[at..at + 32]);
        k
    }

    /// Records in order.
    pub fn records(self) -> impl Iterator<Item = Record<'a>> + 'a {
        let body = &self.bytes[HEADER..HEADER + self.count * RECORD];
        body.chunks_exact(RECORD)
            .map(|c| Record(c.try_into().expect("chunks are RECORD long")))
    }

    /// The record named `name`.
    pub fn find(&self, name: &str) -> Option<Record<'a>> {
        self.records().find(|r| r.name() == name)
    }

    /// The record whose module hashes to `hash` (compared in constant time).
    pub fn find_hash(&self, hash: &Hash) -> Option<Record<'a>> {
        self.records().find(|r| hashes_equal(&r.hash(), hash))
    }

    /// The signed bytes and the signature.
    fn signed(&self) -> (&'a [u8], [u8; 64]) {
        let at = self.bytes.len() - 64;
        let mut s = [0u8; 64];
        s.copy_from_slice(&self.bytes[at..]);
        (&self.bytes[..at], s)
    }

    /// Checks that a trusted key signed it.
    pub fn verify(&self, trusted: &[PublicKey]) -> Result<(), CatalogError> {
        if trusted.is_empty() {
            return Err(CatalogError::NoTrustedKey);
        }
        let signer = self.signer();
        // Public keys are not secret: an ordinary comparison is enough.
        if !trusted.contains(&signer) {
            return Err(CatalogError::UntrustedKey(signer));
        }
        let key = VerifyingKey::from_bytes(&signer).map_err(|_| CatalogError::Signature)?;
        let (msg, sig) = self.signed();
        key.verify_strict(msg, &Signature::from_bytes(&sig))
            .map_err(|_| CatalogError::Signature)
    }
}

/// Whether two digests are equal, in time that does not depend on where
/// they differ.
pub fn hashes_equal(a: &Hash, b: &Hash) -> bool {
    a.0.ct_eq(&b.0).into()
}

/// A record to write ([`encode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Package name (at most [`NAME_BYTES`] bytes).
    pub name: alloc::string::String,
    /// Version (at most [`VERSION_BYTES`] bytes).
    pub version: alloc::string::String,
    /// SHA-256 of the module.
    pub hash: Hash,
    /// Module size.
    pub size: u32,
    /// A system package.
    pub system: bool,
}

/// Writes a catalog: `sign` gets the bytes to sign and returns the
/// signer's public key and the signature (the workbench holds the private
/// key; the kernel never does).
pub fn encode(
    version: u64,
    entries: &[Entry],
    signer: PublicKey,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Result<alloc::vec::Vec<u8>, &'static str> {
    let mut out = alloc::vec::Vec::with_capacity(HEADER + entries.len() * RECORD + TRAILER);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        if e.name.is_empty() || e.name.len() > NAME_BYTES || e.name.contains('\0') {
            return Err("a package name must be 1 to 64 bytes without NUL");
        }
        if e.version.len() > VERSION_BYTES || e.version.contains('\0') {
            return Err("a version must be at most 16 bytes without NUL");
        }
        let mut r = [0u8; RECORD];
        r[..e.name.len()].copy_from_slice(e.name.as_bytes());
        r[NAME_BYTES..NAME_BYTES + e.version.len()].copy_from_slice(e.version.as_bytes());
        r[80..112].copy_from_slice(&e.hash.0);
        r[112..116].copy_from_slice(&e.size.to_le_bytes());
        r[116..120].copy_from_slice(&(if e.system { FLAG_SYSTEM } else { 0 }).to_le_bytes());
        out.extend_from_slice(&r);
    }
    out.extend_from_slice(&signer);
    let sig = sign(&out);
    out.extend_from_slice(&sig);
    Ok(out)
}
