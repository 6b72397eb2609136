//! Messages of the monitor protocol.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// A grant in a spawn request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSpec {
    /// Name the guest looks the capability up by.
    pub name: String,
    /// Object granted.
    pub object: ObjectRef,
    /// Rights bits (`tidemark_abi::Rights`).
    pub rights: u32,
}

/// A kernel object by kind and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectRef {
    /// A channel.
    Channel(u32),
    /// A shared-memory region.
    Region(u32),
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// First message of a session: the client's protocol version.
    Hello {
        /// Client protocol version.
        version: u16,
        /// Client name, for logs.
        client: String,
    },
    /// Kernel version, board, engine, uptime.
    Info,
    /// Every process.
    Ps,
    /// One process's capabilities.
    Caps {
        /// Pid.
        pid: u32,
    },
    /// Every channel.
    Channels,
    /// Every arena.
    Arenas,
    /// The package cache.
    Packages,
    /// Creates a kernel-held channel.
    CreateChannel {
        /// Name.
        name: String,
        /// Payload capacity.
        data_bytes: u32,
        /// Frame capacity.
        frames: u32,
        /// Drop (true) or park (false) backpressure.
        drop: bool,
    },
    /// Deletes a channel.
    DeleteChannel {
        /// Channel id.
        id: u32,
    },
    /// Spawns a process from the package cache.
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
    },
    /// Hot-reloads a process with a package from the cache, keeping its pid,
    /// capabilities and channel attachments.
    Reload {
        /// Pid.
        pid: u32,
        /// Package name or hash.
        package: String,
    },
    /// Kills a process.
    Kill {
        /// Pid.
        pid: u32,
    },
    /// Installs module bytes into the package cache.
    Upload {
        /// Package name.
        name: String,
        /// Module bytes.
        bytes: Vec<u8>,
        /// Pin it.
        pin: bool,
    },
    /// Writes a frame to a channel as the kernel.
    Send {
        /// Channel id.
        channel: u32,
        /// Frame.
        data: Vec<u8>,
    },
    /// Reads up to `max` frames available now on the kernel's own reader of a
    /// channel (attached on first use).
    Tail {
        /// Channel id.
        channel: u32,
        /// Most frames to return.
        max: u32,
    },
    /// Detaches the kernel's reader so it no longer holds writers back.
    Untail {
        /// Channel id.
        channel: u32,
    },
    /// Grants a capability to a process.
    Grant {
        /// Pid.
        pid: u32,
        /// Name.
        name: String,
        /// Object.
        object: ObjectRef,
        /// Rights bits.
        rights: u32,
    },
    /// Revokes a process's capability (and everything delegated from it).
    Revoke {
        /// Pid.
        pid: u32,
        /// Raw handle.
        handle: i32,
    },
    /// Resolves a package by name or hash (counts a hit or miss).
    Resolve {
        /// Name or hex hash.
        name: String,
    },
    /// Evicts a package.
    Evict {
        /// Name.
        name: String,
    },
    /// Pins or unpins a package.
    Pin {
        /// Name.
        name: String,
        /// Pinned.
        pinned: bool,
    },
    /// Events after a sequence number (the same ones are also pushed).
    Events {
        /// Last sequence number seen.
        after: u64,
    },
}

/// Kernel identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInfo {
    /// Kernel version.
    pub version: String,
    /// Monitor protocol version.
    pub protocol: u16,
    /// ABI version.
    pub abi: u32,
    /// Board name.
    pub board: String,
    /// Engine name.
    pub engine: String,
    /// Uptime in ns.
    pub uptime_ns: u64,
    /// The board's own memory, where the kernel owns the machine.
    pub memory: Option<BoardMemory>,
}

/// A bare-metal board's RAM as its kernel measures it, in bytes. Guest
/// memories, modules, arenas and kernel objects all live in the heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardMemory {
    /// The image's `.data` and `.bss`.
    pub static_bytes: u64,
    /// Stack reserved.
    pub stack_size: u64,
    /// Deepest stack use since boot (the stack is painted at boot).
    pub stack_peak: u64,
    /// Heap size.
    pub heap_size: u64,
    /// Heap in use now.
    pub heap_used: u64,
}

/// A process row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Pid.
    pub pid: u32,
    /// Name.
    pub name: String,
    /// Package.
    pub package: String,
    /// Module hash (hex).
    pub hash: String,
    /// `starting`, `running`, `blocked`, `exited`, `trapped`, `killed`, `failed`.
    pub state: String,
    /// What it waits for or how it ended.
    pub detail: String,
    /// Classes granted.
    pub classes: Vec<String>,
    /// Live capabilities.
    pub caps: u32,
    /// Linear memory used.
    pub memory: u64,
    /// Memory limit.
    pub memory_limit: u64,
    /// Parent pid.
    pub parent: u32,
    /// Hostcalls made.
    pub hostcalls: u64,
    /// Hostcalls denied.
    pub denials: u64,
    /// Frames written.
    pub frames_out: u64,
    /// Frames read.
    pub frames_in: u64,
}

/// A capability row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapRow {
    /// Raw handle.
    pub handle: i32,
    /// Slot.
    pub index: u16,
    /// Generation.
    pub generation: u16,
    /// `channel` or `region`.
    pub kind: String,
    /// Object id.
    pub object: u32,
    /// Rights, as `rwgd` letters.
    pub rights: String,
    /// Name.
    pub name: String,
    /// Delegated from (pid, handle).
    pub parent: Option<(u32, i32)>,
    /// Delegated copies.
    pub children: u32,
}

