//! The `tidemark dev` screen: processes, the selected process's
//! capabilities, channels with occupancy gauges and rates, arenas, the
//! package cache, a log/event pane, a REPL input line and a status bar.
//!
//! Data is collected off the UI thread: a collector with its own monitor
//! link sends a [`Snapshot`] every [`POLL`]; the UI thread only draws, reads
//! keys and runs the REPL line through its own session. Panes own their
//! state and draw themselves; each can also render itself as plain text, so
//! F2 dumps the whole screen to a file (copying out of TUIs is painful).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Frame;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};
use tidemark_monitor::{ArenaInfo, CacheInfo, CapRow, ChannelInfo, EventRecord, KernelInfo, ProcessInfo, Request, Response};
use tidemark_shell::{Client, Session, execute as run_line};

use crate::dev::DevEvent;
use crate::project::Project;

/// How often the collector polls the kernel.
pub const POLL: Duration = Duration::from_millis(250);
/// Lines kept in the log pane.
const LOG_LINES: usize = 2000;

/// Everything the screen shows about the kernel at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Option<Instant>,
    /// Kernel identity and uptime.
    pub info: Option<KernelInfo>,
    /// Processes.
    pub ps: Vec<ProcessInfo>,
    /// Capabilities of the selected process.
    pub caps: Vec<CapRow>,
    /// Channels.
    pub channels: Vec<ChannelInfo>,
    /// Arenas.
    pub arenas: Vec<ArenaInfo>,
    /// Package cache.
    pub packages: Option<CacheInfo>,
    /// Events since the previous snapshot.
    pub events: Vec<EventRecord>,
    /// Whether the link answered.
    pub link_ok: bool,
}

/// Polls the kernel on its own thread.
pub fn collector(mut c: Client, selected: Arc<AtomicU32>, stop: Arc<AtomicBool>) -> Receiver<Snapshot> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            let mut after = 0;
            while !stop.load(Ordering::Acquire) {
                let mut s = Snapshot { at: Some(Instant::now()), link_ok: true, ..Default::default() };
                let mut ask = |r: Request| match c.request(r) {
                    Ok(resp) => Some(resp),
                    Err(_) => None,
                };
                match ask(Request::Info) {
                    Some(Response::Info(i)) => s.info = Some(i),
                    _ => s.link_ok = false,
                }
                if let Some(Response::Ps(p)) = ask(Request::Ps) {
                    s.ps = p;
                }
                if let Some(Response::Caps(cs)) = ask(Request::Caps { pid: selected.load(Ordering::Relaxed) }) {
                    s.caps = cs;
                }
                if let Some(Response::Channels(cs)) = ask(Request::Channels) {
                    s.channels = cs;
                }
                if let Some(Response::Arenas(a)) = ask(Request::Arenas) {
                    s.arenas = a;
                }
                if let Some(Response::Packages(p)) = ask(Request::Packages) {
                    s.packages = Some(p);
                }
                if let Some(Response::Events(e)) = ask(Request::Events { after }) {
                    after = e.last().map_or(after, |e| e.seq);
                    s.events = e;
                }
                if tx.send(s).is_err() {
                    return;
                }
                std::thread::sleep(POLL);
            }
        })
        .expect("collector thread");
    rx
}

/// The process table; owns the selection.
#[derive(Default)]
pub struct ProcessesPane {
    /// Selected row.
    pub selected: usize,
}

