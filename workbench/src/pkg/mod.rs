//! `tidemark pkg …`: keys, package directories, the package server.

pub mod config;
pub mod dir;
pub mod keys;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

/// The package tools.
#[derive(Subcommand)]
pub enum PkgCmd {
    /// Make an Ed25519 signing key pair; print the public key (for
    /// `[packages] keys`). The private key file is never overwritten.
    Keygen {
        /// Where to write the private key (default: ~/.config/tidemark/signing.key).
        #[arg(long, env = "TIDEMARK_SIGNING_KEY")]
        key: Option<PathBuf>,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Build a project's guests (and/or the example guests) into a package
    /// directory and its index.
    Build {
        /// Package directory to write.
        #[arg(long, env = "TIDEMARK_PKG_DIR", default_value = "target/packages")]
        out: PathBuf,
        /// Project directory (holding Tidemark.toml).
        #[arg(long, env = "TIDEMARK_PROJECT")]
        project: Option<PathBuf>,
        /// Add the example guests built into this workbench.
        #[arg(long, env = "TIDEMARK_PKG_EXAMPLES")]
        examples: bool,
        /// Mark these packages as system packages (pinned once cached).
        #[arg(long, env = "TIDEMARK_PKG_SYSTEM", value_delimiter = ',')]
        system: Vec<String>,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Sign a package directory's index into `catalog.bin`, one version past
    /// the catalog there.
    Publish {
        /// Package directory.
        #[arg(env = "TIDEMARK_PKG_DIR", default_value = "target/packages")]
        dir: PathBuf,
        /// The signing key (default: ~/.config/tidemark/signing.key).
        #[arg(long, env = "TIDEMARK_SIGNING_KEY")]
        key: Option<PathBuf>,
        /// Catalog version (default: one past the published one).
        #[arg(long, env = "TIDEMARK_CATALOG_VERSION")]
        version: Option<u64>,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Serve a package directory over HTTP (`GET /catalog.bin`,
    /// `GET /pkg/<sha256>.wasm`); prints its URL, logs each request.
    Serve {
        /// Package directory.
        #[arg(env = "TIDEMARK_PKG_DIR", default_value = "target/packages")]
        dir: PathBuf,
        /// Address (loopback by default; port 0 picks one).
        #[arg(long, env = "TIDEMARK_PKG_ADDR", default_value = "127.0.0.1:8470")]
        addr: String,
        /// Largest file served, in bytes.
        #[arg(long, env = "TIDEMARK_PKG_MAX_BYTES", default_value_t = 64 << 20)]
        max_bytes: u64,
    },
    /// Check a package directory offline: the catalog's signature (under
    /// `--key`s, or the key it names) and every module's hash and size.
    Verify {
        /// Package directory.
        #[arg(env = "TIDEMARK_PKG_DIR", default_value = "target/packages")]
        dir: PathBuf,
        /// Trusted public keys (hex).
        #[arg(long = "key", env = "TIDEMARK_TRUSTED_KEYS", value_delimiter = ',')]
        keys: Vec<String>,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
}

fn print<T: Serialize>(v: &T, json: bool, human: impl FnOnce(&T) -> String) -> Result<(), String> {
    if json {
        println!("{}", serde_json::to_string(v).map_err(|e| e.to_string())?);
    } else {
        println!("{}", human(v));
    }
    Ok(())
}

/// A new key pair.
#[derive(Serialize, schemars::JsonSchema)]
pub struct KeyPair {
    /// The public key (hex): put it in `[packages] keys`.
    pub public: String,
    /// Where the private key is.
    pub key_file: PathBuf,
}

/// What `pkg build` wrote.
#[derive(Serialize, schemars::JsonSchema)]
pub struct BuiltDir {
    /// The package directory.
    pub dir: PathBuf,
    /// Its index now.
    pub packages: Vec<dir::Listed>,
}

fn listing(p: &[dir::Listed]) -> String {
    p.iter()
        .map(|l| {
            format!(
                "{} {} sha256:{} {} bytes{}",
                l.name,
                l.version,
                &l.sha256[..16],
                l.size,
                if l.system { " system" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A guest crate's `[package] version`, else 0.0.0.
fn version_of(project: &crate::project::Project, name: &str) -> String {
    project
        .guests
        .iter()
        .find(|g| g.name == name)
        .and_then(|g| match &g.source {
            crate::project::Source::Cargo { dir, .. } => std::fs::read_to_string(dir.join("Cargo.toml")).ok(),
            crate::project::Source::File(_) => None,
        })
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("package")?.get("version")?.as_str().map(String::from))
        .filter(|v| v.len() <= 16)
        .unwrap_or_else(|| "0.0.0".into())
}

/// `tidemark pkg …`.
pub fn run(cmd: PkgCmd) -> Result<ExitCode, String> {
    match cmd {
        PkgCmd::Keygen { key, json } => {
            let key_file = key.unwrap_or_else(keys::default_path);
            let public = keys::hex(&keys::generate(&key_file)?);
            print(&KeyPair { public, key_file }, json, |k| {
                format!(
                    "{}\n(public key; the private key is {}: keep it out of the repository)",
                    k.public,
                    k.key_file.display()
                )
            })?;
        }
        PkgCmd::Build {
            out,
            project,
            examples,
            system,
            json,
        } => {
            let mut modules = Vec::new();
            if examples {
                for g in tidemark_guest_artifacts::ALL {
                    modules.push((g.name.to_string(), env!("CARGO_PKG_VERSION").to_string(), g.bytes.to_vec(), false));
                }
            }
            let project = match project {
                Some(p) => Some(p),
                None if !examples && Path::new(crate::project::MANIFEST).is_file() => Some(PathBuf::from(".")),
                None => None,
            };
            if let Some(dir) = &project {
                let p = match crate::dev::load(dir) {
                    Ok(p) => p,
                    Err(code) => return Ok(code),
                };
                let built = match crate::dev::build_or_exit(&p) {
                    Ok(b) => b,
                    Err(code) => return Ok(code),
                };
                for b in built {
                    let v = version_of(&p, &b.name);
                    modules.push((b.name, v, b.bytes, false));
                }
            }
            if modules.is_empty() {
                return Err("nothing to build: give --project DIR (or run in a project) or --examples".into());
            }
            for m in &mut modules {
                m.3 = system.contains(&m.0);
            }
            for s in &system {
                if !modules.iter().any(|m| &m.0 == s) {
                    return Err(format!("--system {s}: no such package among those built"));
                }
            }
            let packages = dir::add(&out, &modules)?;
            print(&BuiltDir { dir: out, packages }, json, |b| {
                format!("{}\n{} packages in {} (sign with `tidemark pkg publish`)", listing(&b.packages), b.packages.len(), b.dir.display())
            })?;
        }
        PkgCmd::Publish { dir, key, version, json } => {
            let key = keys::Key::load(&key.unwrap_or_else(keys::default_path))?;
            let p = dir::publish(&dir, &key, version)?;
            print(&p, json, |p| {
                format!(
                    "{}\ncatalog v{} of {} packages signed by {} in {}",
                    listing(&p.packages),
                    p.version,
                    p.packages.len(),
                    p.signer,
                    p.catalog.display()
                )
            })?;
        }
        PkgCmd::Serve { dir, addr, max_bytes } => {
            if !dir.join(dir::CATALOG).is_file() {
                return Err(format!("{} has no catalog.bin: `tidemark pkg publish {}` first", dir.display(), dir.display()));
            }
            let s = serve::start(&dir, &addr, max_bytes, true)?;
            // The URL first, alone on stdout: scripts read it.
            println!("{}", s.url());
            eprintln!("tidemark: serving {} on {} (Ctrl-C to stop)", dir.display(), s.url());
            s.wait();
        }
        PkgCmd::Verify { dir, keys: trusted, json } => {
            let trusted = trusted.iter().map(|k| keys::public(k)).collect::<Result<Vec<_>, _>>()?;
            let v = dir::verify(&dir, &trusted)?;
            let sound = v.problems.is_empty() && v.trusted != Some(false);
            print(&v, json, |v| {
                let mut out = format!(
                    "catalog v{} signed by {}{}: {} packages verified",
                    v.version,
                    v.signer,
                    match v.trusted {
                        Some(true) => " (trusted)",
                        Some(false) => " (NOT among the keys given)",
                        None => "",
                    },
                    v.ok.len()
                );
                for p in &v.problems {
                    out.push_str(&format!("\n  {p}"));
                }
                out
            })?;
            if !sound {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
