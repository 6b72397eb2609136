//! The local package cache: module bytes addressed by SHA-256, a bounded
//! LRU of slots where pinned (system) packages are never evicted.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use sha2::{Digest, Sha256};
use tidemark_abi::Error;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Hashes bytes.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }
    /// Lower-case hex.
    pub fn hex(&self) -> String {
        use core::fmt::Write;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
    /// Parses a full hex digest.
    pub fn parse_hex(s: &str) -> Option<Hash> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Hash(out))
    }
}

impl core::fmt::Debug for Hash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.hex()[..16])
    }
}

/// One cached package.
#[derive(Clone, Debug)]
pub struct Package {
    /// Name it resolves under.
    pub name: String,
    /// SHA-256 of the bytes.
    pub hash: Hash,
    /// Module bytes.
    pub bytes: Arc<[u8]>,
    /// Pinned packages are never evicted.
    pub pinned: bool,
    /// LRU clock value of the last use.
    pub last_used: u64,
}

/// Cache counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Packages evicted to make room.
    pub evictions: u64,
}

/// The cache.
pub struct PackageCache {
    slots: usize,
    entries: Vec<Package>,
    clock: u64,
    counters: CacheCounters,
}

impl PackageCache {
    /// Default slot count (as the OSCortex cache).
    pub const DEFAULT_SLOTS: usize = 16;

    /// An empty cache of `slots` slots.
    pub fn new(slots: usize) -> PackageCache {
        PackageCache {
            slots: slots.max(1),
            entries: Vec::new(),
            clock: 0,
            counters: CacheCounters::default(),
        }
    }

    /// Installs `bytes` under `name` (replacing an older version of that
    /// name), evicting the least recently used unpinned package if full.
    pub fn insert(&mut self, name: &str, bytes: Arc<[u8]>, pinned: bool) -> Result<Hash, Error> {
        let hash = Hash::of(&bytes);
        self.insert_hashed(name, bytes, hash, pinned)
    }

    /// As [`PackageCache::insert`] for bytes already hashed to `hash`
    /// (a verified fetch hashes once).
    pub fn insert_hashed(
        &mut self,
        name: &str,
        bytes: Arc<[u8]>,
        hash: Hash,
        pinned: bool,
    ) -> Result<Hash, Error> {
        self.clock += 1;
        if let Some(p) = self.entries.iter_mut().find(|p| p.name == name) {
            *p = Package {
                name: p.name.clone(),
                hash,
                bytes,
                pinned: pinned || p.pinned,
                last_used: self.clock,
            };
            return Ok(hash);
        }
        if self.entries.len() >= self.slots {
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.pinned)
                .min_by_key(|(_, p)| p.last_used)
                .map(|(i, _)| i)
                .ok_or(Error::NoMemory)?;
            self.entries.remove(victim);
            self.counters.evictions += 1;
        }
        self.entries.push(Package {
            name: name.into(),
            hash,
            bytes,
            pinned,
            last_used: self.clock,
        });
        Ok(hash)
    }

    /// Resolves a name (or a full hex hash), counting a hit or a miss.
    pub fn resolve(&mut self, name_or_hash: &str) -> Option<&Package> {
        self.clock += 1;
        let hash = Hash::parse_hex(name_or_hash);
        let clock = self.clock;
        match self
            .entries
            .iter_mut()
            .find(|p| p.name == name_or_hash || Some(p.hash) == hash)
        {
            Some(p) => {
                p.last_used = clock;
                self.counters.hits += 1;
                Some(p)
            }
            None => {
                self.counters.misses += 1;
                None
            }
        }
    }

    /// Finds a package without touching counters or recency.
    pub fn peek(&self, name: &str) -> Option<&Package> {
        self.entries.iter().find(|p| p.name == name)
    }

    /// Sets or clears a pin.
    pub fn pin(&mut self, name: &str, pinned: bool) -> Result<(), Error> {
        let p = self
            .entries
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or(Error::NotFound)?;
        p.pinned = pinned;
        Ok(())
    }

    /// Evicts a package by name; pinned ones must be unpinned first.
    pub fn evict(&mut self, name: &str) -> Result<Package, Error> {
        let i = self
            .entries
            .iter()
            .position(|p| p.name == name)
            .ok_or(Error::NotFound)?;
        if self.entries[i].pinned {
            return Err(Error::PermissionDenied);
        }
        self.counters.evictions += 1;
        Ok(self.entries.remove(i))
    }

    /// Slot count.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// Counters.
    pub fn counters(&self) -> CacheCounters {
        self.counters
    }
    /// Entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Package> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn lru_evicts_unpinned_and_counts() {
        let mut c = PackageCache::new(2);
        c.insert("sys", bytes("sys"), true).unwrap();
        c.insert("a", bytes("a"), false).unwrap();
        c.insert("b", bytes("b"), false).unwrap();
        assert!(c.peek("a").is_none(), "a was the LRU unpinned entry");
        assert!(c.resolve("sys").is_some());
        assert!(c.resolve("zzz").is_none());
        let h = Hash::of(b"b");
        assert_eq!(c.resolve(&h.hex()).unwrap().name, "b");
        assert_eq!(
            c.counters(),
            CacheCounters {
                hits: 2,
                misses: 1,
                evictions: 1
            }
        );
        assert_eq!(c.evict("sys").unwrap_err(), Error::PermissionDenied);
        c.pin("b", true).unwrap();
        assert_eq!(
            c.insert("c", bytes("c"), false).unwrap_err(),
            Error::NoMemory,
            "everything pinned"
        );
        assert_eq!(Hash::parse_hex(&h.hex()), Some(h));
    }
}