impl ProcessesPane {
    fn rows(s: &Snapshot) -> Vec<Vec<String>> {
        s.ps.iter()
            .map(|p| vec![p.pid.to_string(), p.name.clone(), p.state.clone(), p.caps.to_string(), p.hostcalls.to_string(), format!("{}/{}", p.frames_in, p.frames_out), p.detail.clone()])
            .collect()
    }
    const HEAD: [&'static str; 7] = ["PID", "NAME", "STATE", "CAPS", "CALLS", "IN/OUT", "DETAIL"];

    /// The selected pid.
    pub fn pid(&self, s: &Snapshot) -> Option<u32> {
        s.ps.get(self.selected).map(|p| p.pid)
    }
    fn draw(&self, f: &mut Frame, area: Rect, s: &Snapshot) {
        let rows = Self::rows(s).into_iter().enumerate().map(|(i, r)| {
            let row = Row::new(r);
            if i == self.selected { row.style(Style::default().add_modifier(Modifier::REVERSED)) } else { row }
        });
        let widths = [Constraint::Length(4), Constraint::Length(12), Constraint::Length(8), Constraint::Length(4), Constraint::Length(7), Constraint::Length(9), Constraint::Min(10)];
        let t = Table::new(rows, widths).header(Row::new(Self::HEAD).style(Style::default().add_modifier(Modifier::BOLD))).block(Block::default().borders(Borders::ALL).title(" processes "));
        f.render_widget(t, area);
    }
    fn text(&self, s: &Snapshot) -> String {
        tidemark_shell::output::table(&Self::HEAD, &Self::rows(s))
    }
}

/// Capabilities of the selected process.
pub struct CapsPane;

impl CapsPane {
    fn rows(s: &Snapshot) -> Vec<Vec<String>> {
        s.caps.iter().map(|c| vec![format!("{:#x}", c.handle), c.name.clone(), format!("{} {}", c.kind, c.object), c.rights.clone()]).collect()
    }
    const HEAD: [&'static str; 4] = ["HANDLE", "NAME", "OBJECT", "RIGHTS"];
    fn draw(f: &mut Frame, area: Rect, s: &Snapshot, pid: Option<u32>) {
        let widths = [Constraint::Length(9), Constraint::Length(10), Constraint::Length(12), Constraint::Min(6)];
        let title = pid.map_or(" capabilities ".to_string(), |p| format!(" capabilities of pid {p} "));
        let t = Table::new(Self::rows(s).into_iter().map(Row::new), widths).header(Row::new(Self::HEAD).style(Style::default().add_modifier(Modifier::BOLD))).block(Block::default().borders(Borders::ALL).title(title));
        f.render_widget(t, area);
    }
    fn text(s: &Snapshot) -> String {
        tidemark_shell::output::table(&Self::HEAD, &Self::rows(s))
    }
}

/// Channels with occupancy gauges and frame rates; owns the rate history.
#[derive(Default)]
pub struct ChannelsPane {
    last: Vec<(u32, u32, Instant)>,
    rates: Vec<(u32, f64)>,
}

impl ChannelsPane {
    fn update(&mut self, s: &Snapshot) {
        let now = s.at.unwrap_or_else(Instant::now);
        self.rates = s
            .channels
            .iter()
            .map(|c| {
                let rate = self.last.iter().find(|l| l.0 == c.id).map_or(0.0, |&(_, seq, t)| {
                    let dt = now.duration_since(t).as_secs_f64();
                    if dt > 0.0 { c.head_seq.wrapping_sub(seq) as f64 / dt } else { 0.0 }
                });
                (c.id, rate)
            })
            .collect();
        self.last = s.channels.iter().map(|c| (c.id, c.head_seq, now)).collect();
    }
    fn gauge(c: &ChannelInfo) -> String {
        let pct = (c.bytes_in_flight as u64 * 100 / c.data_cap.max(1) as u64).max(c.frames_in_flight as u64 * 100 / c.frame_cap.max(1) as u64).min(100);
        let filled = (pct as usize).div_ceil(10);
        format!("[{}{}] {pct:>3}%", "#".repeat(filled), ".".repeat(10 - filled))
    }
    fn rows(&self, s: &Snapshot) -> Vec<Vec<String>> {
        s.channels
            .iter()
            .map(|c| {
                let rate = self.rates.iter().find(|r| r.0 == c.id).map_or(0.0, |r| r.1);
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    Self::gauge(c),
                    format!("{rate:.0}/s"),
                    c.drops.to_string(),
                    format!("{}/{}", c.parked_readers.len(), c.parked_writers.len()),
                    c.corrupt.clone().unwrap_or_else(|| "ok".into()),
                ]
            })
            .collect()
    }
    const HEAD: [&'static str; 7] = ["ID", "NAME", "OCCUPANCY", "RATE", "DROPS", "PARKED", "STATUS"];
    fn draw(&self, f: &mut Frame, area: Rect, s: &Snapshot) {
        let widths = [Constraint::Length(3), Constraint::Length(10), Constraint::Length(17), Constraint::Length(8), Constraint::Length(6), Constraint::Length(7), Constraint::Min(4)];
        let t = Table::new(self.rows(s).into_iter().map(Row::new), widths).header(Row::new(Self::HEAD).style(Style::default().add_modifier(Modifier::BOLD))).block(Block::default().borders(Borders::ALL).title(" channels "));
        f.render_widget(t, area);
    }
    fn text(&self, s: &Snapshot) -> String {
        tidemark_shell::output::table(&Self::HEAD, &self.rows(s))
    }
}

/// Arenas and the package cache.
pub struct MemPane;

impl MemPane {
    fn lines(s: &Snapshot) -> Vec<String> {
        let size = tidemark_shell::output::size;
        let mut out: Vec<String> = s
            .arenas
            .iter()
            .map(|a| format!("arena {}: {} of {} used, high {}, {} regions, frag {:.0}%", a.id, size(a.used), size(a.size), size(a.high_water), a.regions.len(), a.fragmentation * 100.0))
            .collect();
        if let Some(p) = &s.packages {
            out.push(format!("packages: {}/{} slots, {} hits, {} misses, {} evictions", p.packages.len(), p.slots, p.hits, p.misses, p.evictions));
            out.extend(p.packages.iter().map(|k| format!("  {} {} {}{}", k.name, &k.hash[..12], size(k.size), if k.pinned { " pinned" } else { "" })));
        }
        out
    }
    fn draw(f: &mut Frame, area: Rect, s: &Snapshot) {
        let p = Paragraph::new(Self::lines(s).into_iter().map(Line::from).collect::<Vec<_>>()).block(Block::default().borders(Borders::ALL).title(" memory & packages "));
        f.render_widget(p, area);
    }
}

/// Log lines, events, command output and reload reports; owns its scrollback.
#[derive(Default)]
pub struct LogPane {
    /// Lines, oldest first.
    pub lines: VecDeque<String>,
    /// Lines scrolled back from the bottom.
    pub scroll: usize,
}

impl LogPane {
    /// Appends text (one line per `\n`).
    pub fn push(&mut self, text: &str) {
        for l in text.lines() {
            if self.lines.len() >= LOG_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(l.to_string());
        }
    }
    fn draw(&self, f: &mut Frame, area: Rect) {
        let h = area.height.saturating_sub(2) as usize;
        let end = self.lines.len().saturating_sub(self.scroll);
        let start = end.saturating_sub(h);
        let lines: Vec<Line> = self.lines.range(start..end).map(|l| Line::from(l.as_str())).collect();
        let title = if self.scroll > 0 { format!(" log (scrolled {}) ", self.scroll) } else { " log ".into() };
        f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)), area);
    }
}

