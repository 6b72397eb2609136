//! The bus's requests and answers. A subscriber's messages arrive on its
//! connection's delivery channel as [`Message`] frames (header id 0).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Longest topic or pattern, in bytes.
pub const MAX_TOPIC: usize = 128;
/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 16;

/// A request to the bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Publishes `payload` on `topic` (no wildcards).
    Publish {
        /// The topic.
        topic: String,
        /// The bytes.
        payload: Vec<u8>,
    },
    /// Subscribes this connection to a pattern.
    Subscribe(String),
    /// Drops a subscription.
    Unsubscribe(String),
    /// Counts per connection.
    Stats,
}

/// An answer from the bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A publish: how many subscribers got it, and how many had no room
    /// (their delivery channel was full and drops; counted there too).
    Published {
        /// Deliveries made.
        delivered: u32,
        /// Deliveries dropped.
        dropped: u32,
    },
    /// Done.
    Done,
    /// Per connection: name, subscriptions, published, delivered, dropped.
    Stats(Vec<ConnStats>),
}

/// What the bus counts for one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConnStats {
    /// The client's name.
    pub client: String,
    /// Its subscriptions.
    pub subscriptions: Vec<String>,
    /// Messages it published.
    pub published: u64,
    /// Messages delivered to it.
    pub delivered: u64,
    /// Messages it missed because its delivery channel was full.
    pub dropped: u64,
}

/// A delivered message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Message {
    /// The topic it was published on.
    pub topic: String,
    /// The bytes.
    pub payload: Vec<u8>,
    /// Who published it (the publisher's connection name).
    pub from: String,
}
