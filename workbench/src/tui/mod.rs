//! The `tidemark dev` screen: processes, the selected process's
//! capabilities, channels with occupancy gauges and rates, arenas, the
//! package cache, a log/event pane, a REPL input line and a status bar.
//!
//! Data is collected off the UI thread: a collector with its own monitor
//! link sends a [`Snapshot`] (one `Snapshot` request) every [`POLL`]; REPL
//! lines run on a [`Worker`] thread with the session; the UI thread only
//! draws and routes keys. Panes are [`Component`]s: each owns its state,
//! draws itself, takes the keys routed to it when focused, and renders
//! itself as plain text, so F2 dumps the whole screen to a file (copying
//! out of TUIs is painful). A failed build sticks in the status line (and
//! a first-error panel) until the guest builds again.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Frame;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tidemark_protocol::{
    ArenaInfo, CacheInfo, CapInfo, ChannelInfo, Event as KernelEvent, KernelInfo, ProcessInfo, req,
};
use tidemark_shell::{Client, Session};

use crate::dev::DevEvent;
use crate::project::Project;

mod build;
mod display;
mod input;
mod panes;
mod services;
mod worker;

pub use build::BuildStatus;
pub use input::InputLine;
pub use panes::{CapsPane, ChannelsPane, Component, LogPane, MemPane, ProcessesPane};
pub use worker::Worker;

/// How often the collector polls the kernel.
pub const POLL: Duration = Duration::from_millis(250);

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
    pub caps: Vec<CapInfo>,
    /// Channels.
    pub channels: Vec<ChannelInfo>,
    /// Arenas.
    pub arenas: Vec<ArenaInfo>,
    /// Package cache.
    pub packages: Option<CacheInfo>,
    /// Events since the previous snapshot.
    pub events: Vec<KernelEvent>,
    /// Whether the link answered.
    pub link_ok: bool,
    /// What happened to a serial link since the previous snapshot.
    pub notes: Vec<String>,
    /// Init's units, when the kernel runs the userland.
    pub units: Vec<tidemark_svc::init::UnitInfo>,
    /// The capability graph, while the screen shows it (F4).
    pub graph: Option<tidemark_shell::graph::CapGraph>,
    /// The framebuffer, while the screen shows it (F5) and after a present
    /// since the last read; why not, on a board without one.
    pub display: Option<Result<tidemark_shell::picture::Picture, String>>,
}

/// What the screen shows besides its fixed panes: the collector asks for
/// each only while it is shown.
#[derive(Default)]
pub struct Shown {
    /// The capability graph (F4).
    pub graph: AtomicBool,
    /// The display (F5).
    pub display: AtomicBool,
}

