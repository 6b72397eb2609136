//! Fetching from a package server: one `GET`, bounded in bytes and in time.
//!
//! The kernel says what to fetch and how many bytes to expect; this reads
//! at most one byte more than that (so "the server sent more than the
//! record says" is seen without reading an unbounded body), gives up on a
//! server that does not answer or stalls mid-body, and says why in words
//! the kernel's events carry. It verifies nothing: the kernel does.

use std::io::Read;
use std::time::Duration;

/// How long a fetch may take by default, connect to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The variable that overrides [`DEFAULT_TIMEOUT`], in milliseconds.
pub const TIMEOUT_ENV: &str = "TIDEMARK_FETCH_TIMEOUT_MS";

/// A package-server client.
#[derive(Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    timeout: Duration,
}

impl Default for Fetcher {
    fn default() -> Fetcher {
        Fetcher::new(timeout_from_env())
    }
}

/// The timeout `TIDEMARK_FETCH_TIMEOUT_MS` names, else the default.
pub fn timeout_from_env() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

impl Fetcher {
    /// A client whose every fetch ends within `timeout`.
    pub fn new(timeout: Duration) -> Fetcher {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(3))))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Fetcher { agent, timeout }
    }

    /// How long one fetch may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET url`, reading at most `max + 1` bytes: the caller tells a body
    /// of more than `max` bytes by its length.
    pub fn get(&self, url: &str, max: usize) -> Result<Vec<u8>, String> {
        let mut resp = self.agent.get(url).call().map_err(|e| self.why(url, e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{url}: the server answered {status}"));
        }
        let mut out = Vec::new();
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(max as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.to_string().to_lowercase().contains("timeout")
                {
                    format!(
                        "{url}: the server stalled mid-body ({} bytes in {:?})",
                        out.len(),
                        self.timeout
                    )
                } else {
                    format!("{url}: reading the body: {e}")
                }
            })?;
        Ok(out)
    }

    fn why(&self, url: &str, e: ureq::Error) -> String {
        match e {
            ureq::Error::Timeout(_) => format!("{url}: no answer within {:?}", self.timeout),
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                format!("{url}: connection refused (is the package server running?)")
            }
            e => format!("{url}: {e}"),
        }
    }
}
