//! The protocols of Tidemark's system services, defined once for the
//! services (guests in `plugins/`), the SDK's client modules and the shell.
//!
//! Every request and reply is one channel frame: an 8-byte [`Header`]
//! (protocol version, service, request id) followed by the postcard
//! encoding of the service's request or [`Reply`]. The fixed header lets a
//! service answer a frame whose body it cannot decode (a truncated frame, a
//! newer version) with a precise error, on the same request id, and go on
//! serving; a client matches replies to requests by id and drops the rest.
//!
//! A connection is a pair of channels given by init at spawn: the client
//! writes requests on one and reads replies on the other. Holding the pair
//! *is* the authority to use the service; what a connection may reach (a
//! directory, a topic pattern, a key prefix) is fixed by init when it makes
//! the connection, never by what a request names.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub mod bus;
pub mod fs;
pub mod init;
pub mod kv;
pub mod pattern;

pub use postcard;

/// This protocol's version; a frame with another is answered `Version`.
pub const VERSION: u16 = 1;

/// Largest frame a service reads or writes (header included).
pub const MAX_FRAME: usize = 16 * 1024;

/// Which service a frame is for: a frame sent to the wrong one is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum Service {
    /// The supervisor.
    Init = 1,
    /// The file system.
    Fs = 2,
    /// Publish/subscribe.
    Bus = 3,
    /// The key-value store.
    Kv = 4,
}

impl Service {
    fn from_u16(v: u16) -> Option<Service> {
        Some(match v {
            1 => Service::Init,
            2 => Service::Fs,
            3 => Service::Bus,
            4 => Service::Kv,
            _ => return None,
        })
    }

    /// Its name, as in `Tidemark.toml` and the shell.
    pub fn name(self) -> &'static str {
        match self {
            Service::Init => "init",
            Service::Fs => "vfs",
            Service::Bus => "bus",
            Service::Kv => "kv",
        }
    }
}

/// The fixed start of every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version ([`VERSION`]).
    pub version: u16,
    /// The service addressed (raw, so an unknown one can be reported).
    pub service: u16,
    /// Request id, echoed by the reply.
    pub id: u32,
}

impl Header {
    /// Encoded size.
    pub const SIZE: usize = 8;

    /// Splits a frame into its header and body; `None` when it is shorter
    /// than a header.
    pub fn split(frame: &[u8]) -> Option<(Header, &[u8])> {
        let h = frame.get(..Self::SIZE)?;
        Some((
            Header {
                version: u16::from_le_bytes([h[0], h[1]]),
                service: u16::from_le_bytes([h[2], h[3]]),
                id: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            },
            &frame[Self::SIZE..],
        ))
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.service.to_le_bytes());
        out.extend_from_slice(&self.id.to_le_bytes());
    }
}

/// Why a request failed: what the service answers instead of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SvcError {
    /// The connection's grant does not cover it; names what was refused
    /// and what the connection holds.
    PermissionDenied {
        /// What was asked for (`write /etc/passwd`, `publish logs/x`).
        what: String,
        /// What the connection may reach.
        held: String,
    },
    /// No such key, file or service.
    NotFound(String),
    /// It already exists.
    Exists(String),
    /// A path names a file where a directory is needed, or the reverse.
    NotADirectory(String),
    /// A directory where a file is needed.
    IsADirectory(String),
    /// A directory that is not empty was to be removed.
    NotEmpty(String),
    /// The frame could not be decoded (says where and why).
    Malformed(String),
    /// The frame's protocol version is not this service's.
    Version {
        /// The frame's.
        got: u16,
        /// The service's.
        want: u16,
    },
    /// The frame was for another service.
    WrongService(u16),
    /// A limit was hit: which, and its value.
    Limit {
        /// What is limited.
        what: String,
        /// The limit.
        max: u64,
    },
    /// A compare-and-swap found another value.
    Conflict,
    /// The service restarted while the request was outstanding: it may or
    /// may not have been done. The connection works again at once.
    Restarted,
    /// The service cannot do it now (a dependency is down).
    Unavailable(String),
    /// The argument is not valid (an empty key, a bad path, a bad pattern).
    Invalid(String),
}

