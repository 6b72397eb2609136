//! The kernel's views: what the core builds, the monitor sends and the
//! screen draws. One type end to end.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};
use tidemark_abi::{Backpressure, Classes, Level, ObjectKind, Rights};

macro_rules! wire {
    ($($item:item)*) => {
        $(
            #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
            #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
            $item
        )*
    };
}

/// What a parked process waits for.
///
/// After `Readable`/`Writable`/`Select` the engine retries the hostcall when woken;
/// after `Until`/`Yield` the call is complete and returns 0 once resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// A frame on this channel.
    Readable(u32),
    /// Room on this channel.
    Writable(u32),
    /// This time (ns since boot).
    Until(u64),
    /// Nothing: the process yielded its slice.
    Yield,
    /// A package being fetched from the package server and verified.
    Package,
    /// A frame on any of the channels of a `chan_select`, or this time (ns
    /// since boot) when it has a deadline; the call is retried when woken.
    Select(Option<u64>),
}

/// A trap: one line for tables (what, and where when the engine knows),
/// the engine's whole report for `ps --detail`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Trap {
    /// What trapped, the same words on every engine (`wasm \`unreachable\` instruction executed`).
    pub reason: String,
    /// Where, when the engine can say (`func 0 at 0x29`).
    pub at: Option<String>,
    /// The engine's full report (backtrace), when it gives more than the reason.
    pub backtrace: Option<String>,
}

impl Trap {
    /// A trap whose report is one line.
    pub fn new(reason: impl Into<String>) -> Trap {
        Trap {
            reason: reason.into(),
            at: None,
            backtrace: None,
        }
    }
}

/// One line: `wasm \`unreachable\` instruction executed in func 0 at 0x29`.
impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        match &self.at {
            Some(at) => write!(f, " in {at}"),
            None => Ok(()),
        }
    }
}

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// Returned from its entry point or called `proc_exit`.
    Code(i32),
    /// Trapped.
    Trap(Trap),
    /// Killed by another process or the monitor.
    Killed,
    /// Failed before its first instruction (compile, link or start).
    Failed(String),
}

/// A process's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProcState {
    /// Spawned, not yet started by the engine.
    Starting,
    /// Running (or runnable).
    Running,
    /// Parked in a hostcall.
    Blocked(Wait),
    /// Ended.
    Ended(Exit),
}

impl ProcState {
    /// The word tables show: `starting`, `running`, `blocked`, `exited`,
    /// `trapped`, `killed`, `failed`. (A yield is running.)
    pub fn name(&self) -> &'static str {
        match self {
            ProcState::Starting => "starting",
            ProcState::Running | ProcState::Blocked(Wait::Yield) => "running",
            ProcState::Blocked(_) => "blocked",
            ProcState::Ended(Exit::Code(_)) => "exited",
            ProcState::Ended(Exit::Trap(_)) => "trapped",
            ProcState::Ended(Exit::Killed) => "killed",
            ProcState::Ended(Exit::Failed(_)) => "failed",
        }
    }

    /// One line: what it waits for or how it ended.
    pub fn detail(&self) -> String {
        match self {
            ProcState::Blocked(Wait::Readable(c)) => format!("read chan {c}"),
            ProcState::Blocked(Wait::Writable(c)) => format!("write chan {c}"),
            ProcState::Blocked(Wait::Until(_)) => "sleep".into(),
            ProcState::Blocked(Wait::Package) => "fetch package".into(),
            ProcState::Blocked(Wait::Select(_)) => "select".into(),
            ProcState::Ended(Exit::Code(c)) => format!("code {c}"),
            ProcState::Ended(Exit::Trap(t)) => format!("{t}"),
            ProcState::Ended(Exit::Failed(r)) => first_line(r).into(),
            _ => String::new(),
        }
    }

    /// Whether the process has not ended.
    pub fn is_live(&self) -> bool {
        !matches!(self, ProcState::Ended(_))
    }
}

/// The first line of a message.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// A kernel object a capability can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Object {
    /// A channel id.
    Channel(u32),
    /// A shared-memory region id.
    Region(u32),
}

impl Object {
    /// Its ABI kind.
    pub fn kind(self) -> ObjectKind {
        match self {
            Object::Channel(_) => ObjectKind::Channel,
            Object::Region(_) => ObjectKind::Region,
        }
    }
    /// Its kernel-wide id.
    pub fn id(self) -> u32 {
        match self {
            Object::Channel(id) | Object::Region(id) => id,
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind().name(), self.id())
    }
}

