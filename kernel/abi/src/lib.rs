//! Tidemark's guest ABI, shared by the kernel and the guest SDK.
//!
//! Everything a guest and the kernel must agree on lives here and only here:
//! the hostcall catalogue ([`for_each_hostcall!`], declared once and expanded
//! by the kernel's engines into linker entries and by the SDK into imports),
//! error codes, capability classes, object kinds and rights, and the
//! fixed-layout wire types that cross the guest boundary.
//!
//! All hostcalls live in the wasm import module [`IMPORT_MODULE`]. Arguments
//! are `i32`/`i64`; results are non-negative on success and a negative
//! [`Error`] code on failure. A guest never traps because of the ABI: a
//! hostcall of a class it was not granted is linked to a stub that returns
//! [`Error::PermissionDenied`].
#![no_std]
#![warn(missing_docs)]

mod catalogue;
mod reference;
#[cfg(feature = "serde")]
mod serde_impls;
mod wire;

pub use catalogue::*;
pub use reference::write_reference;
pub use wire::*;

/// The cargo `--config` that every guest crate is built with: wasm atomics
/// (so the SDK's ring code is real atomic instructions when a kernel maps a
/// channel into the guest) and bulk memory, plus `--cfg tidemark_atomics`
/// to tell the SDK so (`atomics` is an unstable target feature, which
/// stable Rust does not reflect in `cfg`). A guest built without it stays
/// on the copying path. Engines without the threads proposal lower the
/// atomics (they run one guest at a time on one core).
pub const GUEST_BUILD_CONFIG: &str = r#"target.wasm32-unknown-unknown.rustflags=["-C", "target-feature=+atomics,+bulk-memory", "--cfg", "tidemark_atomics"]"#;

/// The wasm import module every hostcall lives in.
pub const IMPORT_MODULE: &str = "tidemark";

/// The export a guest's entry point is called through (see the SDK's `main!`).
pub const ENTRY_EXPORT: &str = "tidemark_main";

/// Optional export `() -> i64` called on the old instance at a hot reload:
/// it returns `(ptr << 32) | len` of the state to hand to the new instance,
/// which reads it with the `proc_state` hostcall.
pub const SAVE_EXPORT: &str = "tidemark_save";

/// Name of the custom section that carries a module's manifest.
///
/// The payload is UTF-8 `key=value` lines; today the only key is `classes`,
/// a comma-separated list of [`Class`] names the module asks for.
pub const MANIFEST_SECTION: &str = "tidemark.manifest";

/// ABI version, bumped on any incompatible change to the catalogue or wire types.
pub const ABI_VERSION: u32 = 1;

/// Error codes returned (negated) by hostcalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[repr(i32)]
pub enum Error {
    /// The process lacks the capability class or right this call needs.
    PermissionDenied = -1,
    /// The handle does not name a live entry of the caller's capability table.
    InvalidHandle = -2,
    /// A pointer/length pair lies outside the caller's linear memory.
    OutOfBounds = -3,
    /// An argument is malformed (unknown flag, bad UTF-8, zero size, ...).
    InvalidArgument = -4,
    /// The named object (capability, package, process) does not exist.
    NotFound = -5,
    /// Non-blocking write to a full channel.
    Full = -6,
    /// Non-blocking read from an empty channel.
    Empty = -7,
    /// The channel uses `Drop` backpressure and was full: the frame was discarded and counted.
    Dropped = -8,
    /// The frame or buffer is larger than allowed; for reads, the frame stays queued.
    TooLarge = -9,
    /// The channel ring failed validation; the channel is unusable.
    Corrupt = -10,
    /// An arena, table or budget is exhausted.
    NoMemory = -11,
    /// The handle was revoked: its generation is stale.
    Revoked = -12,
    /// The channel or object was deleted.
    Closed = -13,
    /// The operation needs an attachment (reader or writer) that the process does not have.
    NotAttached = -14,
    /// The object already exists (e.g. a second attachment of the same role).
    Exists = -15,
    /// The channel ring stayed locked past the spin budget (its writer lock is held by a side that is not progressing); retry.
    Busy = -16,
    /// A kernel limit named in the board manifest was reached (processes in
    /// all, children of one parent, spawn depth); nothing was created.
    LimitReached = -17,
    /// A package could not be had: no server is set, the server could not
    /// deliver, or what it sent failed verification against the signed
    /// catalog (the cache is unchanged).
    Unavailable = -18,
}

