//! `bus`: publish/subscribe with topic patterns (`sensors/*/temp`,
//! `logs/#`). What a connection may publish or subscribe to is its grant
//! (`pub:PATTERN`/`sub:PATTERN` items in its scope), fixed by init at spawn,
//! never by a topic's name. Messages go out on each subscriber's delivery
//! channel without parking: a subscriber whose channel is full misses the
//! message (counted for it and in the publish's answer), so a slow reader
//! costs only itself and the bus's memory stays bounded.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use tidemark_sdk::channel::{Channel, Writer};
use tidemark_sdk::service::Server;
use tidemark_sdk::svc::bus::{Answer, ConnStats, MAX_SUBSCRIPTIONS, MAX_TOPIC, Message, Request};
use tidemark_sdk::svc::pattern::{covers, matches, valid, valid_topic};
use tidemark_sdk::svc::{Reply, Service, SvcError};
use tidemark_sdk::{Error, info, warn};

tidemark_sdk::main!(run, classes: log, channel);

struct Peer {
    publish: Vec<String>,
    subscribe: Vec<String>,
    subscriptions: Vec<String>,
    deliver: Option<Writer>,
    published: u64,
    delivered: u64,
    dropped: u64,
}

fn run() -> Result<(), Error> {
    let (mut server, _) = Server::start(Service::Bus)?;
    let mut peers: Vec<Peer> = Vec::new();
    for c in &server.clients {
        let grants = |kind: &str| -> Vec<String> {
            c.conn
                .scope
                .split(',')
                .filter_map(|g| g.trim().strip_prefix(kind))
                .map(String::from)
                .collect()
        };
        let deliver = match c.conn.deliver.as_deref().map(|d| Channel::lookup(d).and_then(|ch| ch.writer())) {
            Some(Ok(w)) => Some(w),
            Some(Err(e)) => {
                warn!("bus: `{}` has no usable delivery channel: {e}", c.conn.client);
                None
            }
            None => None,
        };
        peers.push(Peer {
            publish: grants("pub:"),
            subscribe: grants("sub:"),
            subscriptions: Vec::new(),
            deliver,
            published: 0,
            delivered: 0,
            dropped: 0,
        });
    }
    info!("bus: ready, {} connections", server.clients.len());
    loop {
        let inc = server.next::<Request>()?;
        let reply = match inc.request {
            Err(e) => Err(e),
            Ok(req) => serve(&server, inc.client, &mut peers, req),
        };
        server.reply(inc.client, inc.id, &reply);
    }
}

fn serve(server: &Server, client: usize, peers: &mut [Peer], req: Request) -> Reply<Answer> {
    let held = |p: &Peer| {
        let mut h: Vec<String> = p.publish.iter().map(|g| format!("pub:{g}")).collect();
        h.extend(p.subscribe.iter().map(|g| format!("sub:{g}")));
        if h.is_empty() { String::from("nothing") } else { h.join(",") }
    };
    match req {
        Request::Publish { topic, payload } => {
            if topic.len() > MAX_TOPIC || !valid_topic(&topic) {
                return Err(SvcError::Invalid(format!("bad topic `{topic}` (levels of 1+ bytes, no wildcards, at most {MAX_TOPIC} bytes)")));
            }
            if !peers[client].publish.iter().any(|g| matches(g, &topic)) {
                return Err(server.deny(client, format!("publish `{topic}`"), held(&peers[client])));
            }
            peers[client].published += 1;
            let msg = Message { topic: topic.clone(), payload, from: server.clients[client].conn.client.clone() };
            let frame = tidemark_sdk::svc::encode(Service::Bus, 0, &msg);
            let (mut delivered, mut dropped) = (0, 0);
            for p in peers.iter_mut() {
                if !p.subscriptions.iter().any(|s| matches(s, &topic)) {
                    continue;
                }
                let Some(w) = &p.deliver else { continue };
                if w.try_write(&frame).is_ok() {
                    p.delivered += 1;
                    delivered += 1;
                } else {
                    p.dropped += 1;
                    dropped += 1;
                }
            }
            Ok(Answer::Published { delivered, dropped })
        }
        Request::Subscribe(pattern) => {
            if pattern.len() > MAX_TOPIC || !valid(&pattern) {
                return Err(SvcError::Invalid(format!("bad pattern `{pattern}`")));
            }
            let p = &mut peers[client];
            if !p.subscribe.iter().any(|g| covers(g, &pattern)) {
                let h = held(p);
                return Err(server.deny(client, format!("subscribe `{pattern}`"), h));
            }
            if p.deliver.is_none() {
                return Err(SvcError::Unavailable("this connection has no delivery channel".into()));
            }
            if !p.subscriptions.contains(&pattern) {
                if p.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                    return Err(SvcError::Limit { what: "subscriptions".into(), max: MAX_SUBSCRIPTIONS as u64 });
                }
                p.subscriptions.push(pattern);
            }
            Ok(Answer::Done)
        }
        Request::Unsubscribe(pattern) => {
            let p = &mut peers[client];
            let before = p.subscriptions.len();
            p.subscriptions.retain(|s| *s != pattern);
            if p.subscriptions.len() == before {
                return Err(SvcError::NotFound(format!("subscription `{pattern}`")));
            }
            Ok(Answer::Done)
        }
        Request::Stats => Ok(Answer::Stats(
            peers
                .iter()
                .zip(&server.clients)
                .map(|(p, c)| ConnStats {
                    client: c.conn.client.clone(),
                    subscriptions: p.subscriptions.clone(),
                    published: p.published,
                    delivered: p.delivered,
                    dropped: p.dropped,
                })
                .collect(),
        )),
    }
}
