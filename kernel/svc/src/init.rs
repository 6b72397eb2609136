//! The supervisor: its boot plan (the spawn arguments the workbench gives
//! it) and its control requests.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// What init starts, in order of need (init sorts by `after`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Services and guests.
    pub units: Vec<Unit>,
    /// Restart policy for services.
    pub restart: RestartPolicy,
}

/// One thing init runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Its name (unique in the plan).
    pub name: String,
    /// The package it runs.
    pub package: String,
    /// Started after these units (by name) are running.
    pub after: Vec<String>,
    /// Whether init restarts it when it ends (services do; guests do not).
    pub restart: bool,
    /// The protocol a service speaks (its restart notices are of it).
    pub service: Option<crate::Service>,
    /// Capabilities init holds that it hands this unit.
    pub grants: Vec<Grant>,
    /// Channels (in init's table, each held writable) init writes a
    /// restart notice on when this unit restarts: its clients' reply
    /// channels, so a waiting client hears of it.
    pub notify: Vec<String>,
    /// Its spawn arguments: a guest's as they are; a service's
    /// [`ServiceArgs`], which init wraps in a [`Start`].
    pub args: Vec<u8>,
}

/// One capability handed to a unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The capability's name in init's table.
    pub cap: String,
    /// Rights bits the unit's copy keeps.
    pub rights: u32,
    /// The name the unit looks it up by.
    pub name: String,
}

/// How crashed services come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// First delay, in ms; doubled per restart, up to `max_ms`.
    pub base_ms: u32,
    /// Longest delay.
    pub max_ms: u32,
    /// Restarts allowed per window before the service is marked failed.
    pub budget: u32,
    /// The window, in ms.
    pub window_ms: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            base_ms: 50,
            max_ms: 2_000,
            budget: 5,
            window_ms: 30_000,
        }
    }
}

/// A control request to init.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Every unit's state.
    List,
    /// Restarts a unit now (resets a failed one's budget).
    Restart(String),
    /// Stops a unit; it stays stopped until restarted.
    Stop(String),
}

/// A unit's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not started yet: waits for what it comes after.
    Waiting,
    /// Running.
    Running,
    /// Ended; restarts after a delay.
    Backoff,
    /// Out of restarts (or could not start): stays down.
    Failed,
    /// Stopped by request.
    Stopped,
    /// Ended and not restarted (a guest).
    Exited,
}

impl State {
    /// The word tables show.
    pub fn word(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Backoff => "backoff",
            State::Failed => "failed",
            State::Stopped => "stopped",
            State::Exited => "exited",
        }
    }
}

/// What init reports of a unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitInfo {
    /// Its name.
    pub name: String,
    /// Its package.
    pub package: String,
    /// Its state.
    pub state: State,
    /// Its pid while it runs.
    pub pid: Option<u32>,
    /// Restarts so far.
    pub restarts: u32,
    /// How it last ended, or why it could not start.
    pub last_error: Option<String>,
    /// What it comes after.
    pub after: Vec<String>,
}

/// An answer from init.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Every unit.
    Units(Vec<UnitInfo>),
    /// Done.
    Done,
}

/// A service's spawn arguments as init gives them: how many times it was
/// restarted, and its [`ServiceArgs`], encoded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// Restarts so far (0 at the first start).
    pub restarts: u32,
    /// The encoded [`ServiceArgs`].
    pub args: Vec<u8>,
}

/// What every service is told at spawn (its arguments): the connections
/// it serves and, for each, what it may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceArgs {
    /// Its connections.
    pub conns: Vec<Conn>,
    /// Service-specific settings (vfs: the image region; kv: its file).
    pub settings: Vec<(String, String)>,
}

impl ServiceArgs {
    /// A setting's value.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// One connection a service serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conn {
    /// The client's name (for errors and stats).
    pub client: String,
    /// The capability (in the service's table) requests arrive on.
    pub req: String,
    /// The capability replies go out on.
    pub resp: String,
    /// What it may reach: vfs a directory, kv a key prefix, bus patterns
    /// (`pub:PATTERN` and `sub:PATTERN`, comma-separated).
    pub scope: String,
    /// Whether it may change things (vfs and kv); the bus reads its
    /// rights from `scope`.
    pub write: bool,
    /// The bus: where this connection's messages are delivered.
    pub deliver: Option<String>,
}
