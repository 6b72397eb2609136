//! The live capability graph: who holds what, delegated from whom, with
//! what rights and how many frames moved along each edge since the last
//! look; its Graphviz form; and what changed between two looks.

use std::collections::BTreeMap;

use serde::Serialize;
use tidemark_abi::Rights;
use tidemark_protocol::{KernelDump, Object};

/// A holder's capability on an object: one edge.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Edge {
    /// Holder.
    pub pid: u32,
    /// Holder's name.
    pub process: String,
    /// Raw handle.
    pub handle: i32,
    /// The name the holder looks it up by.
    pub name: String,
    /// Object.
    pub object: Object,
    /// Rights.
    pub rights: Rights,
    /// Delegated from (pid, raw handle); `None`: granted by the kernel.
    pub from: Option<(u32, i32)>,
    /// Frames the holder wrote on it since the last look (`None` on the
    /// first look, or when it is not attached as a writer).
    pub written: Option<u64>,
    /// Frames it read since the last look (likewise).
    pub read: Option<u64>,
    /// Its writer's frame count and reader cursor now, to compare the next look with.
    #[serde(skip)]
    pub counts: (Option<u64>, Option<u32>),
}

/// An object in the graph.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Node {
    /// Object.
    pub object: Object,
    /// Channel name (`region N` for a region).
    pub name: String,
}

/// `caps graph`'s result.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CapGraph {
    /// Objects someone holds.
    pub objects: Vec<Node>,
    /// Every live process's capabilities.
    pub edges: Vec<Edge>,
}

impl CapGraph {
    /// The graph of `d`'s live processes; traffic counted against `last`.
    pub fn new(d: &KernelDump, last: Option<&CapGraph>) -> CapGraph {
        let names: BTreeMap<u32, &str> =
            d.channels.iter().map(|c| (c.id, c.name.as_str())).collect();
        let mut edges = Vec::new();
        for p in d.ps.iter().filter(|p| p.state.is_live()) {
            for c in d.caps_of(p.pid) {
                let chan = match c.object {
                    Object::Channel(id) => d.channels.iter().find(|x| x.id == id),
                    Object::Region(_) => None,
                };
                let written = chan.and_then(|ch| {
                    let w: Vec<u64> = ch
                        .writers
                        .iter()
                        .filter(|w| w.pid == p.pid)
                        .map(|w| u64::from(w.frames))
                        .collect();
                    (!w.is_empty()).then(|| w.iter().sum::<u64>())
                });
                let cursor =
                    chan.and_then(|ch| ch.readers.iter().find(|r| r.pid == p.pid).map(|r| r.seq));
                let before = last.and_then(|g| {
                    g.edges
                        .iter()
                        .find(|e| e.pid == p.pid && e.handle == c.handle && e.object == c.object)
                });
                let delta_w = match (written, before.map(|b| b.counts.0)) {
                    (Some(now), Some(Some(then))) => Some(now.saturating_sub(then)),
                    (Some(now), Some(None)) => Some(now),
                    _ => None,
                };
                let delta_r = match (cursor, before.map(|b| b.counts.1)) {
                    (Some(now), Some(Some(then))) => Some(u64::from(now.wrapping_sub(then))),
                    _ => None,
                };
                edges.push(Edge {
                    pid: p.pid,
                    process: p.name.clone(),
                    handle: c.handle,
                    name: c.name.clone(),
                    object: c.object,
                    rights: c.rights,
                    from: c.parent,
                    written: delta_w,
                    read: delta_r,
                    counts: (written, cursor),
                });
            }
        }
        let mut objects: Vec<Node> = edges
            .iter()
            .map(|e| Node {
                object: e.object,
                name: match e.object {
                    Object::Channel(id) => {
                        names.get(&id).map_or(format!("chan {id}"), |n| (*n).into())
                    }
                    Object::Region(id) => format!("region {id}"),
                },
            })
            .collect();
        objects.sort_by_key(|n| n.object);
        objects.dedup_by_key(|n| n.object);
        CapGraph { objects, edges }
    }

    /// The graph for Graphviz: processes as boxes, objects as ellipses,
    /// an edge per capability (rights and traffic) and a dashed edge per
    /// delegation.
    pub fn dot(&self) -> String {
        let mut out =
            String::from("digraph caps {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
        let mut procs: Vec<(u32, &str)> = self
            .edges
            .iter()
            .map(|e| (e.pid, e.process.as_str()))
            .collect();
        procs.dedup();
        for (pid, name) in procs {
            out.push_str(&format!(
                "  p{pid} [shape=box, label=\"{pid} {}\"];\n",
                escape(name)
            ));
        }
        for n in &self.objects {
            out.push_str(&format!(
                "  {} [shape=ellipse, label=\"{} {}\"];\n",
                node_id(n.object),
                n.object,
                escape(&n.name)
            ));
        }
        for e in &self.edges {
            let mut label = e.rights.to_string();
            if let Some(w) = e.written.filter(|w| *w > 0) {
                label.push_str(&format!(" +{w}w"));
            }
            if let Some(r) = e.read.filter(|r| *r > 0) {
                label.push_str(&format!(" +{r}r"));
            }
            out.push_str(&format!(
                "  p{} -> {} [label=\"{label}\"];\n",
                e.pid,
                node_id(e.object)
            ));
            if let Some((from, _)) = e.from {
                out.push_str(&format!(
                    "  p{from} -> p{} [style=dashed, label=\"{}\"];\n",
                    e.pid,
                    escape(&e.name)
                ));
            }
        }
        out.push_str("}\n");
        out
    }
}

fn node_id(o: Object) -> String {
    match o {
        Object::Channel(id) => format!("c{id}"),
        Object::Region(id) => format!("r{id}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// What changed for one capability between two looks.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum Change {
    /// A capability that was not there.
    Added {
        /// The edge now.
        edge: Edge,
    },
    /// A capability that is gone (revoked, dropped, or its holder ended).
    Removed {
        /// The edge then.
        edge: Edge,
    },
    /// The same handle with other rights or another object.
    Changed {
        /// Then.
        before: Edge,
        /// Now.
        after: Edge,
    },
}

/// The changes from `before` to `after`, by holder and handle.
pub fn diff(before: &CapGraph, after: &CapGraph) -> Vec<Change> {
    let key = |e: &Edge| (e.pid, e.handle);
    let then: BTreeMap<_, &Edge> = before.edges.iter().map(|e| (key(e), e)).collect();
    let now: BTreeMap<_, &Edge> = after.edges.iter().map(|e| (key(e), e)).collect();
    let mut out = Vec::new();
    for (k, e) in &now {
        match then.get(k) {
            None => out.push(Change::Added { edge: (*e).clone() }),
            Some(b)
                if (b.object, b.rights, &b.name, b.from)
                    != (e.object, e.rights, &e.name, e.from) =>
            {
                out.push(Change::Changed {
                    before: (*b).clone(),
                    after: (*e).clone(),
                })
            }
            Some(_) => {}
        }
    }
    for (k, e) in &then {
        if !now.contains_key(k) {
            out.push(Change::Removed { edge: (*e).clone() });
        }
    }
    out
}
