//! The interactive REPL: rustyline with history, completion of commands,
//! pids, channel and package names, and hints; Ctrl-C at the prompt clears
//! the line, and during a running command (such as `chan tail`) stops it and
//! returns to the prompt.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use tidemark_protocol::req;

use crate::commands::REGISTRY;
use crate::session::Session;
use crate::tokenize;

/// Names the completer offers besides commands, refreshed before each prompt.
#[derive(Default, Clone)]
pub struct Names {
    /// Live pids.
    pub pids: Vec<String>,
    /// Channel names and ids.
    pub channels: Vec<String>,
    /// Package names.
    pub packages: Vec<String>,
}

impl Names {
    /// Reads them from the kernel.
    pub fn fetch(s: &mut Session) -> Names {
        let mut n = Names::default();
        // One round trip for all three (a serial line is slow).
        if let Ok(snap) = s.client.call(req::Snapshot {
            caps_of: None,
            events_after: u64::MAX,
        }) {
            n.pids = snap
                .ps
                .iter()
                .filter(|p| p.state.is_live())
                .map(|p| p.pid.to_string())
                .collect();
            n.channels = snap.channels.iter().map(|c| c.name.clone()).collect();
            n.packages = snap
                .packages
                .packages
                .iter()
                .map(|p| p.name.clone())
                .collect();
        }
        n
    }
}

/// Completion and hints for the shell.
pub struct ShellHelper {
    /// Current names.
    pub names: Names,
}

impl ShellHelper {
    /// Candidates for the word being typed, given the words before it.
    pub fn candidates(&self, before: &[String], word: &str) -> Vec<String> {
        let typed = before.join(" ");
        let mut out: Vec<String> = Vec::new();
        if before.len() <= 1 {
            // Command names: complete the word that continues `typed`.
            for c in REGISTRY {
                let parts: Vec<&str> = c.name.split(' ').collect();
                if parts.len() > before.len() && parts[..before.len()].join(" ") == typed {
                    out.push(parts[before.len()].to_string());
                }
            }
        }
        if !before.is_empty() {
            let cmd = crate::commands::find(before)
                .map(|(c, _)| c.name)
                .unwrap_or("");
            let pool: &[String] = match cmd {
                "caps" | "kill" | "grant" | "revoke" | "log" => &self.names.pids,
                "chan show" | "chan send" | "chan tail" => &self.names.channels,
                "spawn" | "pkg pin" | "pkg evict" | "pkg resolve" => &self.names.packages,
                _ => &[],
            };
            out.extend(pool.iter().cloned());
        }
        out.retain(|c| c.starts_with(word));
        out.sort();
        out.dedup();
        out
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let before = tokenize(&head[..start]).unwrap_or_default();
        let c = self.candidates(&before, &head[start..]);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() || line.is_empty() {
            return None;
        }
        REGISTRY
            .iter()
            .find(|c| c.name.starts_with(line) && c.name != line)
            .map(|c| c.name[line.len()..].to_string())
    }
}

impl Highlighter for ShellHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Where history is kept: `$TIDEMARK_HISTORY`, else the XDG state directory.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TIDEMARK_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("tidemark/history"))
}

/// Runs the REPL until `exit`, `quit` or end of input. Returns the number of
/// commands that failed.
pub fn run(s: &mut Session, json: bool) -> rustyline::Result<usize> {
    s.interactive = true;
    let flag = s.interrupted.clone();
    // A second handler cannot be installed; the first one set is fine.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Release));
    let mut ed: Editor<ShellHelper, DefaultHistory> = Editor::new()?;
    ed.set_helper(Some(ShellHelper {
        names: Names::default(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = ed.load_history(h);
    }
    println!(
        "attached to {} ({}), protocol v{}. `help` lists commands.",
        s.client.kernel.board, s.client.kernel.engine, s.client.kernel.protocol
    );
    let mut failures = 0;
    loop {
        let names = Names::fetch(s);
        if let Some(h) = ed.helper_mut() {
            h.names = names;
        }
        match ed.readline("tidemark> ") {
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let _ = ed.add_history_entry(line);
                if matches!(line, "exit" | "quit") {
                    break;
                }
                s.interrupted.store(false, Ordering::Release);
                if !crate::run_and_print(s, line, json) {
                    failures += 1;
                }
                if s.client.is_closed() {
                    eprintln!("tidemark: the link to the kernel is gone; leaving the shell");
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = ed.save_history(h);
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        ShellHelper {
            names: Names {
                pids: vec!["1".into(), "12".into()],
                channels: vec!["req".into(), "resp".into()],
                packages: vec!["counter".into(), "ping".into()],
            },
        }
    }

    fn words(s: &str) -> Vec<String> {
        tokenize(s).unwrap()
    }

    #[test]
    fn completes_commands_pids_channels_and_packages() {
        let h = helper();
        assert_eq!(h.candidates(&[], "ch"), ["chan"]);
        assert_eq!(h.candidates(&words("chan"), "s"), ["send", "show"]);
        assert_eq!(h.candidates(&words("chan tail"), "re"), ["req", "resp"]);
        assert_eq!(h.candidates(&words("kill"), "1"), ["1", "12"]);
        assert_eq!(h.candidates(&words("spawn"), "c"), ["counter"]);
        assert!(h.candidates(&words("info"), "").is_empty());
    }
}
