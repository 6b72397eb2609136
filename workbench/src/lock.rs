//! `Tidemark.lock`: every guest a project boots, pinned by name and
//! SHA-256. `tidemark lock` writes it; `dev` rewrites it after each build;
//! `shell` and `run` hand it to the kernel, which refuses to start a
//! module whose hash differs (seed 002: checked before the first
//! instruction).
//!
//! ```toml
//! # Written by `tidemark lock`: the modules this project boots.
//! version = 1
//!
//! [[guest]]
//! name = "service"
//! sha256 = "9f2c…"
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use tidemark_kernel::package::Hash;
use tidemark_protocol::LockEntry;

use crate::guest_build::Built;

/// The lock file's name, beside `Tidemark.toml`.
pub const LOCK: &str = "Tidemark.lock";

/// One pinned module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pinned {
    /// Guest (package) name.
    pub name: String,
    /// SHA-256 (hex).
    pub sha256: String,
}

/// The lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Lock {
    /// Format version.
    pub version: u32,
    /// Guests, in boot order.
    #[serde(default, rename = "guest")]
    pub guests: Vec<Pinned>,
}

impl Lock {
    /// The lock of freshly built guests.
    pub fn of(built: &[Built]) -> Lock {
        Lock {
            version: 1,
            guests: built
                .iter()
                .map(|b| Pinned {
                    name: b.name.clone(),
                    sha256: Hash::of(&b.bytes).hex(),
                })
                .collect(),
        }
    }

    /// `DIR/Tidemark.lock`, if there is one.
    pub fn read(dir: &Path) -> Result<Option<Lock>, String> {
        let path = dir.join(LOCK);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let lock: Lock = toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        for g in &lock.guests {
            if Hash::parse_hex(&g.sha256).is_none() {
                return Err(format!("{}: `{}`: sha256 is not 64 hex digits", path.display(), g.name));
            }
        }
        Ok(Some(lock))
    }

    /// Writes `DIR/Tidemark.lock`.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, String> {
        let path = dir.join(LOCK);
        let text = toml::to_string(self).map_err(|e| e.to_string())?;
        std::fs::write(&path, format!("# Written by `tidemark lock`: the modules this project boots.\n{text}"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// As the kernel takes it.
    pub fn entries(&self) -> Vec<LockEntry> {
        self.guests
            .iter()
            .map(|g| LockEntry {
                name: g.name.clone(),
                hash: g.sha256.clone(),
            })
            .collect()
    }

    /// Rewrites the lock in `dir`, if there is one, with `name` pinned to
    /// `sha256` (how `dev` follows a rebuild); `None` when the project has
    /// no lock (`tidemark lock` makes one; `dev` never does).
    pub fn repin(dir: &Path, name: &str, sha256: &str) -> Result<Option<Lock>, String> {
        let Some(mut lock) = Lock::read(dir)? else {
            return Ok(None);
        };
        match lock.guests.iter_mut().find(|g| g.name == name) {
            Some(g) if g.sha256 == sha256 => return Ok(Some(lock)),
            Some(g) => g.sha256 = sha256.to_owned(),
            None => lock.guests.push(Pinned {
                name: name.to_owned(),
                sha256: sha256.to_owned(),
            }),
        }
        lock.write(dir)?;
        Ok(Some(lock))
    }

    /// The guests whose build differs from the lock: (name, locked, built).
    pub fn differences(&self, built: &[Built]) -> Vec<(String, String, String)> {
        built
            .iter()
            .filter_map(|b| {
                let found = Hash::of(&b.bytes).hex();
                let locked = self.guests.iter().find(|g| g.name == b.name)?;
                (locked.sha256 != found).then(|| (b.name.clone(), locked.sha256.clone(), found))
            })
            .collect()
    }
}

/// `tidemark lock [DIR] [--check]`.
pub fn run(dir: &Path, check: bool, json: bool) -> Result<ExitCode, String> {
    let project = match crate::dev::load(dir) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let built = match crate::dev::build_or_exit(&project) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let lock = Lock::of(&built);
    if check {
        let held = Lock::read(dir)?.ok_or_else(|| format!("no {LOCK} in {}: `tidemark lock` writes one", dir.display()))?;
        let diffs = held.differences(&built);
        let missing: Vec<&str> = built
            .iter()
            .filter(|b| !held.guests.iter().any(|g| g.name == b.name))
            .map(|b| b.name.as_str())
            .collect();
        for (name, want, got) in &diffs {
            eprintln!("tidemark: `{name}` is locked to sha256:{want}, the build is sha256:{got}");
        }
        for name in &missing {
            eprintln!("tidemark: `{name}` is not in {LOCK}");
        }
        if !diffs.is_empty() || !missing.is_empty() {
            return Ok(ExitCode::from(1));
        }
    } else {
        lock.write(dir)?;
    }
    if json {
        println!("{}", serde_json::to_string(&lock).map_err(|e| e.to_string())?);
    } else {
        for g in &lock.guests {
            println!("{} sha256:{}", g.name, g.sha256);
        }
    }
    Ok(ExitCode::SUCCESS)
}
