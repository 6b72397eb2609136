//! `vfs`: a RAM file system over a copy-on-write overlay. The lower layer
//! is a read-only image (booted from a shared-memory region init hands
//! over as `image`, in `tidemark_svc::fs::image`'s format); every change
//! lands in the upper layer, which `Diff` lists, `Discard` drops and
//! `Commit` folds into a new lower image.
//!
//! Each connection is rooted at a directory (its scope) and names nothing
//! above it; it may change things only if its grant says `write`.
#![no_std]

extern crate alloc;

mod tree;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use tidemark_sdk::service::Server;
use tidemark_sdk::shm::Region;
use tidemark_sdk::svc::fs::{Answer, MAX_HANDLES, MAX_IO, Request, image, valid_relative};
use tidemark_sdk::svc::{Reply, Service, SvcError};
use tidemark_sdk::{Error, info, warn};
use tree::Tree;

tidemark_sdk::main!(run, classes: log, channel, shm);

/// An open file: its path from the root and its position.
type Open = Option<(String, u64)>;

fn run() -> Result<(), Error> {
    let (mut server, args) = Server::start(Service::Fs)?;
    let limit = args.setting("max_bytes").and_then(|v| v.parse().ok()).unwrap_or(1 << 20);
    let mut tree = Tree::new(limit);
    if let Some(name) = args.setting("image") {
        match load_image(name) {
            Ok(bytes) => match image::decode(&bytes) {
                Ok(entries) => {
                    let n = entries.len();
                    tree.boot(entries, bytes);
                    info!("vfs: booted an image of {n} entries");
                }
                Err(e) => warn!("vfs: {e}; starting empty"),
            },
            Err(e) => warn!("vfs: cannot read the image region `{name}`: {e}; starting empty"),
        }
    }
    // A connection's root exists from the start (part of the image's view,
    // not a change of this session's).
    for c in &server.clients {
        tree.ensure_lower_dir(c.conn.scope.trim_matches('/'));
    }
    let mut handles: Vec<Vec<Open>> = server.clients.iter().map(|_| vec![None; MAX_HANDLES]).collect();
    info!("vfs: ready, {} connections", server.clients.len());
    loop {
        let inc = server.next::<Request>()?;
        let reply = match inc.request {
            Err(e) => Err(e),
            Ok(req) => serve(&server, inc.client, &mut tree, &mut handles[inc.client], req),
        };
        server.reply(inc.client, inc.id, &reply);
    }
}

fn load_image(name: &str) -> Result<Vec<u8>, Error> {
    let region = Region::lookup(name)?;
    let info = region.attach()?;
    // The image's own length is in its bytes; the region may be larger.
    let mut bytes = vec![0u8; info.len as usize];
    region.read(0, &mut bytes)?;
    let end = image::len(&bytes).unwrap_or(bytes.len());
    bytes.truncate(end);
    Ok(bytes)
}

fn serve(server: &Server, client: usize, tree: &mut Tree, open: &mut [Open], req: Request) -> Reply<Answer> {
    let conn = &server.clients[client].conn;
    let root = conn.scope.trim_matches('/');
    let write = conn.write;
    let held = || format!("`/{root}` {}", if write { "read-write" } else { "read-only" });
    // A path from the connection's root to one from the file system's.
    let resolve = |p: &str| -> Reply<String> {
        let levels = valid_relative(p).ok_or_else(|| SvcError::Invalid(format!("bad path `{p}` (no `..`, `.` or empty levels)")))?;
        let mut full = String::from(root);
        for l in levels {
            if !full.is_empty() {
                full.push('/');
            }
            full.push_str(l);
        }
        Ok(full)
    };
    let writable = |what: &str, p: &str| -> Reply<()> {
        if write {
            Ok(())
        } else {
            Err(server.deny(client, format!("{what} `{p}`"), held()))
        }
    };
    let whole = || -> Reply<()> {
        if root.is_empty() && write {
            Ok(())
        } else {
            Err(server.deny(client, "change the whole file system's layers".into(), held()))
        }
    };
    match req {
        Request::Stat(p) => tree.stat(&resolve(&p)?).map(Answer::Stat),
        Request::List(p) => tree.list(&resolve(&p)?).map(Answer::Entries),
        Request::Mkdir(p) => {
            writable("make directory", &p)?;
            tree.mkdir(&resolve(&p)?).map(|_| Answer::Done)
        }
        Request::Open { path, create, truncate } => {
            if create || truncate {
                writable("create or truncate", &path)?;
            }
            let full = resolve(&path)?;
            tree.open(&full, create, truncate)?;
            let slot = open.iter().position(Option::is_none).ok_or(SvcError::Limit { what: "open handles".into(), max: MAX_HANDLES as u64 })?;
            open[slot] = Some((full, 0));
            Ok(Answer::Handle(slot as u32))
        }
        Request::Read { handle, len } => {
            let (path, pos) = handle_mut(open, handle)?;
            let data = tree.read(path, *pos, len.min(MAX_IO as u32))?;
            *pos += data.len() as u64;
            Ok(Answer::Data(data))
        }
        Request::Write { handle, data } => {
            writable("write", &format!("handle {handle}"))?;
            let (path, pos) = handle_mut(open, handle)?;
            let n = tree.write(path, *pos, &data)?;
            *pos += u64::from(n);
            Ok(Answer::Written(n))
        }
        Request::Seek { handle, pos } => {
            *handle_mut(open, handle)?.1 = pos;
            Ok(Answer::Done)
        }
        Request::Close(handle) => {
            handle_mut(open, handle)?;
            open[handle as usize] = None;
            Ok(Answer::Done)
        }
        Request::Get { path, offset, len } => tree.read(&resolve(&path)?, offset, len.min(MAX_IO as u32)).map(Answer::Data),
        Request::Put { path, data, append } => {
            writable("write", &path)?;
            let full = resolve(&path)?;
            tree.open(&full, true, !append)?;
            let at = if append { tree.stat(&full)?.size } else { 0 };
            tree.write(&full, at, &data).map(Answer::Written)
        }
        Request::Truncate { path, len } => {
            writable("truncate", &path)?;
            tree.truncate(&resolve(&path)?, len).map(|_| Answer::Done)
        }
        Request::Rename { from, to } => {
            writable("rename", &from)?;
            tree.rename(&resolve(&from)?, &resolve(&to)?).map(|_| Answer::Done)
        }
        Request::Remove(p) => {
            writable("remove", &p)?;
            tree.remove(&resolve(&p)?).map(|_| Answer::Done)
        }
        Request::Diff => Ok(Answer::Changes(tree.diff())),
        Request::Discard => {
            whole()?;
            Ok(Answer::Discarded(tree.discard()))
        }
        Request::Commit => {
            whole()?;
            let (bytes, changes) = tree.commit();
            Ok(Answer::Committed { bytes, changes })
        }
        Request::Image { offset, len } => {
            let img = tree.image();
            let start = (offset.min(img.len() as u64)) as usize;
            let end = start.saturating_add(len.min(MAX_IO as u32) as usize).min(img.len());
            Ok(Answer::Data(img[start..end].to_vec()))
        }
    }
}

fn handle_mut(open: &mut [Open], handle: u32) -> Reply<(&str, &mut u64)> {
    match open.get_mut(handle as usize) {
        Some(Some((p, pos))) => Ok((p.as_str(), pos)),
        _ => Err(SvcError::NotFound(format!("handle {handle}"))),
    }
}
