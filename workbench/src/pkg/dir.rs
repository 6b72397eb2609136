//! A package directory, as `pkg build` writes it, `pkg publish` signs it,
//! `pkg serve` serves it and `pkg verify` checks it:
//!
//! ```text
//! DIR/index.toml            what the catalog will list (unsigned, readable)
//! DIR/catalog.bin           the signed catalog (pkg publish)
//! DIR/pkg/<sha256>.wasm     each module, named by its hash
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tidemark_kernel::catalog::{self, Catalog, Entry};
use tidemark_kernel::package::Hash;

use super::keys::{self, Key};

/// The unsigned index.
pub const INDEX: &str = "index.toml";
/// The signed catalog.
pub const CATALOG: &str = "catalog.bin";

/// One package in the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Listed {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// A system package (pinned once cached).
    #[serde(default)]
    pub system: bool,
}

#[derive(Serialize, Deserialize, Default)]
struct Index {
    #[serde(default, rename = "package")]
    packages: Vec<Listed>,
}

/// The module file of `hash` in `dir`.
pub fn module_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join("pkg").join(format!("{hash}.wasm"))
}

fn io(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

/// Adds (or replaces, by name) modules in `dir`'s index; returns the index.
pub fn add(dir: &Path, modules: &[(String, String, Vec<u8>, bool)]) -> Result<Vec<Listed>, String> {
    std::fs::create_dir_all(dir.join("pkg")).map_err(|e| io(dir, e))?;
    let mut index = read_index(dir).unwrap_or_default();
    for (name, version, bytes, system) in modules {
        let hash = Hash::of(bytes).hex();
        let path = module_path(dir, &hash);
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        index.packages.retain(|p| &p.name != name);
        index.packages.push(Listed {
            name: name.clone(),
            version: version.clone(),
            sha256: hash,
            size: bytes.len() as u64,
            system: *system,
        });
    }
    let path = dir.join(INDEX);
    let text = toml::to_string(&index).map_err(|e| e.to_string())?;
    std::fs::write(&path, format!("# Written by `tidemark pkg build`; signed into catalog.bin by `tidemark pkg publish`.\n{text}"))
        .map_err(|e| io(&path, e))?;
    Ok(index.packages)
}

fn read_index(dir: &Path) -> Result<Index, String> {
    let path = dir.join(INDEX);
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

/// What `publish` wrote.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Published {
    /// Catalog version.
    pub version: u64,
    /// Signer (hex).
    pub signer: String,
    /// Packages listed.
    pub packages: Vec<Listed>,
    /// The catalog file.
    pub catalog: PathBuf,
}

/// Signs the index into `catalog.bin`, one version past the catalog there
/// (or `version`, which must be past it).
pub fn publish(dir: &Path, key: &Key, version: Option<u64>) -> Result<Published, String> {
    let index = read_index(dir)?;
    let path = dir.join(CATALOG);
    let held = std::fs::read(&path).ok();
    let old = held.as_deref().and_then(|b| Catalog::parse(b).ok()).map_or(0, |c| c.version());
    let version = match version {
        Some(v) if v <= old => {
            return Err(format!(
                "catalog version {v} is not past the published {old}: kernels holding {old} would refuse it as a replay"
            ));
        }
        Some(v) => v,
        None => old + 1,
    };
    let mut entries = Vec::new();
    for p in &index.packages {
        let file = module_path(dir, &p.sha256);
        let bytes = std::fs::read(&file).map_err(|e| io(&file, e))?;
        if Hash::of(&bytes).hex() != p.sha256 {
            return Err(format!("{}: its SHA-256 is not the index's; rebuild with `tidemark pkg build`", file.display()));
        }
        entries.push(Entry {
            name: p.name.clone(),
            version: p.version.clone(),
            hash: Hash::of(&bytes),
            size: u32::try_from(bytes.len()).map_err(|_| format!("`{}` is over 4 GiB", p.name))?,
            system: p.system,
        });
    }
    let bytes = catalog::encode(version, &entries, key.public(), |m| key.sign(m))
        .map_err(|e| e.to_string())?;
    std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    Ok(Published {
        version,
        signer: keys::hex(&key.public()),
        packages: index.packages,
        catalog: path,
    })
}

/// What `verify` found.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Verified {
    /// Catalog version.
    pub version: u64,
    /// Signer (hex).
    pub signer: String,
    /// Whether the signer is among the keys given (`None` when none were).
    pub trusted: Option<bool>,
    /// Packages whose module is present with the catalog's hash and size.
    pub ok: Vec<String>,
    /// What is wrong, one line each (empty: the directory is sound).
    pub problems: Vec<String>,
}

/// Checks a directory offline: the catalog's structure and signature, and
/// every module's hash and size against it.
pub fn verify(dir: &Path, trusted: &[[u8; 32]]) -> Result<Verified, String> {
    let path = dir.join(CATALOG);
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
    let c = Catalog::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut problems = Vec::new();
    // Without keys, check the signature under the key it names.
    let keys: Vec<[u8; 32]> = if trusted.is_empty() { vec![c.signer()] } else { trusted.to_vec() };
    if let Err(e) = c.verify(&keys) {
        problems.push(format!("catalog: {e}"));
    }
    let mut ok = Vec::new();
    for r in c.records() {
        let file = module_path(dir, &r.hash().hex());
        match std::fs::read(&file) {
            Err(e) => problems.push(format!("{}: {}", r.name(), io(&file, e))),
            Ok(b) if b.len() != r.size() as usize => {
                problems.push(format!("{}: {} bytes where the catalog says {}", r.name(), b.len(), r.size()))
            }
            Ok(b) if !catalog::hashes_equal(&Hash::of(&b), &r.hash()) => {
                problems.push(format!("{}: its SHA-256 is not the catalog's (tampered?)", r.name()))
            }
            Ok(_) => ok.push(r.name().to_string()),
        }
    }
    Ok(Verified {
        version: c.version(),
        signer: keys::hex(&c.signer()),
        trusted: (!trusted.is_empty()).then(|| trusted.contains(&c.signer())),
        ok,
        problems,
    })
}