/// The REPL input line with history, shared with `tidemark shell` through
/// its history file when one is given.
#[derive(Default)]
pub struct InputLine {
    /// Text typed.
    pub buffer: String,
    history: Vec<String>,
    at: Option<usize>,
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
        let history = file.as_deref().and_then(|f| std::fs::read_to_string(f).ok()).map(|t| parse_history(&t)).unwrap_or_default();
        InputLine { history, file, ..InputLine::default() }
    }

    fn take(&mut self) -> String {
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
    fn recall(&mut self, older: bool) {
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
    fn draw(&self, f: &mut Frame, area: Rect) {
        f.render_widget(Paragraph::new(format!("tidemark> {}", self.buffer)), area);
        f.set_cursor_position((area.x + 10 + self.buffer.chars().count() as u16, area.y));
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
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
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

/// The whole screen's state.
pub struct App {
    /// Project name.
    pub project: String,
    /// Latest snapshot.
    pub snap: Snapshot,
    /// Panes.
    pub procs: ProcessesPane,
    /// Channels pane.
    pub chans: ChannelsPane,
    /// Log pane.
    pub log: LogPane,
    /// Input line.
    pub input: InputLine,
    /// Help overlay shown.
    pub help: bool,
    /// Last reload: what and how long.
    pub last_reload: Option<String>,
    /// Set to leave.
    pub quit: bool,
}

const HELP: &str = "\
keys
  type a command, Enter   run it (same commands as `tidemark shell`)
  Up / Down               history (or, with an empty line, select a process)
  PageUp / PageDown       scroll the log
  F2                      dump every pane as text to tidemark-dump-<time>.txt
  ?                       this help (on an empty line); Esc closes it
  Ctrl-C, Ctrl-Q          leave (the kernel stops with the session)";

impl App {
    /// A screen for `project`.
    pub fn new(project: &str) -> App {
        App {
            project: project.into(),
            snap: Snapshot::default(),
            procs: ProcessesPane::default(),
            chans: ChannelsPane::default(),
            log: LogPane::default(),
            input: InputLine::default(),
            help: false,
            last_reload: None,
            quit: false,
        }
    }

    /// Takes a new snapshot in.
    pub fn update(&mut self, s: Snapshot) {
        for e in &s.events {
            self.log.push(&tidemark_shell::commands::event_text(e));
        }
        self.chans.update(&s);
        self.procs.selected = self.procs.selected.min(s.ps.len().saturating_sub(1));
        self.snap = s;
    }

    /// Takes a reload report in.
    pub fn dev_event(&mut self, e: &DevEvent) {
        if let DevEvent::Reloaded(r) = e {
            self.last_reload = Some(format!("{} {:.2}s (swap {:.2}ms)", r.guest, r.save_to_running.as_secs_f64(), r.swap.as_secs_f64() * 1e3));
        }
        self.log.push(&e.to_string());
    }

    fn status(&self) -> String {
        let (board, uptime) = self.snap.info.as_ref().map_or(("?".to_string(), 0.0), |i| (i.board.clone(), i.uptime_ns as f64 / 1e9));
        let link = if self.snap.link_ok { "attached" } else { "link down" };
        format!(
            " {} | board {board} | {link} | up {uptime:.0}s | last reload: {} | ? help ",
            self.project,
            self.last_reload.as_deref().unwrap_or("none")
        )
    }

    /// Draws the whole screen.
    pub fn draw(&self, f: &mut Frame) {
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(35), Constraint::Percentage(30), Constraint::Min(5), Constraint::Length(1), Constraint::Length(1)])
            .split(f.area());
        let top = Layout::default().direction(Direction::Horizontal).constraints([Constraint::Percentage(60), Constraint::Percentage(40)]).split(rows[0]);
        let mid = Layout::default().direction(Direction::Horizontal).constraints([Constraint::Percentage(60), Constraint::Percentage(40)]).split(rows[1]);
        self.procs.draw(f, top[0], &self.snap);
        CapsPane::draw(f, top[1], &self.snap, self.procs.pid(&self.snap));
        self.chans.draw(f, mid[0], &self.snap);
        MemPane::draw(f, mid[1], &self.snap);
        self.log.draw(f, rows[2]);
        self.input.draw(f, rows[3]);
        f.render_widget(Paragraph::new(self.status()).style(Style::default().add_modifier(Modifier::REVERSED)), rows[4]);
        if self.help {
            let area = centered(f.area(), 86, 10);
            f.render_widget(Clear, area);
            f.render_widget(Paragraph::new(HELP).wrap(Wrap { trim: false }).block(Block::default().borders(Borders::ALL).title(" help ")), area);
        }
    }

    /// Every pane as plain text.
    pub fn dump(&self) -> String {
        let s = &self.snap;
        format!(
            "== processes\n{}\n\n== capabilities\n{}\n\n== channels\n{}\n\n== memory & packages\n{}\n\n== log\n{}\n\n== status\n{}\n",
            self.procs.text(s),
            CapsPane::text(s),
            self.chans.text(s),
            MemPane::lines(s).join("\n"),
            self.log.lines.iter().cloned().collect::<Vec<_>>().join("\n"),
            self.status().trim()
        )
    }

    /// Handles a key; REPL lines run through `session`.
    pub fn key(&mut self, k: KeyEvent, session: &mut Session) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('c') | KeyCode::Char('q') if ctrl => self.quit = true,
            KeyCode::Esc => self.help = false,
            KeyCode::Char('?') if self.input.buffer.is_empty() => self.help = !self.help,
            KeyCode::Char(c) => self.input.buffer.push(c),
            KeyCode::Backspace => {
                self.input.buffer.pop();
            }
            KeyCode::Up if self.input.buffer.is_empty() && self.input.at.is_none() && self.procs.selected > 0 => self.procs.selected -= 1,
            KeyCode::Down if self.input.buffer.is_empty() && self.input.at.is_none() => {
                self.procs.selected = (self.procs.selected + 1).min(self.snap.ps.len().saturating_sub(1))
            }
            KeyCode::Up => self.input.recall(true),
            KeyCode::Down => self.input.recall(false),
            KeyCode::PageUp => self.log.scroll = (self.log.scroll + 10).min(self.log.lines.len()),
            KeyCode::PageDown => self.log.scroll = self.log.scroll.saturating_sub(10),
            KeyCode::F(2) => {
                let path = format!("tidemark-dump-{}.txt", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
                match std::fs::write(&path, self.dump()) {
                    Ok(()) => self.log.push(&format!("dumped the screen to {path}")),
                    Err(e) => self.log.push(&format!("dump failed: {e}")),
                }
            }
            KeyCode::Enter => {
                let line = self.input.take();
                if matches!(line.trim(), "exit" | "quit") {
                    self.quit = true;
                    return;
                }
                if line.trim().is_empty() {
                    return;
                }
                self.log.push(&format!("tidemark> {line}"));
                match run_line(session, &line, false) {
                    Ok(out) => self.log.push(&out),
                    Err(e) => self.log.push(&format!("error: {e}")),
                }
                self.log.scroll = 0;
            }
            _ => {}
        }
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Runs the screen until the user leaves.
pub fn run(project: &Project, mut session: Session, poll: Client, reports: Receiver<DevEvent>) -> Result<ExitCode, String> {
    let selected = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let snaps = collector(poll, selected.clone(), stop.clone());
    // Leave the terminal usable whatever happens.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode().map_err(|e| e.to_string())?;
    execute!(std::io::stdout(), EnterAlternateScreen).map_err(|e| e.to_string())?;
    let result = ui_loop(project, &mut session, &snaps, &reports, &selected);
    stop.store(true, Ordering::Release);
    restore();
    result.map(|_| ExitCode::SUCCESS)
}

fn ui_loop(project: &Project, session: &mut Session, snaps: &Receiver<Snapshot>, reports: &Receiver<DevEvent>, selected: &AtomicU32) -> Result<(), String> {
    let mut term = ratatui::Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(|e| e.to_string())?;
    let mut app = App::new(&project.name);
    // The same history as `tidemark shell` (and `$TIDEMARK_HISTORY` overrides it).
    app.input = InputLine::with_history_file(tidemark_shell::repl::history_path());
    app.log.push(&format!("tidemark dev: {} guests running; edit a guest and save to hot-swap it. ? for keys.", project.guests.len()));
    while !app.quit {
        while let Ok(s) = snaps.try_recv() {
            app.update(s);
        }
        while let Ok(r) = reports.try_recv() {
            app.dev_event(&r);
        }
        if let Some(pid) = app.procs.pid(&app.snap) {
            selected.store(pid, Ordering::Relaxed);
        }
        render(&mut term, &app)?;
        if event::poll(Duration::from_millis(100)).map_err(|e| e.to_string())? {
            match event::read().map_err(|e| e.to_string())? {
                Event::Key(k) if k.kind == event::KeyEventKind::Press => app.key(k, session),
                Event::Resize(..) => term.autoresize().map_err(|e| e.to_string())?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Renders `app` on any backend (crossterm, or the TestBackend in snapshot tests).
pub fn render<B: Backend>(term: &mut ratatui::Terminal<B>, app: &App) -> Result<(), String> {
    term.draw(|f| app.draw(f)).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use tidemark_monitor::{PackageInfo, ReaderInfo, RegionInfo, WriterInfo};

    fn known() -> Snapshot {
        let proc_ = |pid: u32, name: &str, state: &str, detail: &str| ProcessInfo {
            pid,
            name: name.into(),
            package: name.into(),
            hash: "ab".repeat(32),
            state: state.into(),
            detail: detail.into(),
            classes: vec!["core".into(), "log".into(), "channel".into()],
            caps: 2,
            memory: 1 << 20,
            memory_limit: 16 << 20,
            parent: 0,
            hostcalls: 42,
            denials: 0,
            frames_out: 7,
            frames_in: 7,
        };
        Snapshot {
            at: None,
            info: Some(KernelInfo { version: "0.1.0".into(), protocol: 1, abi: 1, board: "hosted".into(), engine: "wasmtime 48".into(), uptime_ns: 12_000_000_000, memory: None }),
            ps: vec![proc_(1, "service", "blocked", "read chan 1"), proc_(2, "client", "blocked", "sleep")],
            caps: vec![CapRow { handle: 0x10000, index: 0, generation: 1, kind: "channel".into(), object: 1, rights: "r---".into(), name: "req".into(), parent: None, children: 0 }],
            channels: vec![ChannelInfo {
                id: 1,
                name: "req".into(),
                backpressure: "park".into(),
                data_cap: 4096,
                frame_cap: 64,
                bytes_in_flight: 2048,
                frames_in_flight: 3,
                head_seq: 10,
                drops: 0,
                readers: vec![ReaderInfo { pid: 1, slot: 0, seq: 7, lag: 3 }],
                writers: vec![WriterInfo { pid: 2, id: 0, frames: 10 }],
                parked_readers: vec![],
                parked_writers: vec![2],
                corrupt: None,
            }],
            arenas: vec![ArenaInfo { id: 1, size: 1 << 20, used: 5696, free: (1 << 20) - 5696, high_water: 5696, fragmentation: 0.0, regions: vec![RegionInfo { id: 2, offset: 0, len: 5696, owner: 0, purpose: "chan 1".into() }] }],
            packages: Some(CacheInfo { slots: 16, hits: 2, misses: 0, evictions: 0, packages: vec![PackageInfo { name: "service".into(), hash: "cd".repeat(32), size: 9171, pinned: false }] }),
            events: vec![EventRecord { seq: 1, time_ns: 1_500_000_000, kind: "log".into(), pid: 1, level: Some("INFO".into()), text: "service: ready".into() }],
            link_ok: true,
        }
    }

    fn screen(app: &App, w: u16, h: u16) -> String {
        let mut term = ratatui::Terminal::new(TestBackend::new(w, h)).unwrap();
        render(&mut term, app).unwrap();
        let buf = term.backend().buffer().clone();
        (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>().trim_end().to_string()).collect::<Vec<_>>().join("\n")
    }

    fn golden(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens").join(name);
        if std::env::var_os("TIDEMARK_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(want == text, "screen {name} changed (TIDEMARK_BLESS=1 to accept):\n{text}");
    }

    fn app() -> App {
        let mut app = App::new("two-guest");
        app.update(known());
        app.dev_event(&DevEvent::Reloaded(crate::dev::ReloadReport {
            guest: "service".into(),
            pid: 1,
            hash: "ef".repeat(32),
            build: Duration::from_millis(1200),
            prepare: Duration::from_micros(41_000),
            swap: Duration::from_micros(1500),
            save_to_running: Duration::from_millis(1350),
        }));
        app
    }

    #[test]
    fn screen_with_a_known_kernel_state() {
        golden("dev-100x30.txt", &screen(&app(), 100, 30));
    }

    #[test]
    fn screen_resizes_and_shows_help() {
        let mut a = app();
        golden("dev-60x20.txt", &screen(&a, 60, 20));
        a.help = true;
        golden("dev-help-100x30.txt", &screen(&a, 100, 30));
    }

    #[test]
    fn input_line_shares_the_shell_history_file() {
        let dir = std::env::temp_dir().join(format!("tidemark-tui-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A file as `tidemark shell` (rustyline) leaves it.
        let file = dir.join("state/history");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "#V2\ninfo\nchan send req a\\\\b\n").unwrap();
        let mut input = InputLine::with_history_file(Some(file.clone()));
        input.recall(true);
        assert_eq!(input.buffer, "chan send req a\\b", "the shell's last line comes first");
        input.recall(true);
        assert_eq!(input.buffer, "info");
        input.buffer = "  ps ".into();
        assert_eq!(input.take(), "  ps ");
        input.buffer = "ps".into();
        input.take();
        input.buffer = "say a\\n".into();
        input.take();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, "#V2\ninfo\nchan send req a\\\\b\nps\nsay a\\\\n\n", "entered lines appended in the shell's format");
        // The next screen (or shell) sees them.
        let mut again = InputLine::with_history_file(Some(file.clone()));
        again.recall(true);
        assert_eq!(again.buffer, "say a\\n");
        again.recall(true);
        assert_eq!(again.buffer, "ps");
        // A fresh file (and its directory) is created with rustyline's header.
        let fresh = dir.join("new/dir/history");
        let mut input = InputLine::with_history_file(Some(fresh.clone()));
        input.buffer = "info".into();
        input.take();
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "#V2\ninfo\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dump_holds_every_pane_as_text() {
        let d = app().dump();
        for part in ["== processes", "1    service  blocked", "== capabilities", "0x10000  req", "[#####.....]  50%", "reloaded service (pid 1)", "board hosted"] {
            assert!(d.contains(part), "{part:?} missing from:\n{d}");
        }
    }
}
