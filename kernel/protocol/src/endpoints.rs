//! Requests as typed pairs: each request type in [`req`] names its reply
//! type through [`Endpoint`], and [`Request`]/[`Response`] are generated
//! from the one list below, so adding a request is one line here plus its
//! handler in the server.

use alloc::string::String;
use alloc::vec::Vec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemark_abi::{Backpressure, Rights};

use crate::dump::KernelDump;
use crate::error::ErrorReply;
use crate::record::Recording;
use crate::names::{ChanRef, ObjectRef, ProcRef};
use crate::types::*;

/// A request type and the reply it gets.
pub trait Endpoint: Into<Request> {
    /// What the kernel answers.
    type Reply: Serialize + DeserializeOwned;
    /// The request's name (for logs and errors).
    const NAME: &'static str;
    /// The reply, when `r` is this endpoint's; otherwise `r` back.
    fn reply(r: Response) -> Result<Self::Reply, Response>;
    /// Wraps a reply.
    fn respond(reply: Self::Reply) -> Response;
}

/// A grant in a spawn request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GrantSpec {
    /// Name the guest looks the capability up by.
    pub name: String,
    /// Object granted.
    pub object: ObjectRef,
    /// Rights.
    pub rights: Rights,
}

macro_rules! endpoints {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)? } => $reply:ty;
    )*) => {
        /// One type per request.
        pub mod req {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[doc = $doc])*
                #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
                pub struct $name { $( $(#[doc = $fdoc])* pub $field: $ty, )* }

                impl From<$name> for Request {
                    fn from(r: $name) -> Request {
                        Request::$name(r)
                    }
                }

                impl Endpoint for $name {
                    type Reply = $reply;
                    const NAME: &'static str = stringify!($name);
                    fn reply(r: Response) -> Result<$reply, Response> {
                        match r {
                            Response::$name(v) => Ok(v),
                            other => Err(other),
                        }
                    }
                    fn respond(reply: $reply) -> Response {
                        Response::$name(reply)
                    }
                }
            )*
        }

        /// What a client asks: one variant per [`req`] type.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum Request {
            $( $(#[doc = $doc])* $name(req::$name), )*
        }

        /// What the kernel answers: each request's reply under the request's
        /// name, or an error.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum Response {
            $( #[doc = concat!("Reply to [`req::", stringify!($name), "`].")] $name($reply), )*
            /// The request failed.
            Error(ErrorReply),
        }

        impl Request {
            /// The request's name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Request::$name(_) => stringify!($name), )*
                }
            }

            /// The kernel compiles a module before it answers (its time
            /// grows with the module, not with the link): clients wait
            /// longer for these.
            pub fn compiles(&self) -> bool {
                matches!(self, Request::Spawn(_) | Request::Reload(_) | Request::Deliver(_))
            }
        }

        impl Response {
            /// The name of the request this answers (`Error` for errors).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Response::$name(_) => stringify!($name), )*
                    Response::Error(_) => "Error",
                }
            }
        }
    };
}