impl Error {
    /// Every error, in code order (used by the reference page and tests).
    pub const ALL: [Error; 18] = [
        Error::PermissionDenied,
        Error::InvalidHandle,
        Error::OutOfBounds,
        Error::InvalidArgument,
        Error::NotFound,
        Error::Full,
        Error::Empty,
        Error::Dropped,
        Error::TooLarge,
        Error::Corrupt,
        Error::NoMemory,
        Error::Revoked,
        Error::Closed,
        Error::NotAttached,
        Error::Exists,
        Error::Busy,
        Error::LimitReached,
        Error::Unavailable,
    ];

    /// The code as returned by a hostcall.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// Decodes a (negative) hostcall result.
    pub fn from_code(code: i64) -> Option<Error> {
        Error::ALL.into_iter().find(|e| e.code() as i64 == code)
    }

    /// Short stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Error::PermissionDenied => "PermissionDenied",
            Error::InvalidHandle => "InvalidHandle",
            Error::OutOfBounds => "OutOfBounds",
            Error::InvalidArgument => "InvalidArgument",
            Error::NotFound => "NotFound",
            Error::Full => "Full",
            Error::Empty => "Empty",
            Error::Dropped => "Dropped",
            Error::TooLarge => "TooLarge",
            Error::Corrupt => "Corrupt",
            Error::NoMemory => "NoMemory",
            Error::Revoked => "Revoked",
            Error::Closed => "Closed",
            Error::NotAttached => "NotAttached",
            Error::Exists => "Exists",
            Error::Busy => "Busy",
            Error::LimitReached => "LimitReached",
            Error::Unavailable => "Unavailable",
        }
    }

    /// One-line description (the rustdoc above, for the reference page).
    pub const fn describe(self) -> &'static str {
        match self {
            Error::PermissionDenied => {
                "the process lacks the capability class or right this call needs"
            }
            Error::InvalidHandle => {
                "the handle does not name a live entry of the caller's capability table"
            }
            Error::OutOfBounds => "a pointer/length pair lies outside the caller's linear memory",
            Error::InvalidArgument => {
                "an argument is malformed (unknown flag, bad UTF-8, zero size)"
            }
            Error::NotFound => "the named capability, package or process does not exist",
            Error::Full => "non-blocking write to a full channel",
            Error::Empty => "non-blocking read from an empty channel",
            Error::Dropped => "`Drop` channel was full: the frame was discarded and counted",
            Error::TooLarge => "frame or buffer too large; on read the frame stays queued",
            Error::Corrupt => "the channel ring failed validation; the channel is unusable",
            Error::NoMemory => "an arena, table or budget is exhausted",
            Error::Revoked => "the handle's generation is stale: it was revoked",
            Error::Closed => "the channel or object was deleted",
            Error::NotAttached => "the call needs a reader or writer attachment the process lacks",
            Error::Exists => "already exists (e.g. a second attachment of the same role)",
            Error::Busy => "the channel ring stayed locked past the spin budget; retry",
            Error::LimitReached => {
                "a kernel limit or the process's quota was reached (processes, children, depth, channels, regions, arena bytes, capabilities, log rate)"
            }
            Error::Unavailable => {
                "a package could not be had: no server, the server failed, or its bytes failed verification"
            }
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// Hostcall groups. A process is granted a set of classes at spawn; a
/// hostcall of a class it lacks is linked to a `PermissionDenied` stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[repr(u32)]
pub enum Class {
    /// Always granted: own capability table, own process, yielding.
    Core = 0,
    /// Writing to the kernel log.
    Log = 1,
    /// Clock and sleep.
    Time = 2,
    /// Creating and using channels.
    Channel = 3,
    /// Allocating and using shared-memory regions.
    Shm = 4,
    /// Spawning and killing child processes.
    Process = 5,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 6] = [
        Class::Core,
        Class::Log,
        Class::Time,
        Class::Channel,
        Class::Shm,
        Class::Process,
    ];

    /// Lower-case name used in manifests and output.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Core => "core",
            Class::Log => "log",
            Class::Time => "time",
            Class::Channel => "channel",
            Class::Shm => "shm",
            Class::Process => "process",
        }
    }

    /// Parses a lower-case class name.
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// A set of [`Class`]es.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Classes(pub u32);

