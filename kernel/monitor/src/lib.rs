//! The kernel side of Tidemark's monitor protocol: [`server::handle`] serves
//! the typed requests of [`tidemark_protocol`] against any kernel through
//! the [`server::Target`] trait, and [`server::Connection`] turns received
//! bytes into bytes to send for any transport (an in-process pipe, a Unix
//! socket, a serial line), with a bounded event queue per client. Hosted
//! and bare-metal kernels answer with the same code. `no_std + alloc`.
//!
//! Clients use `tidemark-protocol` alone; they never compile the kernel.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod server;

pub use tidemark_protocol as protocol;
pub use tidemark_protocol::PROTOCOL_VERSION;
