//! Tidemark's example and test guests, built for wasm32 by this crate's
//! build script, as bytes ready for the package cache.

/// One built guest module.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    /// Package name.
    pub name: &'static str,
    /// `rust` (a crate in `kernel/guests`) or `wat` (a fixture in `kernel/guests/wat`).
    pub source: &'static str,
    /// Module bytes.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// A guest by name.
pub fn get(name: &str) -> &'static [u8] {
    ALL.iter().find(|g| g.name == name).unwrap_or_else(|| panic!("no guest `{name}`")).bytes
}
