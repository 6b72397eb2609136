//! The catalog format and the resolve pipeline, engine-free: every way a
//! catalog or a package can be wrong is refused with the cache unchanged.

extern crate std;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use ed25519_dalek::{Signer, SigningKey};
use tidemark_abi::{Error, MANIFEST_SECTION, nr};
use tidemark_protocol::Resolution;

use crate::catalog::{Catalog, CatalogError, Entry, RECORD, encode};
use crate::package::Hash;
use crate::resolve::Fetch;
use crate::*;

fn clock() -> u64 {
    7
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A module that asks for the `process` class, padded to tell them apart.
fn module(tag: &str) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let section = b"classes=process\n";
    let name = MANIFEST_SECTION.as_bytes();
    m.push(0);
    m.push((1 + name.len() + section.len()) as u8);
    m.push(name.len() as u8);
    m.extend_from_slice(name);
    m.extend_from_slice(section);
    // A second custom section carries the tag.
    m.extend_from_slice(&[0, (tag.len() + 2) as u8, 1, b't']);
    m.extend_from_slice(tag.as_bytes());
    m
}

fn entry(name: &str, bytes: &[u8], system: bool) -> Entry {
    Entry {
        name: name.into(),
        version: "1.0.0".into(),
        hash: Hash::of(bytes),
        size: bytes.len() as u32,
        system,
    }
}

fn signed(version: u64, entries: &[Entry], k: &SigningKey) -> Vec<u8> {
    encode(version, entries, k.verifying_key().to_bytes(), |m| k.sign(m).to_bytes()).unwrap()
}

fn kernel_with(entries: &[Entry]) -> Kernel {
    let mut k = Kernel::new(Config::default(), clock);
    k.trust(key(1).verifying_key().to_bytes()).unwrap();
    k.load_catalog(&signed(3, entries, &key(1))).unwrap();
    k.set_server(Some("http://127.0.0.1:9/"));
    k.take_effects();
    k
}

