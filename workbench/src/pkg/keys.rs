//! Signing keys: `pkg keygen` writes one, `pkg publish` signs with it.
//!
//! The private key is a file of one line, `tidemark-ed25519-secret <64 hex>`,
//! created mode 0600 and never overwritten; it belongs with whoever
//! publishes (outside the repository). Boards and projects hold only public
//! keys (`[packages] keys`). docs/packages.md says how to rotate.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};

const TAG: &str = "tidemark-ed25519-secret";

/// Where `keygen` writes and `publish` reads by default:
/// `$XDG_CONFIG_HOME/tidemark/signing.key` (or `~/.config/...`).
pub fn default_path() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("tidemark/signing.key")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    tidemark_kernel::package::Hash::parse_hex(&s.to_ascii_lowercase()).map(|h| h.0)
}

/// Makes a key pair and writes the private key to `path` (refusing to
/// replace one); returns the public key.
pub fn generate(path: &Path) -> Result<[u8; 32], String> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} exists: a signing key is never overwritten (move it away to make a new one)",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    writeln!(f, "{TAG} {}", hex(&seed)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key.verifying_key().to_bytes())
}

/// A signing key read from `path`.
pub struct Key(SigningKey);

impl Key {
    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Key, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!("cannot read the signing key {}: {e} (`tidemark pkg keygen` makes one)", path.display())
        })?;
        let seed = text
            .trim()
            .strip_prefix(TAG)
            .and_then(|h| unhex32(h.trim()))
            .ok_or_else(|| format!("{} is not a tidemark signing key (`{TAG} <64 hex digits>`)", path.display()))?;
        Ok(Key(SigningKey::from_bytes(&seed)))
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

/// Parses a public key given as 64 hex digits.
pub fn public(s: &str) -> Result<[u8; 32], String> {
    unhex32(s).ok_or_else(|| format!("`{s}` is not a public key (64 hex digits)"))
}
