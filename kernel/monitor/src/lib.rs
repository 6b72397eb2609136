//! Tidemark's monitor protocol, spoken by every kernel instance.
//!
//! A small, versioned, binary protocol: framed requests with ids, responses
//! carrying the same id, and unsolicited events (log lines, exits and traps,
//! capability denials, channel corruption). The framing ([`frame`]) is
//! transport-agnostic; [`server::Connection`] turns received bytes into bytes
//! to send for any transport (an in-process pipe, a Unix socket, a serial
//! line), and [`server::handle`] serves requests against any kernel through
//! the [`server::Target`] trait, so hosted and bare-metal kernels answer with
//! the same code. `no_std + alloc`.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod frame;
pub mod proto;
pub mod server;

pub use frame::{Body, DecodeError, Decoder, Frame, encode};
pub use proto::*;

/// Protocol version; a peer with another version is refused on `Hello`.
pub const PROTOCOL_VERSION: u16 = 1;
