//! Tidemark's monitor protocol: what every kernel instance speaks and every
//! client (shell, screen, reloader) understands, without the kernel core.
//!
//! * [`frame`]: transport-agnostic framing (`"TM"`, version, request id,
//!   length, postcard body) and a decoder that never panics on input.
//! * [`req`]: one type per request; each names its reply type through
//!   [`Endpoint`] (probe-rs's endpoint idea), so a client call returns the
//!   right type or a typed [`ErrorReply`], never "some response".
//! * [`types`]: the kernel's views (processes, capabilities, channels,
//!   arenas, packages, events). The kernel core builds these very types, so
//!   one value travels from kernel to screen; states, events, rights and
//!   errors are enums on the wire, never strings to match again.
//! * [`names`]: processes and channels named by id or by name in every request.
//!
//! `no_std + alloc`.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod endpoints;
pub mod error;
pub mod frame;
pub mod names;
pub mod types;

pub use endpoints::{Endpoint, GrantSpec, Request, Response, req};
pub use error::{ErrorKind, ErrorReply};
pub use frame::{Body, DecodeError, Decoder, Frame, encode};
pub use names::{ChanRef, ObjectRef, ProcRef};
pub use types::*;

/// Protocol version; a peer with another version is refused on `Hello`.
/// 2: typed endpoints, enums on the wire, names or ids in requests.
pub const PROTOCOL_VERSION: u16 = 2;
