//! The userland: init and the system services (vfs, bus, kv) as guests.
//!
//! A project opts in with `[services]` in `Tidemark.toml` (or a session
//! with `--services`); its guests then say which services they use and
//! what each may reach:
//!
//! ```toml
//! [services]
//! image = "rootfs"          # directory packed into vfs's read-only lower image
//! restart = { base_ms = 50, max_ms = 2000, budget = 5, window_ms = 30000 }
//!
//! [[guest]]
//! name = "app"
//! path = "app"
//! [guest.uses]
//! kv = { prefix = "app/" }                    # write = true by default
//! fs = { root = "/home/app", write = false }
//! bus = { publish = ["sensors/#"], subscribe = ["sensors/*/temp"] }
//! ```
//!
//! The workbench turns that into channels (one pair per client and
//! service, plus the monitor's own), a region holding the image, and a
//! boot plan; it spawns init holding all of them, and init hands each unit
//! exactly its share ([`plan`]).

pub mod config;
pub mod deploy;
pub mod image;
pub mod plan;

pub use config::{Userland, Uses};
