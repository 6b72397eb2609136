//! `[packages]` in a board manifest (cache slots, the package-size cap,
//! trusted keys) and in `Tidemark.toml` (trusted keys, the server).
//!
//! ```toml
//! [packages]
//! slots = 16                    # board: cache slots
//! max_bytes = "1M"              # board: the largest package it caches
//! keys = ["<64 hex digits>"]    # Ed25519 public keys whose catalogs are trusted
//! server = "http://127.0.0.1:8470"   # project: fetch what is not cached from here
//! ```

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::toml_error::TomlError;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPackages {
    slots: Option<Spanned<u32>>,
    max_bytes: Option<Spanned<String>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    server: Option<Spanned<String>>,
}

/// A checked `[packages]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packages {
    /// Cache slots (board).
    pub slots: Option<usize>,
    /// Largest package cached, in bytes (board).
    pub max_bytes: Option<u64>,
    /// Trusted public keys (hex).
    pub keys: Vec<String>,
    /// Package server URL (project).
    pub server: Option<String>,
}

/// Whether `s` is a public key: 64 hex digits.
pub fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

type Err<'a> = &'a dyn Fn(String, Option<Range<usize>>, &str, Option<String>) -> Box<TomlError>;

impl RawPackages {
    /// Checks the table; `board` says which fields belong (a board sets
    /// the cache, a project the server).
    pub(crate) fn check(self, board: bool, err: Err<'_>) -> Result<Packages, Box<TomlError>> {
        let misplaced = |span: Range<usize>, what: &str| {
            err(
                format!("`{what}` does not belong in {}", if board { "a board manifest" } else { "Tidemark.toml" }),
                Some(span),
                "here",
                Some(if board {
                    "a project names its package server in Tidemark.toml".into()
                } else {
                    "the cache's slots and size cap are the board's (boards/<board>/board.toml)".into()
                }),
            )
        };
        let mut out = Packages::default();
        if let Some(s) = self.slots {
            if !board {
                return Err(misplaced(s.span(), "slots"));
            }
            if *s.get_ref() == 0 {
                return Err(err("a cache of 0 slots holds nothing".into(), Some(s.span()), "zero", None));
            }
            out.slots = Some(*s.get_ref() as usize);
        }
        if let Some(m) = self.max_bytes {
            if !board {
                return Err(misplaced(m.span(), "max_bytes"));
            }
            let bytes = crate::board::size(m.get_ref()).map(|s| s.bytes).ok_or_else(|| {
                err(
                    format!("`{}` is not a size", m.get_ref()),
                    Some(m.span()),
                    "not a size",
                    Some("sizes are a number of K, M or G (binary units): \"1M\"".into()),
                )
            })?;
            out.max_bytes = Some(bytes);
        }
        for k in self.keys {
            if !is_key(k.get_ref()) {
                return Err(err(
                    "a trusted key is an Ed25519 public key: 64 hex digits".into(),
                    Some(k.span()),
                    "not a key",
                    Some("`tidemark pkg keygen` prints one".into()),
                ));
            }
            out.keys.push(k.get_ref().to_ascii_lowercase());
        }
        if let Some(s) = self.server {
            if board {
                return Err(misplaced(s.span(), "server"));
            }
            if !s.get_ref().starts_with("http://") {
                return Err(err(
                    "a package server is an http:// URL".into(),
                    Some(s.span()),
                    "not http://",
                    Some("the catalog's signature and each package's SHA-256 carry the trust; the transport is plain HTTP".into()),
                ));
            }
            out.server = Some(s.into_inner());
        }
        Ok(out)
    }
}
