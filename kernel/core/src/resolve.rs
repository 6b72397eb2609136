//! Packages on demand: resolve → miss → "fetch this hash" → bytes arrive →
//! verify → insert → id, as a state machine. The core never does I/O: a
//! fetch is an effect ([`Fetch`], and an event for a workbench fetching on
//! a board's behalf) and its answer comes back through [`Kernel::deliver`].
//!
//! Nothing enters the cache before its size is within the signed record's
//! and [`crate::Config::max_package`], and its SHA-256 matches the record
//! (compared in constant time). The catalog itself is accepted only when a
//! trusted key signed it and its version is not older than the one held.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use tidemark_abi::Error;
use tidemark_protocol::{CatalogEntry, CatalogInfo, EventKind, Resolution, Wait};

use crate::catalog::{self, Catalog, CatalogError, PublicKey};
use crate::package::Hash;
use crate::{Kernel, Outcome, Pid, SpawnError};

/// Most keys a kernel trusts at once.
pub const MAX_KEYS: usize = 8;
pub use tidemark_protocol::MAX_CATALOG;

/// Bytes the kernel asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// `GET {server}/catalog.bin`.
    Catalog {
        /// The URL.
        url: String,
    },
    /// `GET {server}/pkg/{hash}.wasm`: at most `size` bytes are expected.
    Package {
        /// The URL.
        url: String,
        /// Name in the catalog.
        name: String,
        /// SHA-256 the bytes must have.
        hash: Hash,
        /// Exact size the record gives.
        size: u32,
    },
}

struct Pending {
    name: String,
    /// Processes parked in `pkg_resolve` on it.
    waiters: Vec<Pid>,
}

/// The resolver's state (inside the kernel).
#[derive(Default)]
pub struct Resolver {
    trusted: Vec<PublicKey>,
    server: Option<String>,
    /// The verified catalog, kept whole: records are read in place.
    catalog: Option<Vec<u8>>,
    pending: BTreeMap<Hash, Pending>,
    /// `Tidemark.lock`: name → hash.
    lock: BTreeMap<String, Hash>,
    verify_failures: u64,
}

/// Why a resolve found nothing to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError {
    /// The ABI error (`NotFound`, `Unavailable`).
    pub code: Error,
    /// What to tell the user.
    pub message: String,
}

