//! The serving side of a system service: the connections init gave it,
//! waited on together, with every frame decoded or answered with why not.
//!
//! A service never waits on one client: replies go out without parking (a
//! client that does not read its replies loses them, counted), and each
//! wait covers every connection, taken in turn so none starves the rest.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_svc::init::{Conn, ServiceArgs, Start};
use tidemark_svc::{Reply, Service, SvcError};

use crate::channel::{self, Channel, Reader, Writer};
use crate::{Level, Result};

/// One connection being served.
pub struct Client {
    /// What init said of it.
    pub conn: Conn,
    req: Reader,
    resp: Writer,
    /// Replies lost because the client's reply channel was full.
    pub dropped: u64,
}

/// A service's connections.
pub struct Server {
    service: Service,
    /// The connections, in the order init listed them.
    pub clients: Vec<Client>,
    next: usize,
    buf: Vec<u8>,
}

/// A request taken from a connection.
pub struct Incoming<R> {
    /// Which connection (an index into [`Server::clients`]).
    pub client: usize,
    /// Its id, for the reply.
    pub id: u32,
    /// The request, or why it could not be read (answer that).
    pub request: Reply<R>,
}

impl Server {
    /// Reads this process's arguments (init's [`Start`]) and attaches to
    /// every connection. A reader that attaches where the last one left
    /// (the ring keeps the resting cursor), so a restarted service serves
    /// the requests its predecessor had not read, and none it had.
    pub fn start(service: Service) -> Result<(Server, ServiceArgs)> {
        let mut buf = vec![0u8; 16 * 1024];
        let bad = |what: &str| {
            crate::log::write(Level::Error, format_args!("{}: {what} cannot be read", service.name()));
            crate::Error::InvalidArgument
        };
        let start: Start = postcard::from_bytes(crate::process::args(&mut buf)).map_err(|_| bad("init's start record"))?;
        let args: ServiceArgs = postcard::from_bytes(&start.args).map_err(|_| bad("the service's arguments"))?;
        if start.restarts > 0 {
            crate::log::write(Level::Info, format_args!("{}: restart {}", service.name(), start.restarts));
        }
        let mut clients = Vec::new();
        for conn in &args.conns {
            let req = Channel::lookup(&conn.req)?.reader()?;
            let resp = Channel::lookup(&conn.resp)?.writer()?;
            clients.push(Client { conn: conn.clone(), req, resp, dropped: 0 });
        }
        buf.resize(tidemark_svc::MAX_FRAME, 0);
        Ok((Server { service, clients, next: 0, buf }, args))
    }

    /// Waits for the next request on any connection.
    pub fn next<R: DeserializeOwned>(&mut self) -> Result<Incoming<R>> {
        if self.clients.is_empty() {
            // Nothing to serve: sleep rather than spin.
            loop {
                let _ = crate::time::sleep(u64::MAX / 2);
            }
        }
        loop {
            // Start the look after the last connection served.
            let n = self.clients.len();
            let order: Vec<usize> = (0..n).map(|i| (self.next + i) % n).collect();
            for &i in &order {
                match self.clients[i].req.try_read(&mut self.buf) {
                    Ok(f) => {
                        self.next = (i + 1) % n;
                        let (id, request) = tidemark_svc::decode::<R>(self.service, &self.buf[..f.len as usize]);
                        return Ok(Incoming { client: i, id, request });
                    }
                    Err(crate::Error::TooLarge) => {
                        let _ = self.clients[i].req.drain();
                        self.next = (i + 1) % n;
                        let why = SvcError::Limit { what: "request frame bytes".into(), max: tidemark_svc::MAX_FRAME as u64 };
                        return Ok(Incoming { client: i, id: 0, request: Err(why) });
                    }
                    Err(_) => {}
                }
            }
            let readers: Vec<&Reader> = order.iter().map(|&i| &self.clients[i].req).collect();
            channel::select(&readers, None)?;
        }
    }

    /// Answers request `id` on connection `client`; a full reply channel
    /// loses the reply (counted in [`Client::dropped`]).
    pub fn reply<A: Serialize>(&mut self, client: usize, id: u32, reply: &Reply<A>) {
        let frame = tidemark_svc::encode(self.service, id, reply);
        let c = &mut self.clients[client];
        if c.resp.try_write(&frame).is_err() {
            c.dropped += 1;
        }
    }

    /// Logs a refusal (a `warn` event naming who asked for what, and what
    /// the connection holds) and returns the error to answer with.
    pub fn deny(&self, client: usize, what: String, held: String) -> SvcError {
        crate::log::write(
            Level::Warn,
            format_args!(
                "{}: permission denied to `{}`: {what} (holds {held})",
                self.service.name(),
                self.clients[client].conn.client
            ),
        );
        SvcError::PermissionDenied { what, held }
    }
}
