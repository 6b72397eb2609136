//! The overlay: a read-only lower map and a writable upper map of paths
//! (from the root, no leading `/`; "" is the root). An upper entry of
//! `None` is a whiteout: the lower entry under it is gone from the view.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use tidemark_sdk::svc::fs::image::{self, ImageEntry};
use tidemark_sdk::svc::fs::{Change, ChangeKind, Entry, Kind, Layer};
use tidemark_sdk::svc::{Reply, SvcError};

#[derive(Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
}

impl Node {
    fn kind(&self) -> Kind {
        match self {
            Node::File(_) => Kind::File,
            Node::Dir => Kind::Dir,
        }
    }
}

pub struct Tree {
    lower: BTreeMap<String, Node>,
    upper: BTreeMap<String, Option<Node>>,
    image: Vec<u8>,
    /// Bytes of files in the upper layer, and the most allowed.
    upper_bytes: u64,
    limit: u64,
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

fn leaf(p: &str) -> &str {
    p.rsplit_once('/').map_or(p, |(_, n)| n)
}

fn shown(p: &str) -> String {
    format!("/{p}")
}

impl Tree {
    pub fn new(limit: u64) -> Tree {
        Tree {
            lower: BTreeMap::new(),
            upper: BTreeMap::new(),
            image: image::encode(&[]),
            upper_bytes: 0,
            limit,
        }
    }

    pub fn boot(&mut self, entries: Vec<ImageEntry>, bytes: Vec<u8>) {
        for e in entries {
            // Parents an image leaves out are made.
            self.ensure_lower_dir(parent(&e.path));
            let node = match e.kind {
                Kind::File => Node::File(e.data),
                Kind::Dir => Node::Dir,
            };
            self.lower.insert(e.path, node);
        }
        self.image = bytes;
    }

    /// Makes directory `p` and its parents in the lower layer.
    pub fn ensure_lower_dir(&mut self, p: &str) {
        let mut d = p;
        while !d.is_empty() {
            self.lower.entry(d.into()).or_insert(Node::Dir);
            d = parent(d);
        }
    }

    fn get(&self, p: &str) -> Option<(&Node, Layer)> {
        if p.is_empty() {
            return Some((&Node::Dir, Layer::Lower));
        }
        match self.upper.get(p) {
            Some(Some(n)) => Some((n, Layer::Upper)),
            Some(None) => None,
            None => self.lower.get(p).map(|n| (n, Layer::Lower)),
        }
    }

    fn entry(&self, p: &str) -> Reply<Entry> {
        let (n, layer) = self.get(p).ok_or_else(|| SvcError::NotFound(shown(p)))?;
        Ok(Entry {
            name: if p.is_empty() { "/".into() } else { leaf(p).into() },
            kind: n.kind(),
            size: match n {
                Node::File(b) => b.len() as u64,
                Node::Dir => 0,
            },
            layer,
        })
    }

    pub fn stat(&self, p: &str) -> Reply<Entry> {
        self.entry(p)
    }