impl Classes {
    /// Only [`Class::Core`].
    pub const CORE: Classes = Classes(1);
    /// Every class.
    pub const ALL: Classes = Classes(0b11_1111);

    /// Adds a class.
    pub const fn with(self, c: Class) -> Classes {
        Classes(self.0 | 1 << c as u32)
    }
    /// Whether the set holds `c` (`Core` is always held).
    pub const fn has(self, c: Class) -> bool {
        matches!(c, Class::Core) || self.0 & (1 << c as u32) != 0
    }
    /// Intersection.
    pub const fn and(self, o: Classes) -> Classes {
        Classes((self.0 & o.0) | 1)
    }
    /// Iterates the classes held.
    pub fn iter(self) -> impl Iterator<Item = Class> {
        Class::ALL.into_iter().filter(move |c| self.has(*c))
    }
}

/// What a capability names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ObjectKind {
    /// A channel (a ring in an arena).
    Channel = 1,
    /// A shared-memory region of an arena.
    Region = 2,
}

impl ObjectKind {
    /// Decodes a kind.
    pub const fn from_u32(v: u32) -> Option<ObjectKind> {
        match v {
            1 => Some(ObjectKind::Channel),
            2 => Some(ObjectKind::Region),
            _ => None,
        }
    }
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            ObjectKind::Channel => "channel",
            ObjectKind::Region => "region",
        }
    }
}

/// Rights carried by a capability. Delegation can only narrow them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rights(pub u32);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// Read frames / bytes.
    pub const READ: Rights = Rights(1);
    /// Write frames / bytes.
    pub const WRITE: Rights = Rights(2);
    /// Delegate to other processes and revoke what was delegated.
    pub const GRANT: Rights = Rights(4);
    /// Delete the object.
    pub const DELETE: Rights = Rights(8);
    /// Every right.
    pub const ALL: Rights = Rights(0xF);

    /// Union.
    pub const fn union(self, o: Rights) -> Rights {
        Rights(self.0 | o.0)
    }
    /// Whether all of `o` is held.
    pub const fn contains(self, o: Rights) -> bool {
        self.0 & o.0 == o.0
    }
    /// Intersection.
    pub const fn and(self, o: Rights) -> Rights {
        Rights(self.0 & o.0)
    }
    /// Parses `r`, `w`, `g`, `d` letters (e.g. `"rw"`).
    pub fn parse(s: &str) -> Option<Rights> {
        let mut r = Rights::NONE;
        for c in s.chars() {
            r = r.union(match c {
                'r' => Rights::READ,
                'w' => Rights::WRITE,
                'g' => Rights::GRANT,
                'd' => Rights::DELETE,
                _ => return None,
            });
        }
        Some(r)
    }
}

impl core::fmt::Display for Rights {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (bit, c) in [
            (Rights::READ, 'r'),
            (Rights::WRITE, 'w'),
            (Rights::GRANT, 'g'),
            (Rights::DELETE, 'd'),
        ] {
            core::fmt::Write::write_char(f, if self.contains(bit) { c } else { '-' })?;
        }
        Ok(())
    }
}

