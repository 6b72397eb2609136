//! Calls to the system services over the monitor: a request frame sent as
//! the kernel on the monitor's connection (`SERVICE.monitor.req`), its
//! reply read back on `SERVICE.monitor.resp` by the kernel's own reader.
//! The same frames, header and ids a guest's SDK client uses.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_protocol::req;
use tidemark_svc::{MONITOR, RESTARTED_ID, Service, SvcError, channel_name};

use crate::client::{CallError, Client};
use crate::session::{Session, ShellError};

/// How long a command waits for a service's answer.
pub const WAIT: Duration = Duration::from_secs(5);

/// Where this session's request ids start: from the clock, so two shells
/// on one kernel do not take each other's replies for their own.
pub fn first_id() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.subsec_nanos() ^ t.as_secs() as u32) % (RESTARTED_ID / 2)
}

/// The error's name in `--json` output (`permission_denied`, ...).
pub fn error_code(e: &SvcError) -> &'static str {
    match e {
        SvcError::PermissionDenied { .. } => "permission_denied",
        SvcError::NotFound(_) => "not_found",
        SvcError::Exists(_) => "exists",
        SvcError::NotADirectory(_) => "not_a_directory",
        SvcError::IsADirectory(_) => "is_a_directory",
        SvcError::NotEmpty(_) => "not_empty",
        SvcError::Malformed(_) => "malformed",
        SvcError::Version { .. } => "version",
        SvcError::WrongService(_) => "wrong_service",
        SvcError::Limit { .. } => "limit",
        SvcError::Conflict => "conflict",
        SvcError::Restarted => "restarted",
        SvcError::Unavailable(_) => "unavailable",
        SvcError::Invalid(_) => "invalid",
    }
}

/// Sends `request` to `service` and waits for its answer.
pub fn call<Q: Serialize, A: DeserializeOwned>(s: &mut Session, service: Service, request: &Q) -> Result<A, ShellError> {
    let frame = tidemark_svc::encode(service, next_id(s), request);
    call_raw(s, service, frame)
}

fn next_id(s: &mut Session) -> u32 {
    s.service_id = if s.service_id >= RESTARTED_ID - 1 { 1 } else { s.service_id + 1 };
    s.service_id
}

/// Sends a frame as it is (the id is its header's) and waits for the
/// reply with that id. Replies and notices already waiting are skipped.
pub fn call_raw<A: DeserializeOwned>(s: &mut Session, service: Service, frame: Vec<u8>) -> Result<A, ShellError> {
    let r = call_on(&mut s.client, service, MONITOR, frame);
    s.serve_fetches()?;
    r
}

/// [`call_raw`] on the connection of client `conn` (the monitor's, or the
/// screen's), over a bare client.
pub fn call_on<A: DeserializeOwned>(c: &mut Client, service: Service, conn: &str, frame: Vec<u8>) -> Result<A, ShellError> {
    let id = tidemark_svc::Header::split(&frame).map_or(0, |(h, _)| h.id);
    let (req_chan, resp_chan) = (channel_name(service, conn, "req"), channel_name(service, conn, "resp"));
    let missing = |e: CallError| match e {
        CallError::Kernel(k) if k.kind == tidemark_protocol::ErrorKind::NotFound => ShellError::Usage(format!(
            "no `{}` service on this kernel (boot with `--services`, or give the project `[services]`)",
            service.name()
        )),
        e => e.into(),
    };
    // Skip what is waiting: answers to earlier sessions, old notices.
    while !c.call(req::Tail { channel: resp_chan.as_str().into(), max: 256 }).map_err(missing)?.is_empty() {}
    c.call(req::Send { channel: req_chan.as_str().into(), data: frame }).map_err(missing)?;
    let until = Instant::now() + WAIT;
    loop {
        for f in c.call(req::Tail { channel: resp_chan.as_str().into(), max: 16 })? {
            let (got, reply) = tidemark_svc::decode_reply::<A>(service, &f.data);
            if got == RESTARTED_ID {
                return Err(ShellError::Service(service.name(), SvcError::Restarted));
            }
            if got == id {
                return reply.map_err(|e| ShellError::Service(service.name(), e));
            }
        }
        if Instant::now() >= until {
            return Err(ShellError::Service(
                service.name(),
                SvcError::Unavailable(format!("no answer in {} s (`svc ls` shows its state)", WAIT.as_secs())),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
