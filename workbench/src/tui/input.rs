//! The REPL input line: what is typed, and its history, shared with
//! `tidemark shell` through the history file.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use super::panes::Component;

/// The REPL input line with history, shared with `tidemark shell` through
/// its history file when one is given.
#[derive(Default)]
pub struct InputLine {
    /// Text typed.
    pub buffer: String,
    history: Vec<String>,
    pub(crate) at: Option<usize>,
    /// The history file lines are loaded from and appended to.
    file: Option<PathBuf>,
}

/// The header rustyline writes at the top of its (v2) history files.
const HISTORY_V2: &str = "#V2";

impl InputLine {
    /// An input line whose history is `file` (the shell's, see
    /// [`tidemark_shell::repl::history_path`]): loaded now, each entered line
    /// appended. A missing or unreadable file is an empty history.
    pub fn with_history_file(file: Option<PathBuf>) -> InputLine {
        let history = file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|t| parse_history(&t))
            .unwrap_or_default();
        InputLine {
            history,
            file,
            ..InputLine::default()
        }
    }

    pub(crate) fn take(&mut self) -> String {
        let line = std::mem::take(&mut self.buffer);
        let entry = line.trim();
        // Like the shell (rustyline): trimmed entries, consecutive duplicates kept once.
        if !entry.is_empty() && self.history.last().map(String::as_str) != Some(entry) {
            self.history.push(entry.to_string());
            if let Some(f) = &self.file {
                // History is a convenience: failing to record it is not an error.
                let _ = append_history(f, entry);
            }
        }
        self.at = None;
        line
    }
    pub(crate) fn recall(&mut self, older: bool) {
        if self.history.is_empty() {
            return;
        }
        let i = match (self.at, older) {
            (None, true) => self.history.len() - 1,
            (Some(i), true) => i.saturating_sub(1),
            (Some(i), false) if i + 1 < self.history.len() => i + 1,
            _ => {
                self.at = None;
                self.buffer.clear();
                return;
            }
        };
        self.at = Some(i);
        self.buffer = self.history[i].clone();
    }
}

impl Component for InputLine {
    /// Typing and history; Enter is the screen's (it runs the line).
    fn event(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Char(c) => self.buffer.push(c),
            KeyCode::Backspace => {
                self.buffer.pop();
            }
            KeyCode::Up => self.recall(true),
            KeyCode::Down => self.recall(false),
            _ => return false,
        }
        true
    }
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        f.render_widget(Paragraph::new(format!("tidemark> {}", self.buffer)), area);
        if focused {
            f.set_cursor_position((area.x + 10 + self.buffer.chars().count() as u16, area.y));
        }
    }
    fn text(&self) -> String {
        format!("tidemark> {}", self.buffer)
    }
}

/// History entries from the text of a history file in rustyline's format:
/// `#V2` then one entry a line with `\n` and `\\` escaped, or (v1) plain lines.
fn parse_history(text: &str) -> Vec<String> {
    let mut lines = text.lines().peekable();
    let v2 = lines.peek() == Some(&HISTORY_V2);
    if v2 {
        lines.next();
    }
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            if !v2 {
                return l.to_string();
            }
            let mut out = String::with_capacity(l.len());
            let mut chars = l.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => out.push('\\'),
                }
            }
            out
        })
        .collect()
}

/// Appends `entry` to the history file `path` in the format rustyline reads
/// (a new file starts with the `#V2` header; a v1 file gets a plain line).
fn append_history(path: &Path, entry: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut text = String::new();
    let v2 = if len == 0 {
        text.push_str(HISTORY_V2);
        text.push('\n');
        true
    } else {
        let mut head = [0u8; HISTORY_V2.len()];
        let mut r = std::fs::File::open(path)?;
        std::io::Read::read_exact(&mut r, &mut head).is_ok() && head == *HISTORY_V2.as_bytes()
    };
    if v2 {
        text.push_str(&entry.replace('\\', "\\\\").replace('\n', "\\n"));
    } else {
        text.push_str(&entry.replace('\n', " "));
    }
    text.push('\n');
    f.write_all(text.as_bytes())
}