impl core::fmt::Display for SvcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SvcError::PermissionDenied { what, held } => {
                write!(f, "permission denied: {what} (this connection holds {held})")
            }
            SvcError::NotFound(w) => write!(f, "not found: {w}"),
            SvcError::Exists(w) => write!(f, "already exists: {w}"),
            SvcError::NotADirectory(w) => write!(f, "not a directory: {w}"),
            SvcError::IsADirectory(w) => write!(f, "is a directory: {w}"),
            SvcError::NotEmpty(w) => write!(f, "directory not empty: {w}"),
            SvcError::Malformed(w) => write!(f, "malformed request: {w}"),
            SvcError::Version { got, want } => {
                write!(f, "protocol version {got}, but the service speaks {want}")
            }
            SvcError::WrongService(s) => write!(f, "frame addressed to service {s}, not this one"),
            SvcError::Limit { what, max } => write!(f, "limit reached: {what} (at most {max})"),
            SvcError::Conflict => write!(f, "compare-and-swap conflict: the value changed"),
            SvcError::Restarted => write!(f, "the service restarted; the request may not have been done"),
            SvcError::Unavailable(w) => write!(f, "unavailable: {w}"),
            SvcError::Invalid(w) => write!(f, "invalid argument: {w}"),
        }
    }
}

/// A service's answer.
pub type Reply<T> = Result<T, SvcError>;

/// Encodes a request (or reply) frame for `service` with id `id`.
pub fn encode<T: Serialize>(service: Service, id: u32, body: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Header {
        version: VERSION,
        service: service as u16,
        id,
    }
    .write(&mut out);
    // Serializing into a Vec cannot fail for these types.
    let body = postcard::to_allocvec(body).unwrap_or_default();
    out.extend_from_slice(&body);
    out
}

/// Decodes a frame meant for `service`: the header (when there is one)
/// and the body, or the error to answer with.
pub fn decode<T: DeserializeOwned>(service: Service, frame: &[u8]) -> (u32, Reply<T>) {
    let Some((h, body)) = Header::split(frame) else {
        return (0, Err(SvcError::Malformed(alloc::format!("{} bytes, shorter than the 8-byte header", frame.len()))));
    };
    if h.version != VERSION {
        return (h.id, Err(SvcError::Version { got: h.version, want: VERSION }));
    }
    if Service::from_u16(h.service) != Some(service) {
        return (h.id, Err(SvcError::WrongService(h.service)));
    }
    match postcard::from_bytes::<T>(body) {
        Ok(v) => (h.id, Ok(v)),
        Err(e) => (h.id, Err(SvcError::Malformed(alloc::format!("body of {} bytes: {e}", body.len())))),
    }
}

/// Decodes a reply frame: its id and the reply (a frame that cannot be
/// decoded is a `Malformed` reply).
pub fn decode_reply<T: DeserializeOwned>(service: Service, frame: &[u8]) -> (u32, Reply<T>) {
    match decode::<Reply<T>>(service, frame) {
        (id, Ok(r)) => (id, r),
        (id, Err(e)) => (id, Err(e)),
    }
}

/// What init writes on a connection's reply channel when the service
/// behind it restarts: a reply with id [`RESTARTED_ID`] that a waiting
/// client turns into [`SvcError::Restarted`].
pub fn restarted_notice(service: Service) -> Vec<u8> {
    encode::<Reply<()>>(service, RESTARTED_ID, &Err(SvcError::Restarted))
}

/// The client name of the monitor's own connection to each service (the
/// shell's `svc`, `fs`, `bus` and `kv` commands).
pub const MONITOR: &str = "monitor";

/// The client name of the screen's connection to init (its services pane
/// polls on its own connection, so it never takes the REPL's replies).
pub const SCREEN: &str = "screen";

/// The kernel-wide name of one channel of a connection: `SERVICE.CLIENT.END`
/// with `END` one of `req`, `resp` or (the bus) `deliver`.
pub fn channel_name(service: Service, client: &str, end: &str) -> alloc::string::String {
    alloc::format!("{}.{client}.{end}", service.name())
}

/// The request id of a restart notice; clients never use it.
pub const RESTARTED_ID: u32 = u32::MAX;

#[cfg(test)]
mod tests;
