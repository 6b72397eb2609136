//! `kv`: the key-value store. Keys live in memory and in an append-only
//! log kept in vfs (`kv.log` in the directory kv's own vfs connection was
//! given), replayed at start, so a restarted kv has its data back; the log
//! is rewritten compactly when it grows past twice what it holds.
//!
//! Each connection reaches the keys under its scope (a prefix; "" for all)
//! and may change them only if its grant says `write`.
#![no_std]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use tidemark_sdk::fs::Fs;
use tidemark_sdk::service::Server;
use tidemark_sdk::svc::kv::{Answer, MAX_KEY, MAX_VALUE, Request};
use tidemark_sdk::svc::{Reply, Service, SvcError, postcard};
use tidemark_sdk::{Error, info, warn};

tidemark_sdk::main!(run, classes: log, channel, time);

/// Most keys the store holds.
const MAX_KEYS: usize = 4096;
const LOG: &str = "kv.log";

/// One log record: a set (`Some`) or a delete.
type Record = (String, Option<Vec<u8>>);

struct Store {
    map: BTreeMap<String, Vec<u8>>,
    bytes: u64,
    fs: Option<Fs>,
    logged: u64,
    saves: u64,
}

impl Store {
    fn load(fs: Option<Fs>) -> Store {
        let mut s = Store { map: BTreeMap::new(), bytes: 0, fs, logged: 0, saves: 0 };
        let Some(fs) = s.fs.as_mut() else { return s };
        let log = match fs.read(LOG) {
            Ok(b) => b,
            Err(e) => {
                info!("kv: no log yet ({e}); starting empty");
                return s;
            }
        };
        s.logged = log.len() as u64;
        let mut rest = &log[..];
        let mut records = 0;
        while rest.len() >= 4 {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let Some(body) = rest.get(4..4 + len) else {
                warn!("kv: log cut short after {records} records; the rest is ignored");
                break;
            };
            match postcard::from_bytes::<Record>(body) {
                Ok((k, v)) => s.apply(k, v),
                Err(_) => {
                    warn!("kv: bad log record {records}; the rest is ignored");
                    break;
                }
            }
            records += 1;
            rest = &rest[4 + len..];
        }
        info!("kv: {} keys restored from {records} log records", s.map.len());
        s
    }

    fn apply(&mut self, k: String, v: Option<Vec<u8>>) {
        if let Some(old) = self.map.remove(&k) {
            self.bytes -= (k.len() + old.len()) as u64;
        }
        if let Some(v) = v {
            self.bytes += (k.len() + v.len()) as u64;
            self.map.insert(k, v);
        }
    }

    /// Applies and logs a change; the change stands only if the log took it.
    fn change(&mut self, k: String, v: Option<Vec<u8>>) -> Reply<()> {
        if v.is_some() && !self.map.contains_key(&k) && self.map.len() >= MAX_KEYS {
            return Err(SvcError::Limit { what: "keys".into(), max: MAX_KEYS as u64 });
        }
        if let Some(fs) = self.fs.as_mut() {
            let mut frame = Vec::new();
            record(&mut frame, &k, v.as_deref());
            fs.append(LOG, &frame).map_err(|e| SvcError::Unavailable(format!("vfs: {e}")))?;
            self.logged += frame.len() as u64;
        }
        self.apply(k, v);
        if self.logged > 4096 && self.logged > 2 * (self.bytes + 8 * self.map.len() as u64) {
            self.compact();
        }
        Ok(())
    }

    fn compact(&mut self) {
        let Some(fs) = self.fs.as_mut() else { return };
        let mut out = Vec::new();
        for (k, v) in &self.map {
            record(&mut out, k, Some(v));
        }
        match fs.write(LOG, &out) {
            Ok(()) => {
                self.logged = out.len() as u64;
                self.saves += 1;
            }
            Err(e) => warn!("kv: compacting the log failed: {e}"),
        }
    }
}

/// Appends one log record: its length (`u32`), then `(key, value)` in
/// postcard (`None` for a delete).
fn record(out: &mut Vec<u8>, k: &str, v: Option<&[u8]>) {
    let body = postcard::to_allocvec(&(k, v)).unwrap_or_default();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
}

fn run() -> Result<(), Error> {
    let (mut server, args) = Server::start(Service::Kv)?;
    let fs = match args.setting("fs") {
        Some(name) => match Fs::connect_as(name) {
            Ok(fs) => Some(fs),
            Err(e) => {
                warn!("kv: cannot reach vfs ({e}); keys will not survive a restart");
                None
            }
        },
        None => None,
    };
    let mut store = Store::load(fs);
    info!("kv: ready, {} connections", server.clients.len());
    loop {
        let inc = server.next::<Request>()?;
        let reply = match inc.request {
            Err(e) => Err(e),
            Ok(req) => serve(&mut server, inc.client, &mut store, req),
        };
        server.reply(inc.client, inc.id, &reply);
    }
}

fn serve(server: &mut Server, client: usize, store: &mut Store, req: Request) -> Reply<Answer> {
    let conn = &server.clients[client].conn;
    let (scope, write) = (conn.scope.clone(), conn.write);
    let held = || format!("keys `{scope}*` {}", if write { "read-write" } else { "read-only" });
    let check = |server: &Server, key: &str, change: bool| -> Reply<()> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(SvcError::Invalid(format!("a key is 1 to {MAX_KEY} bytes")));
        }
        if !key.starts_with(scope.as_str()) || (change && !write) {
            let what = format!("{} key `{key}`", if change { "change" } else { "read" });
            return Err(server.deny(client, what, held()));
        }
        Ok(())
    };
    match req {
        Request::Get(k) => {
            check(server, &k, false)?;
            Ok(Answer::Value(store.map.get(&k).cloned()))
        }
        Request::Set(k, v) => {
            check(server, &k, true)?;
            if v.len() > MAX_VALUE {
                return Err(SvcError::Limit { what: "value bytes".into(), max: MAX_VALUE as u64 });
            }
            store.change(k, Some(v)).map(|_| Answer::Done)
        }
        Request::Delete(k) => {
            check(server, &k, true)?;
            let existed = store.map.contains_key(&k);
            if existed {
                store.change(k, None)?;
            }
            Ok(Answer::Existed(existed))
        }
        Request::List { prefix, limit } => {
            if !prefix.starts_with(scope.as_str()) && !scope.starts_with(prefix.as_str()) {
                return Err(server.deny(client, format!("list keys `{prefix}*`"), held()));
            }
            let keys = store
                .map
                .range(prefix.clone()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(prefix.as_str()))
                .filter(|k| k.starts_with(scope.as_str()))
                .take(limit.clamp(1, 1024) as usize)
                .cloned()
                .collect();
            Ok(Answer::Keys(keys))
        }
        Request::Cas { key, expect, new } => {
            check(server, &key, true)?;
            if store.map.get(&key) != expect.as_ref() {
                return Err(SvcError::Conflict);
            }
            if new.as_ref().is_some_and(|v| v.len() > MAX_VALUE) {
                return Err(SvcError::Limit { what: "value bytes".into(), max: MAX_VALUE as u64 });
            }
            store.change(key, new).map(|_| Answer::Done)
        }
        Request::Stats => Ok(Answer::Stats {
            keys: store.map.len() as u64,
            bytes: store.bytes,
            saves: store.saves,
        }),
    }
}
