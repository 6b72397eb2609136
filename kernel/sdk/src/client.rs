//! One connection to a system service: the request/reply loop every
//! service client ([`kv`](crate::kv), [`fs`](crate::fs), [`bus`](crate::bus),
//! [`init`](crate::init)) is built on.

use alloc::vec;
use alloc::vec::Vec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_svc::{RESTARTED_ID, Service, SvcError};

use crate::channel::{Channel, Reader, Writer};

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The kernel refused a channel operation (the connection's capability
    /// was not granted, or was revoked).
    Kernel(crate::Error),
    /// The service answered with an error; [`SvcError::Restarted`] means
    /// it restarted under this call, and the next call reaches the new one.
    Service(SvcError),
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallError::Kernel(e) => write!(f, "{e}"),
            CallError::Service(e) => write!(f, "{e}"),
        }
    }
}

impl From<crate::Error> for CallError {
    fn from(e: crate::Error) -> Self {
        CallError::Kernel(e)
    }
}

/// A call's result.
pub type CallResult<T> = core::result::Result<T, CallError>;

/// A service answered with the wrong kind of answer (a protocol bug).
pub(crate) fn unexpected<A: core::fmt::Debug, T>(a: A) -> CallResult<T> {
    Err(CallError::Service(SvcError::Malformed(alloc::format!("unexpected answer {a:?}"))))
}

/// A connection: requests go out on `NAME.req`, replies come back on
/// `NAME.resp` (the capabilities init granted under those names).
pub struct Connection {
    service: Service,
    req: Writer,
    resp: Reader,
    next_id: u32,
    timeout_ns: u64,
    buf: Vec<u8>,
}

/// How long a call waits for its reply by default.
pub const TIMEOUT_NS: u64 = 5_000_000_000;

impl Connection {
    /// Connects to `service` through the capabilities granted as `name`.
    /// A call's timeout needs a clock: a guest without the `time` class is
    /// refused here (`PermissionDenied`, logged), not left to hang later.
    pub fn open(service: Service, name: &str) -> CallResult<Connection> {
        if let Err(e) = crate::time::try_now() {
            crate::log::write(
                crate::Level::Error,
                format_args!("a {} client needs the `time` class for its timeouts (`main!(.., classes: .., time)`)", service.name()),
            );
            return Err(e.into());
        }
        let mut cap = alloc::string::String::from(name);
        cap.push_str(".req");
        let req = Channel::lookup(&cap)?.writer()?;
        cap.truncate(name.len());
        cap.push_str(".resp");
        let resp = Channel::lookup(&cap)?.reader()?;
        Ok(Connection {
            service,
            req,
            resp,
            next_id: 1,
            timeout_ns: TIMEOUT_NS,
            buf: vec![0; tidemark_svc::MAX_FRAME],
        })
    }

    /// Sets how long a call waits for its reply before it fails with
    /// `Unavailable` (a service that is down, stopped or out of restarts
    /// never answers; its client must not wait forever).
    pub fn set_timeout(&mut self, nanos: u64) {
        self.timeout_ns = nanos;
    }

    /// Sends `req` and waits for its reply. Replies to earlier calls and
    /// restart notices that came before this call are skipped; a restart
    /// notice that comes while it waits ends it with `Restarted`, and no
    /// reply within the timeout with `Unavailable`.
    pub fn call<Q: Serialize, A: DeserializeOwned>(&mut self, req: &Q) -> CallResult<A> {
        while self.resp.try_read(&mut self.buf).is_ok() {}
        let id = self.next_id;
        self.next_id = if id >= RESTARTED_ID - 1 { 1 } else { id + 1 };
        let frame = tidemark_svc::encode(self.service, id, req);
        if frame.len() > tidemark_svc::MAX_FRAME {
            return Err(CallError::Service(SvcError::Limit {
                what: "request frame bytes".into(),
                max: tidemark_svc::MAX_FRAME as u64,
            }));
        }
        self.req.write(&frame)?;
        let deadline = crate::time::try_now()?.saturating_add(self.timeout_ns);
        loop {
            match crate::channel::select(&[&self.resp], Some(deadline)) {
                Ok(_) => {}
                Err(crate::Error::Empty) => {
                    let why = alloc::format!("{} did not answer in {} ms", self.service.name(), self.timeout_ns / 1_000_000);
                    return Err(CallError::Service(SvcError::Unavailable(why)));
                }
                Err(e) => return Err(e.into()),
            }
            let f = match self.resp.try_read(&mut self.buf) {
                Ok(f) => f,
                Err(crate::Error::Empty) => continue,
                Err(e) => return Err(e.into()),
            };
            let (got, reply) = tidemark_svc::decode_reply::<A>(self.service, &self.buf[..f.len as usize]);
            if got == RESTARTED_ID {
                return Err(CallError::Service(SvcError::Restarted));
            }
            if got == id {
                return reply.map_err(CallError::Service);
            }
        }
    }

    /// The reply channel's reader (to wait on it with others).
    pub fn reader(&self) -> &Reader {
        &self.resp
    }
}
