//! The key-value store's client.
//!
//! ```ignore
//! let mut kv = tidemark_sdk::kv::Kv::connect()?;
//! kv.set("greeting", b"hello")?;
//! assert_eq!(kv.get("greeting")?.as_deref(), Some(&b"hello"[..]));
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use tidemark_svc::kv::{Answer, Request};
use tidemark_svc::Service;

use crate::client::{CallResult, Connection, unexpected};

/// A connection to kv.
pub struct Kv(Connection);


impl Kv {
    /// Sets how long a call waits for its reply (default 5 s).
    pub fn set_timeout(&mut self, nanos: u64) {
        self.0.set_timeout(nanos);
    }

    /// Connects through the capabilities granted as `kv.req`/`kv.resp`.
    pub fn connect() -> CallResult<Kv> {
        Connection::open(Service::Kv, "kv").map(Kv)
    }

    /// A key's value.
    pub fn get(&mut self, key: &str) -> CallResult<Option<Vec<u8>>> {
        match self.0.call(&Request::Get(key.into()))? {
            Answer::Value(v) => Ok(v),
            a => unexpected(a),
        }
    }

    /// Sets a key.
    pub fn set(&mut self, key: &str, value: &[u8]) -> CallResult<()> {
        match self.0.call(&Request::Set(key.into(), value.into()))? {
            Answer::Done => Ok(()),
            a => unexpected(a),
        }
    }

    /// Deletes a key; whether it existed.
    pub fn delete(&mut self, key: &str) -> CallResult<bool> {
        match self.0.call(&Request::Delete(key.into()))? {
            Answer::Existed(e) => Ok(e),
            a => unexpected(a),
        }
    }

    /// Keys under `prefix`, in order.
    pub fn list(&mut self, prefix: &str, limit: u32) -> CallResult<Vec<String>> {
        match self.0.call(&Request::List { prefix: prefix.into(), limit })? {
            Answer::Keys(k) => Ok(k),
            a => unexpected(a),
        }
    }

    /// Sets `key` to `new` if it holds `expect`; `Conflict` otherwise.
    pub fn cas(&mut self, key: &str, expect: Option<&[u8]>, new: Option<&[u8]>) -> CallResult<()> {
        let req = Request::Cas {
            key: key.into(),
            expect: expect.map(Into::into),
            new: new.map(Into::into),
        };
        match self.0.call(&req)? {
            Answer::Done => Ok(()),
            a => unexpected(a),
        }
    }
}