endpoints! {
    /// First message of a session: the client's protocol version.
    Hello {
        /// Client protocol version.
        version: u16,
        /// Client name, for logs.
        client: String,
    } => KernelInfo;
    /// Kernel version, board, engine, uptime.
    Info {} => KernelInfo;
    /// Everything a screen shows, in one round trip.
    Snapshot {
        /// Whose capabilities to include.
        caps_of: Option<ProcRef>,
        /// Include events after this sequence number.
        events_after: u64,
    } => KernelSnapshot;
    /// Every process.
    Ps {} => Vec<ProcessInfo>;
    /// One process.
    Process {
        /// Which.
        process: ProcRef,
    } => ProcessInfo;
    /// One process's capabilities.
    Caps {
        /// Which.
        process: ProcRef,
    } => Vec<CapInfo>;
    /// Every channel.
    Channels {} => Vec<ChannelInfo>;
    /// One channel.
    Channel {
        /// Which.
        channel: ChanRef,
    } => ChannelInfo;
    /// Every arena.
    Arenas {} => Vec<ArenaInfo>;
    /// The package cache.
    Packages {} => CacheInfo;
    /// Creates a kernel-held channel; answers it.
    CreateChannel {
        /// Name.
        name: String,
        /// Payload capacity.
        data_bytes: u32,
        /// Frame capacity.
        frames: u32,
        /// What a writer meets when the ring is full.
        backpressure: Backpressure,
        /// One writer and one reader (no writer lock; the kernel refuses a
        /// second party in either role).
        single: bool,
    } => ChannelInfo;
    /// Deletes a channel.
    DeleteChannel {
        /// Which.
        channel: ChanRef,
    } => ();
    /// Allocates a shared-memory region holding `bytes` (read-only data a
    /// service boots from, such as vfs's image), to grant at a spawn;
    /// answers its id. It lives while a process holds it.
    CreateRegion {
        /// Its contents (the region is at least 1 byte).
        bytes: Vec<u8>,
    } => u32;
    /// Spawns a process from the package cache; answers its pid.
    Spawn {
        /// Package name or hash.
        package: String,
        /// Display name.
        name: Option<String>,
        /// Arguments.
        args: Vec<u8>,
        /// Capabilities to grant.
        grants: Vec<GrantSpec>,
        /// Memory limit in bytes.
        memory_limit: Option<u64>,
        /// Record its boundary from its first instruction (`Recording`).
        record: bool,
    } => u32;
    /// Hot-reloads a process with a package from the cache, keeping its
    /// pid, capabilities and channel attachments.
    Reload {
        /// Which.
        process: ProcRef,
        /// Package name or hash.
        package: String,
    } => Reloaded;
    /// Kills a process; answers its pid.
    Kill {
        /// Which.
        process: ProcRef,
        /// Its live descendants too (killed before it).
        tree: bool,
    } => u32;
    /// Installs module bytes into the package cache.
    Upload {
        /// Package name.
        name: String,
        /// Module bytes.
        bytes: Vec<u8>,
        /// Pin it.
        pin: bool,
    } => PackageInfo;
    /// Writes a frame to a channel as the kernel.
    Send {
        /// Which.
        channel: ChanRef,
        /// Frame.
        data: Vec<u8>,
    } => Sent;
    /// Reads up to `max` frames available now on the kernel's own reader of
    /// a channel (attached on first use).
    Tail {
        /// Which.
        channel: ChanRef,
        /// Most frames to return.
        max: u32,
    } => Vec<FrameRecord>;
    /// Detaches the kernel's reader so it no longer holds writers back.
    Untail {
        /// Which.
        channel: ChanRef,
    } => ();
    /// Grants a capability to a process; answers the handle.
    Grant {
        /// Which.
        process: ProcRef,
        /// Name.
        name: String,
        /// Object.
        object: ObjectRef,
        /// Rights.
        rights: Rights,
    } => i32;
    /// Revokes a process's capability (and everything delegated from it).
    Revoke {
        /// Which.
        process: ProcRef,
        /// Raw handle.
        handle: i32,
    } => ();
    /// Resolves a package by name or hash (counts a hit or miss); a miss
    /// the signed catalog lists starts a fetch.
    Resolve {
        /// Name or hex hash.
        name: String,
    } => Resolution;
    /// Adds a trusted Ed25519 public key for catalogs.
    Trust {
        /// The key (64 hex digits).
        key: String,
    } => ();
    /// Sets (or clears) the package server; setting one fetches its catalog.
    PackageServer {
        /// `http://host:port`.
        url: Option<String>,
    } => ();
    /// Offers a signed catalog (fetched by the workbench for a board), or
    /// says why the fetch failed.
    LoadCatalog {
        /// `catalog.bin`.
        bytes: Vec<u8>,
        /// Why there are no bytes.
        failure: Option<String>,
    } => CatalogInfo;
    /// The catalog held, the server and the trusted keys.
    Catalog {} => CatalogInfo;
    /// Forwards a fetched package (or why the fetch failed); the kernel
    /// verifies it against the signed catalog before it caches it.
    Deliver {
        /// SHA-256 the fetch was for (hex).
        hash: String,
        /// Bytes fetched.
        bytes: Vec<u8>,
        /// Why there are no bytes (server down, stalled, ...).
        failure: Option<String>,
    } => PackageInfo;
    /// Pins packages by hash (`Tidemark.lock`): a spawn or reload of a
    /// locked name with another hash is refused.
    Lock {
        /// Names and hashes; replaces any earlier lock.
        entries: Vec<LockEntry>,
    } => ();
    /// Evicts a package.
    Evict {
        /// Name.
        name: String,
    } => ();
    /// Pins or unpins a package.
    Pin {
        /// Name.
        name: String,
        /// Pinned.
        pinned: bool,
    } => ();
    /// The kernel's whole inspectable state in one step: a postmortem dump,
    /// and what `why` and `caps graph` read.
    Dump {
        /// Include the events the kernel still holds.
        events: bool,
        /// The dump the kernel took when a process last trapped, before
        /// its capabilities were released, instead of one taken now.
        crash: bool,
        /// Live processes' linear memories too (a dump taken now).
        memories: bool,
    } => KernelDump;
    /// Bytes of a live process's linear memory (or, from a dump, of the
    /// memory it holds), clipped to its size.
    Peek {
        /// Which.
        process: ProcRef,
        /// First byte.
        offset: u64,
        /// Most bytes (at most 64 KiB).
        len: u32,
    } => Peeked;
    /// What a process spawned with `record` has done so far: every
    /// hostcall with its answer, to replay it alone.
    Recorded {
        /// Which.
        process: ProcRef,
    } => Recording;
    /// Part of the board's framebuffer as it is now: `len` bytes (0 for
    /// its geometry alone) from byte `offset`, clipped to the framebuffer
    /// and to the link's queue. `screenshot` reads it in parts.
    Framebuffer {
        /// First byte.
        offset: u32,
        /// Most bytes.
        len: u32,
    } => FramebufferPart;
    /// Makes a board's kernel panic on purpose, with `message`: what a
    /// postmortem then shows (its last words, the dump it keeps) can be
    /// seen and tested. Refused where the kernel runs inside the
    /// workbench (hosted), whose panic would take the workbench down.
    Panic {
        /// Said in the panic.
        message: String,
    } => ();
    /// Events after a sequence number (the same ones are also pushed).
    Events {
        /// Last sequence number seen.
        after: u64,
    } => Vec<Event>;
}