/// What an arena region is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A shared-memory region handed to guests.
    Shm,
    /// The ring of a channel.
    Channel(u32),
    /// The board's framebuffer.
    Display,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Purpose::Shm => f.write_str("shm"),
            Purpose::Channel(c) => write!(f, "chan {c}"),
            Purpose::Display => f.write_str("display"),
        }
    }
}

/// Per-process counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Counters {
    /// Hostcalls made.
    pub hostcalls: u64,
    /// Hostcalls refused for lack of a class or right.
    pub denials: u64,
    /// Frames written.
    pub frames_out: u64,
    /// Frames read.
    pub frames_in: u64,
    /// Times parked.
    pub parks: u64,
}

wire! {
    /// Kernel identity.
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
        /// The board's monitor link, where the kernel drives it itself.
        pub link: Option<LinkStats>,
        /// The kernel fetches from the package server itself (hosted); else
        /// the workbench fetches what its `fetch` events ask and forwards it.
        pub fetches: bool,
    }

    /// A process.
    pub struct ProcessInfo {
        /// Pid.
        pub pid: u32,
        /// Name.
        pub name: String,
        /// Package.
        pub package: String,
        /// Module hash (hex).
        pub hash: String,
        /// State.
        pub state: ProcState,
        /// When it entered that state (ns since boot): how long a blocked
        /// process has waited, or an ended one has been gone.
        pub since_ns: u64,
        /// Classes granted.
        pub classes: Classes,
        /// Live capabilities.
        pub caps: u32,
        /// Linear memory used.
        pub memory: u64,
        /// Memory limit.
        pub memory_limit: u64,
        /// Parent pid (0: the kernel).
        pub parent: u32,
        /// Hot reloads so far.
        pub reloads: u32,
        /// Counters.
        pub counters: Counters,
    }

    /// A capability of one process.
    pub struct CapInfo {
        /// Raw handle value the guest holds.
        pub handle: i32,
        /// Slot.
        pub index: u16,
        /// Generation.
        pub generation: u16,
        /// Object.
        pub object: Object,
        /// Rights.
        pub rights: Rights,
        /// Name.
        pub name: String,
        /// Delegated from (pid, raw handle).
        pub parent: Option<(u32, i32)>,
        /// Delegated copies.
        pub children: u32,
    }

    /// A reader cursor.
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
    pub struct WriterInfo {
        /// Pid (0: kernel).
        pub pid: u32,
        /// Writer id.
        pub id: u32,
        /// Frames written.
        pub frames: u32,
    }

    /// A channel.
    pub struct ChannelInfo {
        /// Id.
        pub id: u32,
        /// Name.
        pub name: String,
        /// Backpressure.
        pub backpressure: Backpressure,
        /// One writer and one reader: a second process attaching in
        /// either role is refused.
        pub single: bool,
        /// Data ring capacity.
        pub data_cap: u32,
        /// Frame capacity.
        pub frame_cap: u32,
        /// Payload bytes of the frames in flight.
        pub bytes_in_flight: u32,
        /// Data ring bytes in use: frames of at most 16 bytes lie inline
        /// in their frame slots on hosted and take none (the board's own
        /// layout: rv32 boards keep every payload in the data ring).
        pub data_in_flight: u32,
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
        /// Under Park, with the ring full or writers parked: the live
        /// reader at the oldest cursor, the one writers wait for (kill it,
        /// or revoke its capability, to let them go on).
        pub held_back_by: Option<ReaderInfo>,
        /// Corruption, if found.
        pub corrupt: Option<String>,
        /// Capability holders.
        pub holders: u32,
    }

    /// A region of an arena.
    pub struct RegionInfo {
        /// Region id.
        pub id: u32,
        /// Offset.
        pub offset: u64,
        /// Length.
        pub len: u64,
        /// Owner pid.
        pub owner: u32,
        /// Use.
        pub purpose: Purpose,
    }

    /// An arena.
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
    pub struct CacheInfo {
        /// Slots.
        pub slots: u32,
        /// Hits.
        pub hits: u64,
        /// Misses.
        pub misses: u64,
        /// Evictions.
        pub evictions: u64,
        /// Fetched packages refused by verification (hash, size, cap).
        pub verify_failures: u64,
        /// Fetches under way.
        pub fetching: u32,
        /// Packages.
        pub packages: Vec<PackageInfo>,
    }

    /// One record of the signed catalog.
    pub struct CatalogEntry {
        /// Package name.
        pub name: String,
        /// Version text.
        pub version: String,
        /// SHA-256 (hex).
        pub hash: String,
        /// Exact size in bytes.
        pub size: u64,
        /// A system package (pinned once cached).
        pub system: bool,
        /// In the cache now.
        pub cached: bool,
    }

    /// The catalog the kernel holds and where it fetches from.
    pub struct CatalogInfo {
        /// The package server (`http://host:port`), if set.
        pub server: Option<String>,
        /// Keys the kernel trusts (hex).
        pub trusted: Vec<String>,
        /// Catalog version (0: none held).
        pub version: u64,
        /// The key that signed it (hex).
        pub signer: Option<String>,
        /// Records.
        pub entries: Vec<CatalogEntry>,
    }

    /// A module pinned by `Tidemark.lock`.
    pub struct LockEntry {
        /// Package (guest) name.
        pub name: String,
        /// SHA-256 (hex) it must have.
        pub hash: String,
    }

    /// A frame read by `Tail`.
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

    /// An event with its sequence number and time.
    pub struct Event {
        /// Monotonic sequence number.
        pub seq: u64,
        /// ns since boot.
        pub time_ns: u64,
        /// What happened.
        pub kind: EventKind,
    }

    /// What a hot reload did.
    pub struct Reloaded {
        /// The process (same pid as before).
        pub pid: u32,
        /// Hash now running (hex), as the kernel reports it.
        pub hash: String,
        /// How long the two steps took.
        pub timing: ReloadTiming,
    }

    /// A frame the kernel wrote.
    pub struct Sent {
        /// Channel id.
        pub channel: u32,
        /// The frame's sequence number.
        pub seq: u32,
    }

    /// Everything a screen shows, in one round trip.
    pub struct KernelSnapshot {
        /// Identity and uptime.
        pub info: KernelInfo,
        /// Every process.
        pub ps: Vec<ProcessInfo>,
        /// The capabilities of the process asked about (empty when none).
        pub caps: Vec<CapInfo>,
        /// Every channel.
        pub channels: Vec<ChannelInfo>,
        /// Every arena.
        pub arenas: Vec<ArenaInfo>,
        /// The package cache.
        pub packages: CacheInfo,
        /// Events after the sequence number asked about.
        pub events: Vec<Event>,
    }
}