    /// The names directly under directory `p` in the merged view.
    fn children(&self, p: &str) -> Vec<String> {
        let prefix = if p.is_empty() { String::new() } else { format!("{p}/") };
        let direct = |k: &&String| k.starts_with(prefix.as_str()) && !k[prefix.len()..].contains('/') && !k.is_empty();
        let mut names: Vec<String> = self
            .lower
            .keys()
            .filter(direct)
            .chain(self.upper.keys().filter(direct))
            .filter(|k| self.get(k).is_some())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn list(&self, p: &str) -> Reply<Vec<Entry>> {
        self.dir(p)?;
        self.children(p).iter().map(|c| self.entry(c)).collect()
    }

    fn dir(&self, p: &str) -> Reply<()> {
        match self.get(p) {
            Some((Node::Dir, _)) => Ok(()),
            Some(_) => Err(SvcError::NotADirectory(shown(p))),
            None => Err(SvcError::NotFound(shown(p))),
        }
    }

    fn set(&mut self, p: &str, n: Option<Node>) -> Reply<()> {
        let old = match self.upper.get(p) {
            Some(Some(Node::File(b))) => b.len() as u64,
            _ => 0,
        };
        let new = match &n {
            Some(Node::File(b)) => b.len() as u64,
            _ => 0,
        };
        let total = self.upper_bytes - old + new;
        if total > self.limit {
            return Err(SvcError::Limit { what: "file-system bytes written this session".into(), max: self.limit });
        }
        self.upper_bytes = total;
        // A whiteout over nothing in the image is just an absence.
        if n.is_none() && !self.lower.contains_key(p) {
            self.upper.remove(p);
        } else {
            self.upper.insert(p.into(), n);
        }
        Ok(())
    }

    pub fn mkdir(&mut self, p: &str) -> Reply<()> {
        if self.get(p).is_some() {
            return Err(SvcError::Exists(shown(p)));
        }
        self.dir(parent(p))?;
        self.set(p, Some(Node::Dir))
    }

    pub fn open(&mut self, p: &str, create: bool, truncate: bool) -> Reply<()> {
        match self.get(p) {
            Some((Node::Dir, _)) => Err(SvcError::IsADirectory(shown(p))),
            Some(_) if truncate => self.set(p, Some(Node::File(Vec::new()))),
            Some(_) => Ok(()),
            None if create => {
                self.dir(parent(p))?;
                self.set(p, Some(Node::File(Vec::new())))
            }
            None => Err(SvcError::NotFound(shown(p))),
        }
    }

    fn file(&self, p: &str) -> Reply<&Vec<u8>> {
        match self.get(p) {
            Some((Node::File(b), _)) => Ok(b),
            Some(_) => Err(SvcError::IsADirectory(shown(p))),
            None => Err(SvcError::NotFound(shown(p))),
        }
    }

    pub fn read(&self, p: &str, at: u64, len: u32) -> Reply<Vec<u8>> {
        let b = self.file(p)?;
        let start = at.min(b.len() as u64) as usize;
        let end = start.saturating_add(len as usize).min(b.len());
        Ok(b[start..end].to_vec())
    }

    /// Writes at `at`: a lower file is copied up first, an upper one is
    /// changed in place (an append costs what it adds, not the file).
    pub fn write(&mut self, p: &str, at: u64, data: &[u8]) -> Reply<u32> {
        let old = self.file(p)?.len() as u64;
        let end = at.checked_add(data.len() as u64).filter(|e| *e <= self.limit).ok_or(SvcError::Limit {
            what: "file bytes".into(),
            max: self.limit,
        })?;
        if !matches!(self.upper.get(p), Some(Some(Node::File(_)))) {
            let copy = self.file(p)?.clone();
            self.set(p, Some(Node::File(copy)))?;
        }
        let total = self.upper_bytes + end.saturating_sub(old);
        if total > self.limit {
            return Err(SvcError::Limit { what: "file-system bytes written this session".into(), max: self.limit });
        }
        let Some(Some(Node::File(b))) = self.upper.get_mut(p) else {
            unreachable!("copied up above");
        };
        let (at, end) = (at as usize, end as usize);
        if b.len() < end {
            b.resize(end, 0);
        }
        b[at..end].copy_from_slice(data);
        self.upper_bytes = total;
        Ok(data.len() as u32)
    }

    pub fn truncate(&mut self, p: &str, len: u64) -> Reply<()> {
        let mut b = self.file(p)?.clone();
        if len > self.limit {
            return Err(SvcError::Limit { what: "file bytes".into(), max: self.limit });
        }
        b.resize(len as usize, 0);
        self.set(p, Some(Node::File(b)))
    }

    pub fn remove(&mut self, p: &str) -> Reply<()> {
        if p.is_empty() {
            return Err(SvcError::Invalid("the root cannot be removed".into()));
        }
        match self.get(p) {
            None => return Err(SvcError::NotFound(shown(p))),
            Some((Node::Dir, _)) if !self.children(p).is_empty() => return Err(SvcError::NotEmpty(shown(p))),
            Some(_) => {}
        }
        self.set(p, None)
    }

    /// Moves `from` (and all under it) to `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> Reply<()> {
        if from.is_empty() || to == from || to.starts_with(&format!("{from}/")) || (!from.is_empty() && to.is_empty()) {
            return Err(SvcError::Invalid(format!("cannot move {} to {}", shown(from), shown(to))));
        }
        self.get(from).ok_or_else(|| SvcError::NotFound(shown(from)))?;
        if self.get(to).is_some() {
            return Err(SvcError::Exists(shown(to)));
        }
        self.dir(parent(to))?;
        // Every path at or under `from`, deepest last, copied to `to`.
        let mut moved = Vec::new();
        let mut stack = alloc::vec![String::from(from)];
        while let Some(p) = stack.pop() {
            let (n, _) = self.get(&p).expect("listed");
            moved.push((p.clone(), n.clone()));
            if matches!(n, Node::Dir) {
                stack.extend(self.children(&p));
            }
        }
        for (p, n) in &moved {
            let dest = format!("{to}{}", &p[from.len()..]);
            self.set(&dest, Some(n.clone()))?;
        }
        for (p, _) in moved.iter().rev() {
            self.set(p, None)?;
        }
        Ok(())
    }

    pub fn diff(&self) -> Vec<Change> {
        let mut out = Vec::new();
        for (p, n) in &self.upper {
            let lower = self.lower.get(p);
            let kind = match (n, lower) {
                (Some(n), Some(l)) if n == l => continue,
                (Some(_), Some(_)) => ChangeKind::Modified,
                (Some(_), None) => ChangeKind::Added,
                (None, Some(_)) => ChangeKind::Removed,
                (None, None) => continue,
            };
            let entry = n.as_ref().or(lower).map_or(Kind::File, Node::kind);
            out.push(Change { path: shown(p), kind, entry });
        }
        out
    }

    pub fn discard(&mut self) -> u32 {
        let n = self.diff().len() as u32;
        self.upper.clear();
        self.upper_bytes = 0;
        n
    }

    pub fn commit(&mut self) -> (u64, u32) {
        let changes = self.diff().len() as u32;
        for (p, n) in core::mem::take(&mut self.upper) {
            match n {
                Some(n) => {
                    self.lower.insert(p, n);
                }
                None => {
                    self.lower.remove(&p);
                }
            }
        }
        self.upper_bytes = 0;
        let entries: Vec<ImageEntry> = self
            .lower
            .iter()
            .map(|(p, n)| ImageEntry {
                path: p.clone(),
                kind: n.kind(),
                data: match n {
                    Node::File(b) => b.clone(),
                    Node::Dir => Vec::new(),
                },
            })
            .collect();
        self.image = image::encode(&entries);
        (self.image.len() as u64, changes)
    }

    pub fn image(&self) -> &[u8] {
        &self.image
    }
}