/// A capability handle as a guest holds it: `{index, generation}` packed in
/// a non-negative `i32` (index in the low 16 bits, a 15-bit generation above).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    /// Slot in the process's capability table.
    pub index: u16,
    /// Generation of the slot when the handle was minted; never 0.
    pub generation: u16,
}

impl Handle {
    /// Largest generation. Generations never wrap: a slot that has used
    /// `1..=MAX_GENERATION` is retired, so no stale handle becomes valid again.
    pub const MAX_GENERATION: u16 = 0x7FFF;

    /// Packs into the `i32` a guest sees.
    pub const fn to_raw(self) -> i32 {
        ((self.generation as i32 & 0x7FFF) << 16) | self.index as i32
    }
    /// Unpacks; `None` for negative values or generation 0 (never minted).
    #[inline]
    pub const fn from_raw(raw: i32) -> Option<Handle> {
        if raw < 0 {
            return None;
        }
        let generation = (raw >> 16) as u16;
        if generation == 0 {
            return None;
        }
        Some(Handle {
            index: raw as u16,
            generation,
        })
    }
}

/// Backpressure policy of a channel, chosen at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[repr(u32)]
pub enum Backpressure {
    /// A writer finding the ring full waits until readers make room.
    Park = 0,
    /// A writer finding the ring full discards the frame; the drop is counted.
    Drop = 1,
}

impl Backpressure {
    /// Decodes.
    pub const fn from_u32(v: u32) -> Option<Backpressure> {
        match v {
            0 => Some(Backpressure::Park),
            1 => Some(Backpressure::Drop),
            _ => None,
        }
    }
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Backpressure::Park => "park",
            Backpressure::Drop => "drop",
        }
    }
}

/// Which end of a channel an attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[repr(u32)]
pub enum Role {
    /// Reads frames with its own cursor.
    Reader = 1,
    /// Writes frames attributed to its writer id.
    Writer = 2,
}

impl Role {
    /// Decodes.
    pub const fn from_u32(v: u32) -> Option<Role> {
        match v {
            1 => Some(Role::Reader),
            2 => Some(Role::Writer),
            _ => None,
        }
    }

    /// `reader` or `writer`.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
        }
    }
}

/// Flags for `chan_create`.
pub mod chan_flags {
    /// `Drop` backpressure: a write to a full ring discards the frame
    /// (counted) instead of parking the writer.
    pub const DROP: u32 = 1;
    /// One writer and one reader: the ring runs without its writer lock,
    /// and a second process attaching in either role gets `Exists`.
    pub const SINGLE: u32 = 2;
    /// Every flag defined.
    pub const ALL: u32 = DROP | SINGLE;
}

/// Pixel formats of [`DisplayInfo::format`].
pub mod display_format {
    /// One little-endian `u32` per pixel, `0x00RRGGBB` (bytes B, G, R, X).
    pub const XRGB8888: u32 = 1;
    /// Bytes one pixel takes in `format`.
    pub const fn bytes_per_pixel(format: u32) -> u32 {
        match format {
            XRGB8888 => 4,
            _ => 0,
        }
    }
}

/// Flags for `chan_read`/`chan_write`.
pub mod io_flags {
    /// Return `Full`/`Empty` instead of parking.
    pub const NONBLOCK: u32 = 1;
}

/// Log levels for the `log` hostcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "UPPERCASE")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[repr(u32)]
pub enum Level {
    /// Errors.
    Error = 1,
    /// Warnings.
    Warn = 2,
    /// Information.
    Info = 3,
    /// Debugging detail.
    Debug = 4,
    /// Tracing detail.
    Trace = 5,
}

impl Level {
    /// Decodes; out-of-range values are clamped to `Trace`/`Error`.
    pub const fn from_u32(v: u32) -> Level {
        match v {
            0 | 1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            _ => Level::Trace,
        }
    }
    /// Upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}