/// Polls the kernel on its own thread: one `Snapshot` request a poll.
pub fn collector(
    mut c: Client,
    selected: Arc<AtomicU32>,
    shown: Arc<Shown>,
    stop: Arc<AtomicBool>,
    dump_on_trap: Option<std::path::PathBuf>,
) -> Receiver<Snapshot> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            let mut after = 0;
            let mut next_id = tidemark_shell::services::first_id();
            let fetcher = tidemark_fetch::Fetcher::default();
            let mut last_graph: Option<tidemark_shell::graph::CapGraph> = None;
            let mut last_presents = None;
            while !stop.load(Ordering::Acquire) {
                let at = Some(Instant::now());
                let pid = selected.load(Ordering::Relaxed);
                let r = c.call(req::Snapshot {
                    caps_of: (pid != 0).then_some(pid.into()),
                    events_after: after,
                });
                // The courier of the session: a board's kernel asks for
                // its fetches in events, and this is the client that polls.
                let _ = tidemark_shell::fetch::serve(&mut c, &fetcher);
                let notes = c.take_notices();
                if c.take_rebooted() {
                    after = 0; // a new kernel numbers its events from 1
                }
                let units = match &r {
                    Ok(k) => services(&mut c, &k.channels, &mut next_id),
                    Err(_) => Vec::new(),
                };
                let mut s = match r {
                    Ok(k) => {
                        after = k.events.last().map_or(after, |e| e.seq);
                        Snapshot {
                            at,
                            info: Some(k.info),
                            ps: k.ps,
                            caps: k.caps,
                            channels: k.channels,
                            arenas: k.arenas,
                            packages: Some(k.packages),
                            events: k.events,
                            link_ok: true,
                            notes: Vec::new(),
                            units,
                            graph: None,
                            display: None,
                        }
                    }
                    Err(_) => Snapshot {
                        at,
                        link_ok: false,
                        ..Default::default()
                    },
                };
                s.notes = notes;
                if let Some(dir) = &dump_on_trap {
                    s.notes.extend(tidemark_shell::session::save_crash_dump(&mut c, dir));
                }
                // The whole graph only while it is shown: one more request.
                if s.link_ok && shown.graph.load(Ordering::Relaxed) {
                    if let Ok(d) = c.call(req::Dump {
                        events: false,
                        crash: false,
                        memories: false,
                    }) {
                        let g = tidemark_shell::graph::CapGraph::new(&d, last_graph.as_ref());
                        last_graph = Some(g.clone());
                        s.graph = Some(g);
                    }
                }
                // The framebuffer only while shown, and after a present.
                if s.link_ok && shown.display.load(Ordering::Relaxed) {
                    use tidemark_shell::picture;
                    s.display = match picture::presents(&mut c) {
                        Ok(n) if last_presents == Some(n) => None,
                        Ok(_) => Some(picture::fetch(&mut c).map_err(|e| e.to_string())),
                        Err(e) => Some(Err(e.to_string())),
                    };
                    if let Some(Ok(p)) = &s.display {
                        last_presents = p.presents;
                    }
                } else {
                    last_presents = None;
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

/// Init's units, asked on the screen's own connection to init (so the
/// REPL's `svc` replies are never taken here); none without the userland.
fn services(c: &mut Client, channels: &[ChannelInfo], id: &mut u32) -> Vec<tidemark_svc::init::UnitInfo> {
    use tidemark_svc::init::{Answer, Request};
    use tidemark_svc::{SCREEN, Service, channel_name};
    let req = channel_name(Service::Init, SCREEN, "req");
    if !channels.iter().any(|ch| ch.name == req) {
        return Vec::new();
    }
    *id = id.wrapping_add(1) % (tidemark_svc::RESTARTED_ID / 2);
    let frame = tidemark_svc::encode(Service::Init, *id, &Request::List);
    match tidemark_shell::services::call_on::<Answer>(c, Service::Init, SCREEN, frame) {
        Ok(Answer::Units(units)) => units,
        _ => Vec::new(),
    }
}

/// Which pane keys go to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    /// The REPL line (typing, history).
    #[default]
    Input,
    /// The process table (Up/Down select).
    Processes,
    /// The log (Up/Down scroll).
    Log,
}

impl Focus {
    fn next(self) -> Focus {
        match self {
            Focus::Input => Focus::Processes,
            Focus::Processes => Focus::Log,
            Focus::Log => Focus::Input,
        }
    }
}

/// The whole screen's state: its panes, which has the focus, and the REPL
/// worker lines run on.
pub struct App {
    /// Project name.
    pub project: String,
    /// Kernel identity, as of the last snapshot.
    pub info: Option<KernelInfo>,
    /// Whether the link answered the last poll.
    pub link_ok: bool,
    /// Processes pane.
    pub procs: ProcessesPane,
    /// Capabilities pane.
    pub caps: CapsPane,
    /// Channels pane.
    pub chans: ChannelsPane,
    /// Memory pane.
    pub mem: MemPane,
    /// Display pane (F5: in the memory pane's place).
    pub display: display::DisplayPane,
    /// Services pane (shown when the userland runs).
    pub services: services::ServicesPane,
    /// Log pane.
    pub log: LogPane,
    /// Input line.
    pub input: InputLine,
    /// Sticky build failures.
    pub build: BuildStatus,
    /// Who gets keys.
    pub focus: Focus,
    /// Help overlay shown.
    pub help: bool,
    /// Last reload: what and how long.
    pub last_reload: Option<String>,
    /// Where REPL lines run (off this thread).
    pub worker: Option<Worker>,
    /// Advances the spinner (the UI loop ticks it).
    pub tick: usize,
    /// Set to leave.
    pub quit: bool,
}

const HELP: &str = "\
keys
  type a command, Enter   run it (same commands as `tidemark shell`), off the UI thread
  Up / Down               history; in processes: select; in log: scroll
  Tab                     focus: input -> processes -> log
  PageUp / PageDown       scroll the log
  F2                      dump every pane as text to tidemark-dump-<time>.txt
  F3                      show or hide the first error of a failed build
  F4                      capabilities: the selected process's, or the whole graph
  F5                      memory, or what the board's display shows
  ?                       this help (on an empty line); Esc closes it
  Ctrl-C, Ctrl-Q          leave (the kernel stops with the session)";

const SPINNER: [char; 4] = ['|', '/', '-', '\\'];

impl App {
    /// A screen for `project`.
    pub fn new(project: &str) -> App {
        App {
            project: project.into(),
            info: None,
            link_ok: false,
            procs: ProcessesPane::default(),
            caps: CapsPane::default(),
            chans: ChannelsPane::default(),
            mem: MemPane::default(),
            display: display::DisplayPane::default(),
            services: services::ServicesPane::default(),
            log: LogPane::default(),
            input: InputLine::default(),
            build: BuildStatus::default(),
            focus: Focus::default(),
            help: false,
            last_reload: None,
            worker: None,
            tick: 0,
            quit: false,
        }
    }

    /// Takes a new snapshot in: each pane takes what it shows.
    pub fn update(&mut self, s: Snapshot) {
        for n in &s.notes {
            self.log.push(&format!("tidemark: {n}"));
        }
        for e in &s.events {
            self.log.push(&tidemark_shell::commands::event_text(e));
        }
        if s.link_ok {
            self.info = s.info.clone();
        }
        self.link_ok = s.link_ok;
        self.procs.update(&s);
        self.caps.update(&s);
        self.caps.pid = self.procs.pid();
        self.chans.update(&s);
        self.mem.update(&s);
        self.display.update(&s);
        self.services.update(&s);
    }

    /// Takes a reload report in.
    pub fn dev_event(&mut self, e: &DevEvent) {
        if let DevEvent::Reloaded(r) = e {
            self.last_reload = Some(format!(
                "{} {:.2}s (swap {:.2}ms)",
                r.guest,
                r.save_to_running.as_secs_f64(),
                r.swap.as_secs_f64() * 1e3
            ));
        }
        self.build.on(e);
        self.log.push(&e.to_string());
    }

    /// Takes in what the REPL worker finished.
    pub fn poll_worker(&mut self) {
        let Some(w) = self.worker.as_mut() else {
            return;
        };
        for (_, r) in w.poll() {
            match r {
                Ok(out) if out.is_empty() => {}
                Ok(out) => self.log.push(&out),
                Err(e) => self.log.push(&e),
            }
            self.log.scroll = 0;
        }
    }

    fn running(&self) -> Option<String> {
        let w = self.worker.as_ref()?;
        let first = w.pending.first()?;
        let more = if w.pending.len() > 1 {
            format!(" (+{} queued)", w.pending.len() - 1)
        } else {
            String::new()
        };
        Some(format!(
            "{} running `{first}`{more}",
            SPINNER[self.tick % SPINNER.len()]
        ))
    }

    fn status(&self) -> String {
        let (board, uptime) = self.info.as_ref().map_or(("?".to_string(), 0.0), |i| {
            (i.board.clone(), i.uptime_ns as f64 / 1e9)
        });
        let link = if self.link_ok {
            "attached"
        } else {
            "link down"
        };
        let mut s = format!(
            " {} | board {board} | {link} | up {uptime:.0}s",
            self.project
        );
        if let Some(r) = self.running() {
            s.push_str(&format!(" | {r}"));
        }
        match self.build.status() {
            Some(failed) => s.push_str(&format!(" | {failed} (F3: error)")),
            None => s.push_str(&format!(
                " | last reload: {}",
                self.last_reload.as_deref().unwrap_or("none")
            )),
        }
        s.push_str(" | ? help ");
        s
    }

    /// Draws the whole screen.
    pub fn draw(&self, f: &mut Frame) {
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Percentage(35),
                Constraint::Percentage(30),
                Constraint::Min(3),
                Constraint::Length(self.build.height()),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .split(f.area());
        let top = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[0]);
        let mid = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(rows[1]);
        self.procs.draw(f, top[0], self.focus == Focus::Processes);
        if self.services.shown() {
            let right = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Percentage(40), Constraint::Percentage(60)])
                .split(top[1]);
            self.caps.draw(f, right[0], false);
            self.services.draw(f, right[1], false);
        } else {
            self.caps.draw(f, top[1], false);
        }
        self.chans.draw(f, mid[0], false);
        if self.display.shown {
            self.display.draw(f, mid[1], false);
        } else {
            self.mem.draw(f, mid[1], false);
        }
        self.log.draw(f, rows[2], self.focus == Focus::Log);
        if self.build.height() > 0 {
            self.build.draw(f, rows[3], false);
        }
        self.input.draw(f, rows[4], self.focus == Focus::Input);
        let style = if self.build.status().is_some() {
            Style::default().bg(Color::Red).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        };
        f.render_widget(Paragraph::new(self.status()).style(style), rows[5]);
        if self.help {
            let area = centered(f.area(), 90, 12);
            f.render_widget(Clear, area);
            f.render_widget(
                Paragraph::new(HELP)
                    .wrap(Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(" help ")),
                area,
            );
        }
    }

    /// Every pane as plain text.
    pub fn dump(&self) -> String {
        let build = if self.build.failed.is_empty() {
            String::new()
        } else {
            format!("== first error\n{}\n\n", self.build.text())
        };
        let services = if self.services.shown() {
            format!("== services\n{}\n\n", self.services.text())
        } else {
            String::new()
        };
        let display = if self.display.shown {
            format!("== display\n{}\n\n", self.display.text())
        } else {
            String::new()
        };
        format!(
            "== processes\n{}\n\n== capabilities\n{}\n\n{services}== channels\n{}\n\n== memory & packages\n{}\n\n{display}== log\n{}\n\n{build}== status\n{}\n",
            self.procs.text(),
            self.caps.text(),
            self.chans.text(),
            self.mem.text(),
            self.log.text(),
            self.status().trim()
        )
    }

    /// Handles a key: the screen's own keys first, then the focused pane's.
    pub fn key(&mut self, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('c') | KeyCode::Char('q') if ctrl => self.quit = true,
            KeyCode::Esc => self.help = false,
            KeyCode::Char('?') if self.input.buffer.is_empty() => self.help = !self.help,
            KeyCode::Tab => self.focus = self.focus.next(),
            KeyCode::PageUp | KeyCode::PageDown => {
                self.log.event(k);
            }
            KeyCode::F(2) => {
                let path = format!(
                    "tidemark-dump-{}.txt",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                );
                match std::fs::write(&path, self.dump()) {
                    Ok(()) => self.log.push(&format!("dumped the screen to {path}")),
                    Err(e) => self.log.push(&format!("dump failed: {e}")),
                }
            }
            KeyCode::F(3) => self.build.show = !self.build.show && !self.build.failed.is_empty(),
            KeyCode::F(4) => self.caps.show_graph = !self.caps.show_graph,
            KeyCode::F(5) => self.display.shown = !self.display.shown,
            KeyCode::Enter => self.enter(),
            // Typing always goes to the line, whichever pane has the focus.
            KeyCode::Char(_) | KeyCode::Backspace => {
                self.input.event(k);
            }
            _ => {
                let used = match self.focus {
                    Focus::Input => self.input.event(k),
                    Focus::Processes => self.procs.event(k),
                    Focus::Log => self.log.event(k),
                };
                if used {
                    self.caps.pid = self.procs.pid();
                }
            }
        }
    }

    fn enter(&mut self) {
        let line = self.input.take();
        if matches!(line.trim(), "exit" | "quit") {
            self.quit = true;
            return;
        }
        if line.trim().is_empty() {
            return;
        }
        self.log.push(&format!("tidemark> {line}"));
        self.log.scroll = 0;
        match self.worker.as_mut() {
            Some(w) => w.submit(line),
            None => self.log.push("error: no kernel session"),
        }
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Runs the screen until the user leaves.
pub fn run(
    project: &Project,
    session: Session,
    poll: Client,
    reports: Receiver<DevEvent>,
) -> Result<ExitCode, String> {
    let selected = Arc::new(AtomicU32::new(0));
    let shown = Arc::new(Shown::default());
    let stop = Arc::new(AtomicBool::new(false));
    // The collector is the courier from here on; what the session already
    // noted (the catalog the setup asked for) it serves first.
    let mut session = session;
    let _ = session.client.pump(std::time::Duration::from_millis(20));
    let _ = session.serve_fetches();
    session.client.packages.set_courier(false);
    let snaps = collector(
        poll,
        selected.clone(),
        shown.clone(),
        stop.clone(),
        session.dump_on_trap.clone(),
    );
    // Leave the terminal usable whatever happens.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode().map_err(|e| e.to_string())?;
    execute!(std::io::stdout(), EnterAlternateScreen).map_err(|e| e.to_string())?;
    let result = ui_loop(project, session, &snaps, &reports, &selected, &shown);
    stop.store(true, Ordering::Release);
    restore();
    result.map(|_| ExitCode::SUCCESS)
}

fn ui_loop(
    project: &Project,
    session: Session,
    snaps: &Receiver<Snapshot>,
    reports: &Receiver<DevEvent>,
    selected: &AtomicU32,
    shown: &Shown,
) -> Result<(), String> {
    let mut term = ratatui::Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| e.to_string())?;
    let mut app = App::new(&project.name);
    // The same history as `tidemark shell` (and `$TIDEMARK_HISTORY` overrides it).
    app.input = InputLine::with_history_file(tidemark_shell::repl::history_path());
    app.worker = Some(Worker::spawn(session));
    app.log.push(&format!(
        "tidemark dev: {} guests running; edit a guest and save to hot-swap it. ? for keys.",
        project.guests.len()
    ));
    while !app.quit {
        while let Ok(s) = snaps.try_recv() {
            app.update(s);
        }
        while let Ok(r) = reports.try_recv() {
            app.dev_event(&r);
        }
        app.poll_worker();
        app.tick = app.tick.wrapping_add(1);
        if let Some(pid) = app.procs.pid() {
            selected.store(pid, Ordering::Relaxed);
        }
        shown.graph.store(app.caps.show_graph, Ordering::Relaxed);
        shown.display.store(app.display.shown, Ordering::Relaxed);
        render(&mut term, &app)?;
        if event::poll(Duration::from_millis(100)).map_err(|e| e.to_string())? {
            match event::read().map_err(|e| e.to_string())? {
                Event::Key(k) if k.kind == event::KeyEventKind::Press => app.key(k),
                Event::Resize(..) => term.autoresize().map_err(|e| e.to_string())?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Renders `app` on any backend (crossterm, or the TestBackend in snapshot tests).
pub fn render<B: Backend>(term: &mut ratatui::Terminal<B>, app: &App) -> Result<(), String> {
    term.draw(|f| app.draw(f))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