fn rejected(k: &Kernel) -> Vec<String> {
    k.events_since(0)
        .filter_map(|e| match &e.kind {
            EventKind::PackageRejected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_catalog_round_trips_and_reads_in_place() {
    let a = module("a");
    let bytes = signed(9, &[entry("alpha", &a, true), entry("beta", b"bb", false)], &key(1));
    assert_eq!(bytes.len(), 24 + 2 * RECORD + 96);
    let c = Catalog::verified(&bytes, &[key(1).verifying_key().to_bytes()]).unwrap();
    assert_eq!((c.version(), c.len()), (9, 2));
    let r = c.find("alpha").unwrap();
    assert_eq!((r.name(), r.version(), r.size(), r.system()), ("alpha", "1.0.0", a.len() as u32, true));
    assert_eq!(r.hash(), Hash::of(&a));
    assert_eq!(c.find_hash(&Hash::of(b"bb")).unwrap().name(), "beta");
    assert!(c.find("gamma").is_none());
}

#[test]
fn a_bad_catalog_is_refused_for_the_right_reason() {
    let trusted = [key(1).verifying_key().to_bytes()];
    let good = signed(2, &[entry("alpha", b"a", false)], &key(1));
    let check = |b: &[u8]| Catalog::verified(b, &trusted).err();
    assert_eq!(check(&good), None);
    // One flipped bit anywhere under the signature.
    for at in [13, 24, 24 + 90, good.len() - 96] {
        let mut t = good.clone();
        t[at] ^= 1;
        let e = check(&t).unwrap();
        assert!(matches!(e, CatalogError::Signature | CatalogError::UntrustedKey(_)), "byte {at}: {e:?}");
    }
    let mut t = good.clone();
    t[good.len() - 1] ^= 0x80;
    assert_eq!(check(&t), Some(CatalogError::Signature));
    let other = signed(2, &[entry("alpha", b"a", false)], &key(2));
    assert_eq!(check(&other), Some(CatalogError::UntrustedKey(key(2).verifying_key().to_bytes())));
    let cut = good.len() - 10;
    assert_eq!(check(&good[..cut]), Some(CatalogError::Truncated { got: cut, need: good.len() }));
    let mut padded = good.clone();
    padded.splice(24..24, [0u8; 7]);
    assert!(matches!(check(&padded), Some(CatalogError::Count { count: 1, fits: 1 })), "bytes past the records");
    assert!(matches!(check(&good[..30]), Some(CatalogError::Truncated { .. })));
    let mut lies = good.clone();
    lies[20] = 5;
    assert_eq!(check(&lies), Some(CatalogError::Count { count: 5, fits: 1 }));
    let mut magic = good.clone();
    magic[0] = b'X';
    assert_eq!(check(&magic), Some(CatalogError::Magic));
    assert_eq!(Catalog::verified(&good, &[]).err(), Some(CatalogError::NoTrustedKey));
    let dup = signed(2, &[entry("a", b"1", false), entry("a", b"2", false)], &key(1));
    assert_eq!(check(&dup), Some(CatalogError::Duplicate { index: 1 }));
    assert!(encode(1, &[entry(&"n".repeat(65), b"1", false)], [0; 32], |_| [0; 64]).is_err());
}

#[test]
fn an_older_catalog_is_a_replay_and_the_held_one_stays() {
    let mut k = kernel_with(&[entry("alpha", b"a", false)]);
    let old = signed(2, &[entry("evil", b"e", false)], &key(1));
    assert_eq!(k.load_catalog(&old).err(), Some(CatalogError::Replay { held: 3, offered: 2 }));
    let same_version = signed(3, &[entry("evil", b"e", false)], &key(1));
    assert!(matches!(k.load_catalog(&same_version), Err(CatalogError::Replay { .. })));
    assert_eq!(k.catalog().unwrap().version(), 3);
    assert!(k.catalog().unwrap().find("evil").is_none());
    let newer = signed(4, &[entry("beta", b"b", false)], &key(1));
    assert_eq!(k.load_catalog(&newer).unwrap().version, 4);
    assert!(k.events_since(0).any(|e| matches!(e.kind, EventKind::CatalogRejected { .. })));
}

#[test]
fn a_miss_fetches_verifies_and_caches_then_hits() {
    let a = module("a");
    let mut k = kernel_with(&[entry("alpha", &a, true)]);
    let r = k.resolve_package("alpha", KERNEL_PID).unwrap();
    let hash = Hash::of(&a);
    assert!(matches!(&r, Resolution::Fetching { hash: h, .. } if *h == hash.hex()));
    let fx = k.take_effects();
    assert_eq!(
        fx.fetch,
        vec![Fetch::Package {
            url: alloc::format!("http://127.0.0.1:9/pkg/{}.wasm", hash.hex()),
            name: "alpha".into(),
            hash,
            size: a.len() as u32,
        }]
    );
    k.deliver(hash, Ok(Arc::from(&a[..]))).unwrap();
    let p = k.packages().peek("alpha").unwrap();
    assert!(p.pinned, "a system package is pinned");
    // A second courier's copy is not asked for: no event, no failure.
    let events = k.events_since(0).count();
    assert_eq!(k.deliver(hash, Ok(Arc::from(&a[..]))).unwrap_err().code, Error::NotFound);
    assert_eq!(k.events_since(0).count(), events);
    assert_eq!(k.fetch_counters(), (0, 0));
    assert!(matches!(k.resolve_package("alpha", KERNEL_PID), Ok(Resolution::Cached(_))));
    let c = k.packages().counters();
    assert_eq!((c.hits, c.misses), (1, 1));
}

#[test]
fn tampered_truncated_oversized_or_failed_fetches_leave_the_cache_unchanged() {
    let a = module("a");
    let hash = Hash::of(&a);
    let mut flipped = a.clone();
    flipped[9] ^= 1;
    let mut longer = a.clone();
    longer.push(0);
    let cases: [(Result<Vec<u8>, &str>, &str); 5] = [
        (Ok(flipped), "fails verification: SHA-256"),
        (Ok(a[..a.len() - 1].to_vec()), "is truncated"),
        (Ok(longer), "more than the record's"),
        (Err("connection refused"), "connection refused"),
        (Ok(Vec::new()), "is truncated: 0 of"),
    ];
    for (i, (fetched, want)) in cases.into_iter().enumerate() {
        let mut k = kernel_with(&[entry("alpha", &a, false)]);
        k.resolve_package("alpha", KERNEL_PID).unwrap();
        let before = k.packages().iter().count();
        let e = k.deliver(hash, fetched.map(|b| Arc::from(b))).unwrap_err();
        assert_eq!(e.code, Error::Unavailable);
        assert!(e.message.contains(want), "case {i}: {}", e.message);
        assert_eq!(k.packages().iter().count(), before, "case {i}: the cache is unchanged");
        assert!(rejected(&k)[0].contains(want));
        let failed_fetch = want == "connection refused";
        assert_eq!(k.fetch_counters(), (u64::from(!failed_fetch), 0), "case {i}");
    }
    // Over the board's cap: refused before fetching, with an event; bytes
    // delivered anyway are not asked for.
    let mut k = Kernel::new(Config { max_package: 8, ..Config::default() }, clock);
    k.trust(key(1).verifying_key().to_bytes()).unwrap();
    k.load_catalog(&signed(1, &[entry("alpha", &a, false)], &key(1))).unwrap();
    let e = k.resolve_package("alpha", KERNEL_PID).unwrap_err();
    assert_eq!(e.code, Error::TooLarge);
    assert!(rejected(&k)[0].contains("at most 8 bytes"), "{:?}", rejected(&k));
    assert_eq!(k.fetch_counters(), (0, 0), "nothing fetched");
    let e = k.deliver(hash, Ok(Arc::from(&a[..]))).unwrap_err();
    assert!(e.message.contains("pending"), "{}", e.message);
    assert_eq!(k.packages().iter().count(), 0);
    // Bytes for a hash the catalog does not list.
    let e = k.deliver(Hash::of(b"x"), Ok(Arc::from(&b"x"[..]))).unwrap_err();
    assert_eq!(e.code, Error::NotFound);
    assert_eq!(k.packages().iter().count(), 0);
}

#[test]
fn without_a_catalog_or_a_server_a_miss_says_what_is_missing() {
    let mut k = Kernel::new(Config::default(), clock);
    let e = k.resolve_package("alpha", KERNEL_PID).unwrap_err();
    assert!(e.message.contains("no catalog"), "{}", e.message);
    k.trust(key(1).verifying_key().to_bytes()).unwrap();
    k.load_catalog(&signed(1, &[entry("alpha", b"a", false)], &key(1))).unwrap();
    let e = k.resolve_package("alpha", KERNEL_PID).unwrap_err();
    assert_eq!(e.code, Error::Unavailable);
    let e = k.resolve_package("beta", KERNEL_PID).unwrap_err();
    assert_eq!(e.code, Error::NotFound);
}

#[test]
fn a_guest_parks_on_a_fetch_and_its_retry_returns_the_hash_or_the_error() {
    let launcher = module("launcher");
    let a = module("a");
    let b = module("b");
    let mut k = kernel_with(&[entry("alpha", &a, false), entry("beta", &b, false)]);
    k.install("launcher", Arc::from(&launcher[..]), true).unwrap();
    let s = k.spawn(SpawnSpec::new("launcher")).unwrap();
    k.started(s.pid);
    let mut mem = vec![0u8; 128];
    mem[..5].copy_from_slice(b"alpha");
    let args = [0, 5, 64];
    assert_eq!(k.hostcall(s.pid, nr::pkg_resolve, &args, &mut mem), Outcome::Block(Wait::Package));
    // A spurious retry parks again without a second fetch.
    k.take_effects();
    assert_eq!(k.hostcall(s.pid, nr::pkg_resolve, &args, &mut mem), Outcome::Block(Wait::Package));
    assert!(k.take_effects().fetch.is_empty());
    k.deliver(Hash::of(&a), Ok(Arc::from(&a[..]))).unwrap();
    assert_eq!(k.take_effects().wake, vec![s.pid]);
    assert_eq!(k.hostcall(s.pid, nr::pkg_resolve, &args, &mut mem), Outcome::Return(a.len() as i64));
    assert_eq!(&mem[64..96], &Hash::of(&a).0);
    // The hash's hex spawns it.
    let child = k.spawn(SpawnSpec::new(&Hash::of(&a).hex())).unwrap();
    assert_eq!(child.hash, Hash::of(&a));
    // A failed fetch: the retry returns Unavailable, and the next call fetches again.
    mem[..4].copy_from_slice(b"beta");
    let args = [0, 4, 64];
    assert_eq!(k.hostcall(s.pid, nr::pkg_resolve, &args, &mut mem), Outcome::Block(Wait::Package));
    let _ = k.deliver(Hash::of(&b), Err("server down"));
    assert_eq!(
        k.hostcall(s.pid, nr::pkg_resolve, &args, &mut mem),
        Outcome::Return(Error::Unavailable.code() as i64)
    );
    assert_eq!(k.hostcall(s.pid, nr::pkg_resolve, &args, &mut mem), Outcome::Block(Wait::Package));
}

#[test]
fn the_lock_refuses_a_module_with_another_hash() {
    let mut k = Kernel::new(Config::default(), clock);
    let a = module("a");
    k.install("alpha", Arc::from(&a[..]), false).unwrap();
    k.set_lock([("alpha".to_string(), Hash::of(b"something else"))]);
    let e = k.spawn(SpawnSpec::new("alpha")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("locked to sha256:") && text.contains(&Hash::of(&a).hex()), "{text}");
    k.set_lock([("alpha".to_string(), Hash::of(&a))]);
    assert!(k.spawn(SpawnSpec::new("alpha")).is_ok());
}
