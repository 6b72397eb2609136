//! Watching guest sources with notify, debounced, one change per guest.
//! Build output (`target/`) and editor droppings never trigger a rebuild.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::project::{Project, Source};

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

/// Whether `path`, a change under the guest's watch `root` (its crate
/// directory, or its file), is a source worth rebuilding for. Only the part
/// of `path` below `root` is searched for `target`/`.git` directories, so a
/// project that itself lives under some `target/` still sees its edits.
pub fn relevant(root: &Path, path: &Path) -> bool {
    let inside = path.strip_prefix(root).unwrap_or(path);
    let ignored_dir = inside
        .components()
        .any(|c| matches!(c, Component::Normal(n) if n == "target" || n == ".git"));
    let ext_ok = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "rs" | "toml" | "wat" | "wasm"));
    !ignored_dir && ext_ok
}

/// What to watch for `project`: each crate directory recursively, and for a
/// single-file guest its parent directory non-recursively (events are then
/// filtered to the file). Watching the file itself would lose the watch when
/// an editor saves atomically (writes a temporary file and renames it over
/// the original: the watched inode is gone). A directory already covered by
/// a recursive watch is not watched again (re-adding it would change its mode).
pub fn watch_plan(project: &Project) -> Vec<(PathBuf, RecursiveMode)> {
    let mut wanted: Vec<(PathBuf, bool)> = project
        .guests
        .iter()
        .map(|g| match &g.source {
            Source::Cargo { dir, .. } => (dir.clone(), true),
            Source::File(f) => (
                f.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
                false,
            ),
        })
        .collect();
    // Recursive watches first, outermost first, so covered ones are dropped.
    wanted.sort_by_key(|(p, recursive)| (!*recursive, p.components().count()));
    let mut plan: Vec<(PathBuf, bool)> = Vec::new();
    for (p, recursive) in wanted {
        if !plan
            .iter()
            .any(|(q, q_recursive)| p.starts_with(q) && (*q_recursive || *q == p))
        {
            plan.push((p, recursive));
        }
    }
    plan.into_iter()
        .map(|(p, r)| {
            (
                p,
                if r {
                    RecursiveMode::Recursive
                } else {
                    RecursiveMode::NonRecursive
                },
            )
        })
        .collect()
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
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{res:?}");
            }
        }
        if let Ok(ev) = res {
            if matches!(
                ev.kind,
                notify::EventKind::Create(_)
                    | notify::EventKind::Modify(_)
                    | notify::EventKind::Remove(_)
            ) {
                for p in ev.paths {
                    let _ = raw_tx.send(p);
                }
            }
        }
    };
    let mut watcher = notify::recommended_watcher(handler)?;
    for (dir, mode) in watch_plan(project) {
        watcher.watch(&dir, mode)?;
    }
    let (tx, rx) = channel();
    let p = project.clone();
    std::thread::Builder::new()
        .name("watch-debounce".into())
        .spawn(move || debounce(&p, raw_rx, tx))
        .expect("watch thread");
    Ok((watcher, rx))
}