/// A reader cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderInfo {
    /// Pid (0: kernel).
    pub pid: u32,
    /// Slot.
    pub slot: u32,
    /// Next frame.
    pub seq: u32,
    /// Frames behind head.
    pub lag: u32,
}

/// A writer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterInfo {
    /// Pid (0: kernel).
    pub pid: u32,
    /// Writer id.
    pub id: u32,
    /// Frames written.
    pub frames: u32,
}

/// A channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// `park` or `drop`.
    pub backpressure: String,
    /// Payload capacity.
    pub data_cap: u32,
    /// Frame capacity.
    pub frame_cap: u32,
    /// Payload bytes in flight.
    pub bytes_in_flight: u32,
    /// Frames in flight.
    pub frames_in_flight: u32,
    /// Frames written since creation.
    pub head_seq: u32,
    /// Frames dropped.
    pub drops: u32,
    /// Reader cursors.
    pub readers: Vec<ReaderInfo>,
    /// Writers.
    pub writers: Vec<WriterInfo>,
    /// Parked readers.
    pub parked_readers: Vec<u32>,
    /// Parked writers.
    pub parked_writers: Vec<u32>,
    /// Corruption, if found.
    pub corrupt: Option<String>,
}

/// A region of an arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionInfo {
    /// Region id.
    pub id: u32,
    /// Offset.
    pub offset: u64,
    /// Length.
    pub len: u64,
    /// Owner pid.
    pub owner: u32,
    /// `shm` or `channel N`.
    pub purpose: String,
}

/// An arena.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArenaInfo {
    /// Id.
    pub id: u32,
    /// Size.
    pub size: u64,
    /// Used.
    pub used: u64,
    /// Free.
    pub free: u64,
    /// High-water mark.
    pub high_water: u64,
    /// Fragmentation, 0..1.
    pub fragmentation: f32,
    /// Regions.
    pub regions: Vec<RegionInfo>,
}

/// A cached package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageInfo {
    /// Name.
    pub name: String,
    /// SHA-256 (hex).
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Pinned.
    pub pinned: bool,
}

/// The package cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// Slots.
    pub slots: u32,
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Evictions.
    pub evictions: u64,
    /// Packages.
    pub packages: Vec<PackageInfo>,
}

/// A frame read by `Tail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Sequence number.
    pub seq: u32,
    /// Writing pid.
    pub pid: u32,
    /// Writer id.
    pub writer: u32,
    /// Bytes.
    pub data: Vec<u8>,
}

/// An event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Sequence number.
    pub seq: u64,
    /// ns since boot.
    pub time_ns: u64,
    /// `log`, `spawned`, `exited`, `trapped`, `killed`, `failed`, `denied`,
    /// `reloaded`, `rolled-back`, `corrupt`.
    pub kind: String,
    /// Process concerned (0: none).
    pub pid: u32,
    /// Log level for `log` events.
    pub level: Option<String>,
    /// Text.
    pub text: String,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The frame could not be decoded.
    Malformed,
    /// The frame is larger than the protocol allows.
    Oversized,
    /// The peer speaks another protocol version.
    Version,
    /// The kernel refused (details in the message; `code` is the ABI error when there is one).
    Refused,
    /// No such process, channel, package or capability.
    NotFound,
}

/// An error reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Kind.
    pub kind: ErrorKind,
    /// ABI error code, when the kernel returned one.
    pub code: Option<i32>,
    /// Human message.
    pub message: String,
}

/// What the kernel answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to `Hello`.
    Hello(KernelInfo),
    /// Answer to `Info`.
    Info(KernelInfo),
    /// Answer to `Ps`.
    Ps(Vec<ProcessInfo>),
    /// Answer to `Caps`.
    Caps(Vec<CapRow>),
    /// Answer to `Channels`.
    Channels(Vec<ChannelInfo>),
    /// Answer to `Arenas`.
    Arenas(Vec<ArenaInfo>),
    /// Answer to `Packages`.
    Packages(CacheInfo),
    /// A channel was created.
    ChannelCreated {
        /// Id.
        id: u32,
    },
    /// A process was spawned.
    Spawned {
        /// Pid.
        pid: u32,
    },
    /// A process was reloaded.
    Reloaded {
        /// Pid.
        pid: u32,
        /// Hash now running (hex), as the kernel reports it.
        hash: String,
        /// How long the two steps took.
        timing: ReloadTiming,
    },
    /// A package was installed.
    Uploaded(PackageInfo),
    /// A frame was sent.
    Sent {
        /// Its sequence number.
        seq: u32,
    },
    /// Frames read.
    Frames(Vec<FrameRecord>),
    /// A capability was granted.
    Granted {
        /// Handle in the process's table.
        handle: i32,
    },
    /// A package resolved.
    Resolved(PackageInfo),
    /// Events.
    Events(Vec<EventRecord>),
    /// Done, nothing to report.
    Done,
    /// The request failed.
    Error(ErrorReply),
}

/// The two steps of a hot reload, timed by the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadTiming {
    /// Compile, link and instantiate the new module while the old one runs.
    pub prepare_ns: u64,
    /// From asking the old instance to stop to the new one running: the
    /// only time the process is not serving.
    pub swap_ns: u64,
}