/// An empty cache of no slots.
impl Default for CacheInfo {
    fn default() -> CacheInfo {
        CacheInfo {
            slots: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
            verify_failures: 0,
            fetching: 0,
            packages: Vec::new(),
        }
    }
}

/// No catalog, no server, no keys.
impl Default for CatalogInfo {
    fn default() -> CatalogInfo {
        CatalogInfo {
            server: None,
            trusted: Vec::new(),
            version: 0,
            signer: None,
            entries: Vec::new(),
        }
    }
}

/// A bare-metal board's RAM as its kernel measures it, in bytes. Guest
/// memories, modules, arenas and kernel objects all live in the heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BoardMemory {
    /// The machine's RAM: the budget everything below comes out of.
    pub ram_bytes: u64,
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

/// A bare-metal kernel's side of its monitor link: what it could not send.
/// The kernel never waits for the host: output that does not fit the
/// transmitter is queued up to a bound, and past it dropped and counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LinkStats {
    /// Bytes handed to the transmitter since boot.
    pub sent_bytes: u64,
    /// Frames dropped because the queue was full (replies; events are not
    /// dropped here but left in the kernel's log, and reported as `Lost`).
    pub dropped_frames: u64,
    /// Bytes in those frames.
    pub dropped_bytes: u64,
    /// Times the host stopped taking bytes for longer than the stall limit.
    pub stalls: u64,
    /// Hellos after a stall: the host came back.
    pub reattaches: u64,
    /// Bytes queued now, and the queue's bound.
    pub queued_bytes: u64,
    /// The queue's bound.
    pub queue_bytes: u64,
}

