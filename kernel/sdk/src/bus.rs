//! The bus's client: publish, subscribe, and receive.

use alloc::vec;
use alloc::vec::Vec;
use tidemark_svc::bus::{Answer, Message, Request};
use tidemark_svc::Service;

use crate::channel::{Channel, Reader};
use crate::client::{CallResult, Connection, unexpected};

/// A connection to the bus, with its delivery channel.
pub struct Bus {
    conn: Connection,
    deliver: Reader,
    buf: Vec<u8>,
}


impl Bus {
    /// Connects through `bus.req`/`bus.resp`, with messages on `bus.deliver`.
    pub fn connect() -> CallResult<Bus> {
        Ok(Bus {
            conn: Connection::open(Service::Bus, "bus")?,
            deliver: Channel::lookup("bus.deliver")?.reader()?,
            buf: vec![0; tidemark_svc::MAX_FRAME],
        })
    }

    /// Sets how long a call waits for its reply (default 5 s).
    pub fn set_timeout(&mut self, nanos: u64) {
        self.conn.set_timeout(nanos);
    }

    /// Publishes; answers (delivered, dropped).
    pub fn publish(&mut self, topic: &str, payload: &[u8]) -> CallResult<(u32, u32)> {
        let req = Request::Publish { topic: topic.into(), payload: payload.into() };
        match self.conn.call(&req)? {
            Answer::Published { delivered, dropped } => Ok((delivered, dropped)),
            a => unexpected(a),
        }
    }

    /// Subscribes to a pattern (within what this connection was granted).
    pub fn subscribe(&mut self, pattern: &str) -> CallResult<()> {
        match self.conn.call(&Request::Subscribe(pattern.into()))? {
            Answer::Done => Ok(()),
            a => unexpected(a),
        }
    }

    /// Waits for the next message.
    pub fn recv(&mut self) -> CallResult<Message> {
        loop {
            let f = self.deliver.read(&mut self.buf)?;
            if let (_, Ok(m)) = tidemark_svc::decode::<Message>(Service::Bus, &self.buf[..f.len as usize]) {
                return Ok(m);
            }
        }
    }

    /// The delivery channel's reader (to wait on it with others).
    pub fn deliveries(&self) -> &Reader {
        &self.deliver
    }
}
