//! Framing: `"TM"`, protocol version (u16 LE), request id (u32 LE), payload
//! length (u32 LE), then the postcard-encoded [`Body`].

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::PROTOCOL_VERSION;
use crate::endpoints::{Request, Response};
use crate::types::Event;

/// Frame magic.
pub const MAGIC: [u8; 2] = *b"TM";
/// Header length.
pub const HEADER: usize = 12;
/// Largest payload accepted (module uploads fit; anything larger is refused).
pub const MAX_PAYLOAD: usize = 8 << 20;

/// What a frame carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// Client to kernel.
    Request(Request),
    /// Kernel to client, answering the request with the same id.
    Response(Response),
    /// Kernel to client, unsolicited (id 0).
    Event(Event),
    /// A kernel's last words, unsolicited (id 0): the dump it took as it
    /// panicked, before the machine stopped.
    Dump(alloc::boxed::Box<crate::dump::KernelDump>),
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Request id (0 for events).
    pub id: u32,
    /// Body.
    pub body: Body,
}

/// Encodes a frame.
pub fn encode(id: u32, body: &Body) -> Vec<u8> {
    let payload = postcard::to_allocvec(body).expect("monitor bodies always serialize");
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Why bytes did not make a frame. The decoder has already skipped them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Bytes that were not a frame header were skipped.
    Garbage {
        /// How many.
        skipped: usize,
    },
    /// A frame of another protocol version.
    Version {
        /// Its id.
        id: u32,
        /// Its version.
        version: u16,
    },
    /// A header announcing more than [`MAX_PAYLOAD`] bytes (skipped with its header only).
    Oversized {
        /// Its id.
        id: u32,
        /// Announced length.
        len: u32,
    },
    /// A payload that did not decode.
    Malformed {
        /// Its id.
        id: u32,
    },
}

impl DecodeError {
    /// The request id the error concerns, when the header was readable.
    pub fn id(&self) -> u32 {
        match self {
            DecodeError::Garbage { .. } => 0,
            DecodeError::Version { id, .. }
            | DecodeError::Oversized { id, .. }
            | DecodeError::Malformed { id } => *id,
        }
    }
}

/// Accumulates bytes from a stream and yields frames. Never panics on input.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held, waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, an error for bytes that could not be one, or `None`
    /// when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, DecodeError>> {
        if self.buf.is_empty() {
            return None;
        }
        // Resynchronise on the magic.
        if !self.buf.starts_with(&MAGIC[..self.buf.len().min(2)]) {
            let skip = self
                .buf
                .windows(2)
                .position(|w| w == MAGIC)
                .unwrap_or(self.buf.len() - usize::from(self.buf.last() == Some(&MAGIC[0])));
            let skip = skip.max(1);
            self.buf.drain(..skip);
            return Some(Err(DecodeError::Garbage { skipped: skip }));
        }
        if self.buf.len() < HEADER {
            return None;
        }
        let version = u16::from_le_bytes([self.buf[2], self.buf[3]]);
        let id = u32::from_le_bytes(self.buf[4..8].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(self.buf[8..12].try_into().expect("4 bytes"));
        if len as usize > MAX_PAYLOAD {
            // The length cannot be trusted: drop the header and resynchronise.
            self.buf.drain(..HEADER);
            return Some(Err(DecodeError::Oversized { id, len }));
        }
        if self.buf.len() < HEADER + len as usize {
            return None;
        }
        let frame: Vec<u8> = self.buf.drain(..HEADER + len as usize).collect();
        if version != PROTOCOL_VERSION {
            return Some(Err(DecodeError::Version { id, version }));
        }
        match postcard::from_bytes::<Body>(&frame[HEADER..]) {
            Ok(body) => Some(Ok(Frame { id, body })),
            Err(_) => Some(Err(DecodeError::Malformed { id })),
        }
    }
}