/// The two steps of a hot reload, timed by the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReloadTiming {
    /// Compile, link and instantiate the new module while the old one runs.
    pub prepare_ns: u64,
    /// From asking the old instance to stop to the new one running: the
    /// only time the process is not serving.
    pub swap_ns: u64,
}

/// What a resolve found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// In the cache (a hit).
    Cached(PackageInfo),
    /// Not cached but in the signed catalog: being fetched. A
    /// `package_installed` or `package_rejected` event for `hash` follows.
    Fetching {
        /// Name.
        name: String,
        /// SHA-256 it must have (hex).
        hash: String,
        /// Exact size.
        size: u64,
    },
}

/// Something that happened, for the event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A guest's log line.
    Log {
        /// Writer.
        pid: u32,
        /// Level.
        level: Level,
        /// Text.
        text: String,
    },
    /// A process was spawned.
    Spawned {
        /// Pid.
        pid: u32,
        /// Package.
        package: String,
    },
    /// A process ended.
    Ended {
        /// Pid.
        pid: u32,
        /// How.
        exit: Exit,
    },
    /// A hostcall was refused for lack of a class or right, with why.
    Denied {
        /// Pid.
        pid: u32,
        /// Hostcall name.
        hostcall: String,
        /// The handle the call named, when its capability fell short.
        handle: Option<i32>,
        /// The rights that capability holds.
        held: Option<Rights>,
        /// The rights the call needs.
        needed: Option<Rights>,
        /// One line: what was held, from whom, and what would be needed
        /// (`pid 3 holds \`req\` (chan 2) r-- from pid 1; chan_write needs w`).
        why: String,
    },
    /// A process now runs a new module (hot reload), keeping its pid,
    /// capabilities and attachments.
    Reloaded {
        /// Pid.
        pid: u32,
        /// Package.
        package: String,
        /// New module hash (hex).
        hash: String,
    },
    /// A reloaded process's new module failed before it served: the
    /// previous module runs again under the same pid, capabilities and
    /// attachments, with the state it handed over.
    RolledBack {
        /// Pid.
        pid: u32,
        /// Package running again.
        package: String,
        /// Hash running again (hex).
        hash: String,
        /// Why the new module was given up (its trap or exit).
        reason: String,
    },
    /// A channel's ring failed validation.
    Corrupt {
        /// Channel id.
        channel: u32,
        /// What was wrong.
        what: String,
    },
    /// A kernel limit or a process's quota refused what a process (or
    /// the monitor) asked for.
    LimitReached {
        /// The process that asked (0: the monitor).
        pid: u32,
        /// Which limit.
        limit: String,
        /// Its value.
        value: u32,
    },
    /// A process logged faster than its rate allows: this many lines of
    /// the last window were dropped.
    Suppressed {
        /// Writer.
        pid: u32,
        /// Lines dropped.
        lines: u64,
        /// The rate it went past (lines a second).
        per_second: u32,
    },
    /// The kernel asks for bytes from the package server: the catalog
    /// (`package` empty) or one package. A kernel that cannot fetch itself
    /// has the workbench fetch them and forward them over the link.
    Fetch {
        /// Package name (empty: the catalog).
        package: String,
        /// SHA-256 it must have (hex; empty for the catalog).
        hash: String,
        /// Exact size the catalog gives (0 for the catalog).
        size: u64,
        /// What to GET.
        url: String,
    },
    /// A signed catalog was verified and is now the one held.
    CatalogLoaded {
        /// Catalog version.
        version: u64,
        /// Records.
        packages: u32,
        /// Signer (hex).
        signer: String,
    },
    /// A catalog was refused; the one held stays.
    CatalogRejected {
        /// Why.
        reason: String,
    },
    /// A fetched package passed verification and entered the cache.
    PackageInstalled {
        /// Name.
        package: String,
        /// SHA-256 (hex).
        hash: String,
        /// Bytes.
        size: u64,
    },
    /// A fetch failed or its bytes failed verification; the cache is unchanged.
    PackageRejected {
        /// Name.
        package: String,
        /// SHA-256 the catalog gives (hex).
        hash: String,
        /// Why.
        reason: String,
    },
    /// This client's event queue overflowed: this many events were dropped
    /// (oldest first) before this one.
    Lost {
        /// Events dropped.
        count: u64,
    },
}

