//! Tidemark's example and test guests, built for wasm32 by this crate's
//! build script, as bytes ready for the package cache.

/// One built guest module.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    /// Package name.
    pub name: &'static str,
    /// `rust` (a crate in `kernel/guests` or `plugins/`) or `wat` (a fixture in `kernel/guests/wat`).
    pub source: &'static str,
    /// Module bytes.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// A guest (or system service) by name.
pub fn get(name: &str) -> &'static [u8] {
    ALL.iter()
        .chain(SERVICES)
        .chain(BENCHES)
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no guest `{name}`"))
        .bytes
}

/// The same code under a different hash: `bytes` with an extra custom
/// section named `tidemark.variant` holding `tag` (tests and benchmarks of
/// hot reload need a new module that behaves like the old one).
pub fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = b"tidemark.variant";
    let body_len = 1 + name.len() + tag.len();
    assert!(body_len < 128, "tag too long for a one-byte LEB128 length");
    let mut v = bytes.to_vec();
    v.extend_from_slice(&[0, body_len as u8, name.len() as u8]);
    v.extend_from_slice(name);
    v.extend_from_slice(tag.as_bytes());
    v
}