fn debounce(project: &Project, raw: Receiver<std::path::PathBuf>, tx: Sender<Change>) {
    let mut pending: HashMap<String, Instant> = HashMap::new();
    // The quiet period counts from the last relevant event only, so
    // unrelated churn cannot hold a rebuild back.
    let mut quiet_at = Instant::now();
    loop {
        let timeout = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            quiet_at.saturating_duration_since(Instant::now())
        };
        match raw.recv_timeout(timeout) {
            Ok(path) => {
                // A single-file guest's directory is watched: `guest_for`
                // keeps only events for the file itself.
                if let Some(g) = project
                    .guest_for(&path)
                    .filter(|g| relevant(g.watch_root(), &path))
                {
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
    use super::*;
    use crate::project::GuestSpec;

    fn guest(name: &str, source: Source) -> GuestSpec {
        GuestSpec {
            name: name.into(),
            source,
            caps: vec![],
            args: String::new(),
            memory: None,
            uses: Default::default(),
        }
    }

    fn project(dir: &Path, guests: Vec<GuestSpec>) -> Project {
        Project {
            dir: dir.to_path_buf(),
            name: "p".into(),
            board: "hosted".into(),
            channels: vec![],
            guests,
            packages: Default::default(),
            userland: None,
        }
    }

    #[test]
    fn build_output_and_editor_files_are_ignored() {
        let svc = Path::new("/p/svc");
        assert!(relevant(svc, Path::new("/p/svc/src/lib.rs")));
        assert!(relevant(svc, Path::new("/p/svc/Cargo.toml")));
        assert!(!relevant(
            svc,
            Path::new("/p/svc/target/wasm32-unknown-unknown/release/svc.wasm")
        ));
        assert!(!relevant(
            Path::new("/p"),
            Path::new("/p/target/wasm32-unknown-unknown/release/svc.wasm")
        ));
        assert!(!relevant(svc, Path::new("/p/svc/src/.lib.rs.swp")));
        assert!(!relevant(svc, Path::new("/p/svc/src/lib.rs~")));
        assert!(!relevant(svc, Path::new("/p/svc/.git/index.toml")));
    }

    #[test]
    fn target_and_git_above_the_project_do_not_hide_its_sources() {
        let proj = Path::new("/tmp/x/target/proj");
        assert!(relevant(proj, Path::new("/tmp/x/target/proj/src/lib.rs")));
        assert!(relevant(proj, Path::new("/tmp/x/target/proj/Cargo.toml")));
        assert!(!relevant(
            proj,
            Path::new("/tmp/x/target/proj/target/release/build/out.rs")
        ));
        assert!(!relevant(proj, Path::new("/tmp/x/target/proj/.git/x.toml")));
        let repo = Path::new("/home/u/.git/work/proj/svc");
        assert!(relevant(
            repo,
            Path::new("/home/u/.git/work/proj/svc/src/main.rs")
        ));
        // A single-file guest: the root is the file itself.
        let wat = Path::new("/tmp/x/target/proj/tiny.wat");
        assert!(relevant(wat, wat));
    }

    #[test]
    fn debounce_filters_by_guest_and_project_relative_path() {
        let dir = Path::new("/tmp/x/target/proj");
        let p = project(
            dir,
            vec![
                guest(
                    "svc",
                    Source::Cargo {
                        dir: dir.join("svc"),
                        krate: "svc".into(),
                    },
                ),
                guest("tiny", Source::File(dir.join("tiny.wat"))),
            ],
        );
        let (raw_tx, raw_rx) = channel();
        let (tx, rx) = channel();
        let p2 = p.clone();
        let t = std::thread::spawn(move || debounce(&p2, raw_rx, tx));
        for ignored in [
            "svc/target/debug/x.rs",
            "target/wasm32-unknown-unknown/release/svc.wasm",
            "other.wat",
            "tiny.wat.swp",
            ".tiny.wat.tmp",
        ] {
            raw_tx.send(dir.join(ignored)).unwrap();
        }
        raw_tx.send(dir.join("svc/src/lib.rs")).unwrap();
        raw_tx.send(dir.join("tiny.wat")).unwrap();
        let mut got: Vec<String> = (0..2)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(30))
                    .expect("a change")
                    .guest
            })
            .collect();
        got.sort();
        assert_eq!(got, ["svc", "tiny"]);
        drop(raw_tx);
        t.join().unwrap();
        assert!(rx.try_recv().is_err(), "ignored paths made no change");
    }

    #[test]
    fn single_file_guests_watch_their_directory() {
        let dir = Path::new("/p");
        let p = project(
            dir,
            vec![
                guest("a", Source::File(dir.join("a.wat"))),
                guest("b", Source::File(dir.join("b.wat"))),
                guest(
                    "svc",
                    Source::Cargo {
                        dir: dir.join("svc"),
                        krate: "svc".into(),
                    },
                ),
                guest("c", Source::File(dir.join("svc/c.wat"))),
                guest("d", Source::File(dir.join("wat/d.wat"))),
            ],
        );
        let plan = watch_plan(&p);
        assert_eq!(
            plan,
            [
                (dir.join("svc"), RecursiveMode::Recursive),
                (dir.to_path_buf(), RecursiveMode::NonRecursive),
                (dir.join("wat"), RecursiveMode::NonRecursive)
            ]
        );
    }

    /// An editor's atomic save (write a temporary file, rename it over the
    /// guest) twice: both saves are seen.
    #[test]
    fn atomic_saves_of_a_single_file_guest_are_all_seen() {
        let dir = std::env::temp_dir().join(format!("tidemark-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let file = dir.join("tiny.wat");
        std::fs::write(&file, "(module)").unwrap();
        let p = project(&dir, vec![guest("tiny", Source::File(file.clone()))]);
        let (_watcher, changes) = start(&p).unwrap();
        for i in 0..2 {
            let tmp = dir.join(format!(".tiny.wat.{i}.tmp"));
            std::fs::write(&tmp, format!("(module) ;; save {i}")).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
            let c = changes
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("save {i} was not seen: {e}"));
            assert_eq!(c.guest, "tiny");
            // Let this burst's debounce finish before the next save.
            while changes.recv_timeout(DEBOUNCE * 4).is_ok() {}
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
