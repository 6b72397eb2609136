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
//! * [`dump`]: the kernel's whole state as one value, and its file.
//! * [`record`]: one process's hostcalls, to replay it alone.
//!
//! `no_std + alloc`.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod dump;
pub mod endpoints;
pub mod error;
pub mod frame;
pub mod names;
pub mod record;
pub mod types;

pub use dump::{
    DUMP_VERSION, FileError, GuestMemory, KernelDump, MEMORY_PAGE, MemoryPage, ProcessCaps, dump_from_bytes, dump_into, dump_to_bytes};
pub use record::{
    Call, CallSite, RECORD_VERSION, Recording, ReplayEnd, ReplayReport, Returned, Written,
    recording_from_bytes, recording_to_bytes,
};
pub use endpoints::{Endpoint, GrantSpec, Request, Response, req};
pub use error::{ErrorKind, ErrorReply};
pub use frame::{Body, DecodeError, Decoder, Frame, encode};
pub use names::{ChanRef, ObjectRef, ProcRef};
pub use types::*;

/// Protocol version; a peer with another version is refused on `Hello`.
/// 2: typed endpoints, enums on the wire, names or ids in requests.
/// 3: limits and quotas (`suppressed` events), who holds a channel back.
/// 4: a bare-metal board's RAM budget and link statistics in `info`.
/// 5: packages on demand: trusted keys, a signed catalog, fetches, a lock.
/// 6: a process parked in `chan_select` (`Wait::Select`).
/// 7: single-party channels.
/// 8: `Dump`; when a process entered its state; why a hostcall was denied;
///    recorded spawns and `Recording`.
/// 9: the board's framebuffer (`Framebuffer`, `ObjectRef::Display`); a
///    panic on purpose (`Panic`); guest memories (`Dump { memories }`,
///    `Peek`).
pub const PROTOCOL_VERSION: u16 = 9;

/// Largest package catalog a kernel keeps (about 8,000 records); fetchers
/// read no more.
pub const MAX_CATALOG: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use tidemark_abi::{Backpressure, Classes, Rights};

    fn round_trip(r: Request) {
        let bytes = encode(7, &Body::Request(r.clone()));
        let mut d = Decoder::new();
        d.push(&bytes);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!((f.id, f.body), (7, Body::Request(r)));
    }

    #[test]
    fn requests_and_replies_round_trip_and_name_their_reply() {
        round_trip(
            req::Spawn {
                package: "counter".into(),
                name: Some("c".into()),
                args: vec![1, 2],
                grants: vec![GrantSpec {
                    name: "req".into(),
                    object: ObjectRef::Channel("req".into()),
                    rights: Rights::READ,
                }],
                memory_limit: Some(1 << 20),
                record: true,
            }
            .into(),
        );
        round_trip(
            req::Reload {
                process: ProcRef::Name("svc".into()),
                package: "svc".into(),
            }
            .into(),
        );
        round_trip(
            req::CreateChannel {
                name: "c".into(),
                data_bytes: 64,
                frames: 4,
                backpressure: Backpressure::Drop,
                single: true,
            }
            .into(),
        );
        round_trip(
            req::Snapshot {
                caps_of: Some(3.into()),
                events_after: 9,
            }
            .into(),
        );
        // Each endpoint takes its own reply and hands any other back.
        assert_eq!(<req::Kill as Endpoint>::reply(Response::Kill(4)), Ok(4));
        assert!(matches!(
            <req::Kill as Endpoint>::reply(Response::Spawn(4)),
            Err(Response::Spawn(4))
        ));
        let e = Response::Error(ErrorReply::not_found("no process 9"));
        assert_eq!(<req::Ps as Endpoint>::reply(e.clone()), Err(e));
        assert_eq!(Request::from(req::Ps {}).name(), "Ps");
    }

    #[test]
    fn states_and_events_read_the_same_everywhere() {
        let trapped = ProcState::Ended(Exit::Trap(Trap {
            reason: "wasm `unreachable` instruction executed".into(),
            at: Some("func 0 at 0x29".into()),
            backtrace: Some("...".into()),
        }));
        assert_eq!(
            (trapped.name(), trapped.detail().as_str()),
            (
                "trapped",
                "wasm `unreachable` instruction executed in func 0 at 0x29"
            )
        );
        assert_eq!(ProcState::Blocked(Wait::Yield).name(), "running");
        assert_eq!(
            ProcState::Blocked(Wait::Writable(3)).detail(),
            "write chan 3"
        );
        let k = EventKind::RolledBack {
            pid: 1,
            package: "svc".into(),
            hash: "ab".into(),
            reason: "trapped: x".into(),
        };
        assert_eq!(
            (k.name(), k.pid(), k.text().as_str()),
            (
                "rolled-back",
                1,
                "svc sha256:ab: the new module failed: trapped: x"
            )
        );
        // Bit sets are integers on the wire (postcard is not human-readable).
        let bytes = postcard::to_allocvec(&(Rights(0b101), Classes::ALL)).unwrap();
        assert_eq!(
            postcard::from_bytes::<(Rights, Classes)>(&bytes).unwrap(),
            (Rights(0b101), Classes::ALL)
        );
    }
}
