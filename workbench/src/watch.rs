//! Watching guest sources with notify, debounced, one change per guest.
//! Build output (`target/`) and editor droppings never trigger a rebuild.

use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::project::Project;

/// Quiet time after the last relevant event before a rebuild starts. An
/// editor's save is a burst of events within a few ms (write, rename,
/// chmod); 50 ms (watchexec's default) covers it without adding much to
/// save-to-running.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// A guest whose sources changed.
#[derive(Debug, Clone)]
pub struct Change {
    /// Guest name.
    pub guest: String,
    /// When its first change in this burst was seen (save time).
    pub saved: Instant,
}

/// Whether a changed path is a source worth rebuilding for.
pub fn relevant(path: &Path) -> bool {
    let ignored_dir = path.components().any(|c| matches!(c, Component::Normal(n) if n == "target" || n == ".git"));
    let ext_ok = path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "rs" | "toml" | "wat" | "wasm"));
    !ignored_dir && ext_ok
}

/// Starts watching every guest of `project`; changes arrive on the returned
/// receiver. Dropping the returned watcher stops it.
pub fn start(project: &Project) -> notify::Result<(notify::RecommendedWatcher, Receiver<Change>)> {
    let (raw_tx, raw_rx) = channel::<std::path::PathBuf>();
    // TIDEMARK_WATCH_LOG=FILE appends every raw watcher event to FILE (debugging aid).
    let log = std::env::var_os("TIDEMARK_WATCH_LOG");
    let handler = move |res: notify::Result<notify::Event>| {
        if let Some(path) = &log {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(f, "{res:?}");
            }
        }
        if let Ok(ev) = res {
            if matches!(ev.kind, notify::EventKind::Create(_) | notify::EventKind::Modify(_) | notify::EventKind::Remove(_)) {
                for p in ev.paths {
                    let _ = raw_tx.send(p);
                }
            }
        }
    };
    let mut watcher = notify::recommended_watcher(handler)?;
    for g in &project.guests {
        let root = g.watch_root();
        let mode = if root.is_dir() { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        watcher.watch(root, mode)?;
    }
    let (tx, rx) = channel();
    let p = project.clone();
    std::thread::Builder::new().name("watch-debounce".into()).spawn(move || debounce(&p, raw_rx, tx)).expect("watch thread");
    Ok((watcher, rx))
}

fn debounce(project: &Project, raw: Receiver<std::path::PathBuf>, tx: Sender<Change>) {
    let mut pending: HashMap<String, Instant> = HashMap::new();
    // The quiet period counts from the last relevant event only, so
    // unrelated churn cannot hold a rebuild back.
    let mut quiet_at = Instant::now();
    loop {
        let timeout = if pending.is_empty() { Duration::from_secs(3600) } else { quiet_at.saturating_duration_since(Instant::now()) };
        match raw.recv_timeout(timeout) {
            Ok(path) => {
                if let Some(g) = project.guest_for(&path).filter(|_| relevant(&path)) {
                    pending.entry(g.name.clone()).or_insert_with(Instant::now);
                    quiet_at = Instant::now() + DEBOUNCE;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if !pending.is_empty() && Instant::now() >= quiet_at {
            for (guest, saved) in pending.drain() {
                if tx.send(Change { guest, saved }).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::relevant;
    use std::path::Path;

    #[test]
    fn build_output_and_editor_files_are_ignored() {
        assert!(relevant(Path::new("/p/svc/src/lib.rs")));
        assert!(relevant(Path::new("/p/svc/Cargo.toml")));
        assert!(!relevant(Path::new("/p/target/wasm32-unknown-unknown/release/svc.wasm")));
        assert!(!relevant(Path::new("/p/svc/src/.lib.rs.swp")));
        assert!(!relevant(Path::new("/p/svc/src/lib.rs~")));
        assert!(!relevant(Path::new("/p/.git/index")));
    }
}