fn trim_url(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl Kernel {
    /// Trusts catalogs signed by `key` (at most [`MAX_KEYS`]).
    pub fn trust(&mut self, key: PublicKey) -> Result<(), Error> {
        let r = &mut self.resolver;
        if r.trusted.contains(&key) {
            return Ok(());
        }
        if r.trusted.len() >= MAX_KEYS {
            return Err(Error::LimitReached);
        }
        r.trusted.push(key);
        Ok(())
    }

    /// Sets the package server (`http://host:port`, or `None`); setting one
    /// asks for its catalog.
    pub fn set_server(&mut self, url: Option<&str>) {
        self.resolver.server = url.map(|u| trim_url(u).to_string());
        if let Some(server) = self.resolver.server.clone() {
            let url = format!("{server}/catalog.bin");
            self.event(EventKind::Fetch {
                package: String::new(),
                hash: String::new(),
                size: 0,
                url: url.clone(),
            });
            self.effects.fetch.push(Fetch::Catalog { url });
        }
    }

    /// Offers a catalog: accepted when it parses, a trusted key signed it
    /// and it is not older than the one held (the same version must be the
    /// same bytes). Either way an event says what happened.
    pub fn load_catalog(&mut self, bytes: &[u8]) -> Result<CatalogInfo, CatalogError> {
        match self.check_catalog(bytes) {
            Ok(c) => {
                let (version, packages, signer) = (c.version(), c.len() as u32, hex(&c.signer()));
                self.resolver.catalog = Some(bytes.to_vec());
                self.event(EventKind::CatalogLoaded {
                    version,
                    packages,
                    signer,
                });
                Ok(self.catalog_view())
            }
            Err(e) => {
                self.event(EventKind::CatalogRejected {
                    reason: e.to_string(),
                });
                Err(e)
            }
        }
    }

    fn check_catalog<'a>(&self, bytes: &'a [u8]) -> Result<Catalog<'a>, CatalogError> {
        if bytes.len() > MAX_CATALOG {
            return Err(CatalogError::TooLarge {
                got: bytes.len(),
                max: MAX_CATALOG,
            });
        }
        let c = Catalog::verified(bytes, &self.resolver.trusted)?;
        if let Some(held) = self.catalog() {
            let (h, o) = (held.version(), c.version());
            if o < h || (o == h && self.resolver.catalog.as_deref() != Some(bytes)) {
                return Err(CatalogError::Replay {
                    held: h,
                    offered: o,
                });
            }
        }
        Ok(c)
    }

    /// A failed catalog fetch (server down, stalled): an event; the
    /// catalog held stays.
    pub fn catalog_failed(&mut self, reason: &str) {
        self.event(EventKind::CatalogRejected {
            reason: reason.into(),
        });
    }

    /// The catalog held.
    pub fn catalog(&self) -> Option<Catalog<'_>> {
        // Verified when it was loaded.
        self.resolver
            .catalog
            .as_deref()
            .and_then(|b| Catalog::parse(b).ok())
    }

    /// The catalog as the monitor shows it.
    pub fn catalog_view(&self) -> CatalogInfo {
        let c = self.catalog();
        CatalogInfo {
            server: self.resolver.server.clone(),
            trusted: self.resolver.trusted.iter().map(hex).collect(),
            version: c.map_or(0, |c| c.version()),
            signer: c.map(|c| hex(&c.signer())),
            entries: c
                .into_iter()
                .flat_map(|c| c.records())
                .map(|r| CatalogEntry {
                    name: r.name().into(),
                    version: r.version().into(),
                    hash: r.hash().hex(),
                    size: r.size().into(),
                    system: r.system(),
                    cached: self.packages.iter().any(|p| p.hash == r.hash()),
                })
                .collect(),
        }
    }

    /// Verification failures so far, and fetches under way.
    pub fn fetch_counters(&self) -> (u64, u32) {
        (
            self.resolver.verify_failures,
            self.resolver.pending.len() as u32,
        )
    }

    /// Resolves `name` (or a full hex hash) for `pid` (the kernel's pid for
    /// the monitor): a cache hit, or a fetch started (or already under way)
    /// for what the signed catalog lists under it.
    pub fn resolve_package(&mut self, name: &str, pid: Pid) -> Result<Resolution, ResolveError> {
        if let Some(p) = self.packages.resolve(name) {
            return Ok(Resolution::Cached(p.info()));
        }
        let not_found = |why: &str| ResolveError {
            code: Error::NotFound,
            message: format!("no package `{name}` in the cache{why}"),
        };
        let Some(c) = self.catalog() else {
            return Err(not_found(
                ", and no catalog is held (set a server: `pkg server URL`)",
            ));
        };
        let record = match Hash::parse_hex(name) {
            Some(h) => c.find_hash(&h),
            None => c.find(name),
        }
        .ok_or_else(|| not_found(" or the signed catalog"))?;
        let (rname, hash, size) = (String::from(record.name()), record.hash(), record.size());
        // Refused before a byte is fetched: the catalog says it would not fit.
        if size as usize > self.config.max_package {
            let message = format!(
                "`{rname}` is {size} bytes; this board caches packages of at most {} bytes",
                self.config.max_package
            );
            self.event(EventKind::PackageRejected {
                package: rname,
                hash: hash.hex(),
                reason: message.clone(),
            });
            return Err(ResolveError {
                code: Error::TooLarge,
                message,
            });
        }
        let Some(server) = self.resolver.server.clone() else {
            return Err(ResolveError {
                code: Error::Unavailable,
                message: format!("`{rname}` is in the catalog but no package server is set"),
            });
        };
        let pending = self.resolver.pending.entry(hash).or_insert_with(|| Pending {
            name: rname.clone(),
            waiters: Vec::new(),
        });
        let fresh = pending.waiters.is_empty();
        if pid != crate::KERNEL_PID && !pending.waiters.contains(&pid) {
            pending.waiters.push(pid);
        }
        // One fetch per hash, however many ask (the monitor's asks are
        // not parked, so a repeated monitor resolve asks again).
        if fresh {
            let url = format!("{server}/pkg/{}.wasm", hash.hex());
            self.event(EventKind::Fetch {
                package: rname.clone(),
                hash: hash.hex(),
                size: size.into(),
                url: url.clone(),
            });
            self.effects.fetch.push(Fetch::Package {
                url,
                name: rname.clone(),
                hash,
                size,
            });
        }
        Ok(Resolution::Fetching {
            name: rname,
            hash: hash.hex(),
            size: size.into(),
        })
    }

    /// The answer to a [`Fetch::Package`]: the bytes, or why there are
    /// none. The bytes are cached only when the catalog lists `hash`, their
    /// size is the record's (and within the board's cap) and they hash to
    /// it. Parked resolvers are woken with the outcome.
    pub fn deliver(&mut self, hash: Hash, fetched: Result<Arc<[u8]>, &str>) -> Result<Hash, ResolveError> {
        // Only what was asked for: a second courier's copy, or bytes nobody
        // asked for, are refused without an event or a verify failure.
        if !self.resolver.pending.contains_key(&hash) {
            return Err(ResolveError {
                code: Error::NotFound,
                message: format!("no fetch of sha256:{} is pending (delivered already, or never asked for)", hash.hex()),
            });
        }
        // Bytes that arrived and fail are a verification failure; a
        // server that was down or stalled is not.
        let arrived = fetched.is_ok();
        let result = self.verify_and_insert(hash, fetched);
        let name = self
            .resolver
            .pending
            .get(&hash)
            .map(|p| p.name.clone())
            .or_else(|| self.catalog().and_then(|c| c.find_hash(&hash)).map(|r| r.name().into()))
            .unwrap_or_else(|| hash.hex());
        match &result {
            Ok(_) => {
                let size = self.packages.peek(&name).map_or(0, |p| p.bytes.len() as u64);
                self.event(EventKind::PackageInstalled {
                    package: name,
                    hash: hash.hex(),
                    size,
                });
            }
            Err(e) => {
                if arrived && e.code != Error::NotFound {
                    self.resolver.verify_failures += 1;
                }
                self.event(EventKind::PackageRejected {
                    package: name,
                    hash: hash.hex(),
                    reason: e.message.clone(),
                });
            }
        }
        if let Some(p) = self.resolver.pending.remove(&hash) {
            let err = result.as_ref().err().map(|e| e.code);
            for pid in p.waiters {
                if let Some(proc) = self.procs.get_mut(&pid) {
                    proc.resolving = Some((hash, err));
                    self.effects.wake.push(pid);
                }
            }
        }
        result
    }

    fn verify_and_insert(&mut self, hash: Hash, fetched: Result<Arc<[u8]>, &str>) -> Result<Hash, ResolveError> {
        let unavailable = |message: String| ResolveError {
            code: Error::Unavailable,
            message,
        };
        let (name, size, system) = {
            let c = self.catalog().ok_or_else(|| ResolveError {
                code: Error::NotFound,
                message: "no catalog is held: nothing can be verified".into(),
            })?;
            let r = c.find_hash(&hash).ok_or_else(|| ResolveError {
                code: Error::NotFound,
                message: format!("the signed catalog lists no package sha256:{}", hash.hex()),
            })?;
            (String::from(r.name()), r.size() as usize, r.system())
        };
        let bytes = fetched.map_err(|why| unavailable(format!("fetch of `{name}` failed: {why}")))?;
        let cap = self.config.max_package;
        if bytes.len() > cap {
            return Err(unavailable(format!(
                "`{name}` is {} bytes, over the board's {cap}-byte package cap",
                bytes.len()
            )));
        }
        if bytes.len() > size {
            return Err(unavailable(format!(
                "`{name}`: the server sent {} bytes, more than the record's {size}",
                bytes.len()
            )));
        }
        if bytes.len() < size {
            return Err(unavailable(format!(
                "`{name}` is truncated: {} of the record's {size} bytes",
                bytes.len()
            )));
        }
        let got = Hash::of(&bytes);
        if !catalog::hashes_equal(&got, &hash) {
            return Err(unavailable(format!(
                "`{name}` fails verification: SHA-256 {} where the signed catalog gives {}",
                got.hex(),
                hash.hex()
            )));
        }
        self.packages
            .insert_hashed(&name, bytes, got, system)
            .map_err(|e| unavailable(format!("`{name}` verified but the cache refused it: {e}")))
    }

    /// `pkg_resolve` for a guest: a hit answers at once, a fetch parks the
    /// process until [`Kernel::deliver`] wakes it to retry.
    pub(crate) fn pkg_resolve_call(&mut self, pid: Pid, name: &str) -> Result<Result<Hash, Error>, Wait> {
        if let Some((hash, outcome)) = self.procs.get_mut(&pid).and_then(|p| p.resolving.take()) {
            if let Some(e) = outcome {
                return Ok(Err(e));
            }
            if self.packages.iter().any(|p| p.hash == hash) {
                return Ok(Ok(hash));
            }
            if self.resolver.pending.contains_key(&hash) {
                self.procs.get_mut(&pid).expect("caller").resolving = Some((hash, None));
                return Err(Wait::Package);
            }
        }
        match self.resolve_package(name, pid) {
            Ok(Resolution::Cached(p)) => Ok(Ok(Hash::parse_hex(&p.hash).expect("a hash's hex"))),
            Ok(Resolution::Fetching { hash, .. }) => {
                let hash = Hash::parse_hex(&hash).expect("a hash's hex");
                self.procs.get_mut(&pid).expect("caller").resolving = Some((hash, None));
                Err(Wait::Package)
            }
            Err(e) => Ok(Err(e.code)),
        }
    }

    /// Replaces the lock (`Tidemark.lock`): name → hash.
    pub fn set_lock(&mut self, entries: impl IntoIterator<Item = (String, Hash)>) {
        self.resolver.lock = entries.into_iter().collect();
    }

    /// The lock.
    pub fn lock(&self) -> impl Iterator<Item = (&String, &Hash)> {
        self.resolver.lock.iter()
    }

    /// Refuses a module whose name the lock pins to another hash.
    pub(crate) fn check_lock(&self, name: &str, found: Hash) -> Result<(), SpawnError> {
        match self.resolver.lock.get(name) {
            Some(expected) if !catalog::hashes_equal(expected, &found) => Err(SpawnError::Locked {
                name: name.into(),
                expected: *expected,
                found,
            }),
            _ => Ok(()),
        }
    }
}

/// The hostcall's outcome: a hit writes the hash, a miss parks.
pub(crate) fn outcome(r: Result<Result<Hash, Error>, Wait>, write: impl FnOnce(&Hash) -> Result<i64, Error>) -> Outcome {
    match r {
        Err(w) => Outcome::Block(w),
        Ok(Ok(h)) => Outcome::Return(write(&h).unwrap_or_else(|e| e.code() as i64)),
        Ok(Err(e)) => Outcome::Return(e.code() as i64),
    }
}

fn hex(k: &PublicKey) -> String {
    let mut s = String::with_capacity(64);
    let _ = catalog::key_hex(k, &mut s);
    s
}