impl EventKind {
    /// The word event lines show.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Log { .. } => "log",
            EventKind::Spawned { .. } => "spawned",
            EventKind::Ended { exit, .. } => ProcState::Ended(exit.clone()).name(),
            EventKind::Denied { .. } => "denied",
            EventKind::Reloaded { .. } => "reloaded",
            EventKind::RolledBack { .. } => "rolled-back",
            EventKind::Corrupt { .. } => "corrupt",
            EventKind::Lost { .. } => "lost",
            EventKind::LimitReached { .. } => "limit",
            EventKind::Suppressed { .. } => "suppressed",
            EventKind::Fetch { .. } => "fetch",
            EventKind::CatalogLoaded { .. } => "catalog",
            EventKind::CatalogRejected { .. } => "catalog-rejected",
            EventKind::PackageInstalled { .. } => "installed",
            EventKind::PackageRejected { .. } => "rejected",
        }
    }

    /// The process concerned (0: none).
    pub fn pid(&self) -> u32 {
        match self {
            EventKind::Log { pid, .. }
            | EventKind::Spawned { pid, .. }
            | EventKind::Ended { pid, .. }
            | EventKind::Denied { pid, .. }
            | EventKind::Reloaded { pid, .. }
            | EventKind::RolledBack { pid, .. }
            | EventKind::LimitReached { pid, .. }
            | EventKind::Suppressed { pid, .. } => *pid,
            EventKind::Corrupt { .. }
            | EventKind::Lost { .. }
            | EventKind::Fetch { .. }
            | EventKind::CatalogLoaded { .. }
            | EventKind::CatalogRejected { .. }
            | EventKind::PackageInstalled { .. }
            | EventKind::PackageRejected { .. } => 0,
        }
    }

    /// One line of text after the kind.
    pub fn text(&self) -> String {
        match self {
            EventKind::Log { text, .. } => text.clone(),
            EventKind::Spawned { package, .. } => package.clone(),
            EventKind::Ended { exit, .. } => ProcState::Ended(exit.clone()).detail(),
            EventKind::Denied { hostcall, why, .. } => format!("{hostcall}: {why}"),
            EventKind::Reloaded { package, hash, .. } => format!("{package} sha256:{hash}"),
            EventKind::RolledBack {
                package,
                hash,
                reason,
                ..
            } => format!("{package} sha256:{hash}: the new module failed: {reason}"),
            EventKind::Corrupt { channel, what } => format!("chan {channel}: {what}"),
            EventKind::LimitReached { limit, value, .. } => {
                format!("refused: {limit} limit ({value}) reached")
            }
            EventKind::Suppressed {
                lines, per_second, ..
            } => format!("{lines} log lines suppressed (over {per_second} a second)"),
            EventKind::Lost { count } => {
                format!("{count} events dropped: this client read too slowly")
            }
            EventKind::Fetch { package, url, .. } if package.is_empty() => {
                format!("catalog from {url}")
            }
            EventKind::Fetch {
                package, size, url, ..
            } => format!("{package} ({size} bytes) from {url}"),
            EventKind::CatalogLoaded {
                version,
                packages,
                signer,
            } => format!(
                "version {version}, {packages} packages, signed by {}",
                &signer[..signer.len().min(16)]
            ),
            EventKind::CatalogRejected { reason } => reason.clone(),
            EventKind::PackageInstalled {
                package,
                hash,
                size,
            } => format!("{package} sha256:{} {size} bytes", &hash[..hash.len().min(16)]),
            EventKind::PackageRejected {
                package, reason, ..
            } => format!("{package}: {reason}"),
        }
    }
}

/// The board's framebuffer geometry, and part of its pixels
/// (`Framebuffer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FramebufferPart {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: u32,
    /// Pixel format (`tidemark_abi::display_format`).
    pub format: u32,
    /// Presents so far (`display_present`).
    pub presents: u64,
    /// The region that holds it (granted as `display`).
    pub region: u32,
    /// Where `pixels` starts in the framebuffer.
    pub offset: u32,
    /// The bytes asked for, as far as they exist and fit the link.
    pub pixels: Vec<u8>,
}

/// Bytes of a process's linear memory (`Peek`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Peeked {
    /// Whose.
    pub pid: u32,
    /// Bytes of linear memory the process has.
    pub size: u64,
    /// Where `bytes` starts.
    pub offset: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}
