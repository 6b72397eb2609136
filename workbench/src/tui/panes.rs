//! The screen's panes. Each owns what it shows (taken from each snapshot),
//! draws itself, handles the keys routed to it when focused, and renders
//! itself as text for the F2 dump (gitui/bottom's component idea).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use tidemark_protocol::{ArenaInfo, CacheInfo, CapInfo, ChannelInfo, ProcessInfo};
use tidemark_shell::graph::CapGraph;
use tidemark_shell::output::{PROCESS_HEAD, occupancy_pct, process_row, size, table};

use super::Snapshot;

/// A pane of the screen.
pub trait Component {
    /// Takes a new snapshot in.
    fn update(&mut self, _s: &Snapshot) {}
    /// Handles a key routed to it (it has the focus); whether it used it.
    fn event(&mut self, _key: KeyEvent) -> bool {
        false
    }
    /// Draws itself in `area`.
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool);
    /// Itself as plain text (the F2 dump).
    fn text(&self) -> String;
}

/// A bordered block whose title says whether it has the focus.
pub fn block(title: &str, focused: bool) -> Block<'static> {
    if focused {
        Block::default()
            .borders(Borders::ALL)
            .title(format!("[{title}]"))
            .border_style(Style::default().add_modifier(Modifier::BOLD))
    } else {
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" {title} "))
    }
}

/// A table's header row.
pub fn head(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.to_vec()).style(Style::default().add_modifier(Modifier::BOLD))
}

/// The process table; owns the selection (Up/Down when focused).
#[derive(Default)]
pub struct ProcessesPane {
    ps: Vec<ProcessInfo>,
    /// Selected row.
    pub selected: usize,
}

impl ProcessesPane {
    fn rows(&self) -> Vec<Vec<String>> {
        self.ps.iter().map(process_row).collect()
    }

    /// The selected pid.
    pub fn pid(&self) -> Option<u32> {
        self.ps.get(self.selected).map(|p| p.pid)
    }
}

impl Component for ProcessesPane {
    fn update(&mut self, s: &Snapshot) {
        self.ps = s.ps.clone();
        self.selected = self.selected.min(self.ps.len().saturating_sub(1));
    }
    fn event(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => {
                self.selected = (self.selected + 1).min(self.ps.len().saturating_sub(1))
            }
            _ => return false,
        }
        true
    }
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        let rows = self.rows().into_iter().enumerate().map(|(i, r)| {
            let row = Row::new(r);
            if i == self.selected {
                row.style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        });
        let widths = [
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Min(10),
        ];
        f.render_widget(
            Table::new(rows, widths)
                .header(head(&PROCESS_HEAD))
                .block(block("processes", focused)),
            area,
        );
    }
    fn text(&self) -> String {
        table(&PROCESS_HEAD, &self.rows())
    }
}

/// Capabilities of the selected process, or (F4) the whole capability
/// graph: who holds what, from whom, and the frames moved since the last
/// poll.
#[derive(Default)]
pub struct CapsPane {
    caps: Vec<CapInfo>,
    graph: Option<CapGraph>,
    /// Whose they are.
    pub pid: Option<u32>,
    /// Shows the graph instead.
    pub show_graph: bool,
}

impl CapsPane {
    const HEAD: [&'static str; 4] = ["HANDLE", "NAME", "OBJECT", "RIGHTS"];
    const GRAPH_HEAD: [&'static str; 5] = ["CHAN", "HOLDER", "RGTS", "FROM", "MOVED"];

    fn graph_rows(&self) -> Vec<Vec<String>> {
        let Some(g) = &self.graph else {
            return Vec::new();
        };
        // Frames moved since the last poll: written (w) and read (r).
        let moved = |e: &tidemark_shell::graph::Edge| match (e.written, e.read) {
            (None, None) => "-".to_string(),
            (w, r) => [w.map(|w| format!("{w}w")), r.map(|r| format!("{r}r"))]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut rows = Vec::new();
        for n in &g.objects {
            for e in g.edges.iter().filter(|e| e.object == n.object) {
                let id = match n.object {
                    tidemark_protocol::Object::Channel(id) => format!("{id}"),
                    tidemark_protocol::Object::Region(id) => format!("r{id}"),
                };
                rows.push(vec![
                    format!("{id} {}", n.name),
                    format!("{} {}", e.pid, e.process),
                    e.rights.to_string(),
                    e.from.map_or("kernel".into(), |(p, _)| format!("pid {p}")),
                    moved(e),
                ]);
            }
        }
        rows
    }

    fn rows(&self) -> Vec<Vec<String>> {
        if self.show_graph {
            return self.graph_rows();
        }
        self.caps
            .iter()
            .map(|c| {
                vec![
                    format!("{:#x}", c.handle),
                    c.name.clone(),
                    c.object.to_string(),
                    c.rights.to_string(),
                ]
            })
            .collect()
    }
}

impl Component for CapsPane {
    fn update(&mut self, s: &Snapshot) {
        self.caps = s.caps.clone();
        if s.graph.is_some() {
            self.graph = s.graph.clone();
        }
    }
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        if self.show_graph {
            let widths = [
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(4),
                Constraint::Length(6),
                Constraint::Min(5),
            ];
            f.render_widget(
                Table::new(self.rows().into_iter().map(Row::new), widths)
                    .header(head(&Self::GRAPH_HEAD))
                    .block(block("capability graph (F4)", focused)),
                area,
            );
            return;
        }
        let widths = [
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Min(6),
        ];
        let title = self.pid.map_or("capabilities".to_string(), |p| {
            format!("capabilities of pid {p}")
        });
        f.render_widget(
            Table::new(self.rows().into_iter().map(Row::new), widths)
                .header(head(&Self::HEAD))
                .block(block(&title, focused)),
            area,
        );
    }
    fn text(&self) -> String {
        if self.show_graph {
            table(&Self::GRAPH_HEAD, &self.rows())
        } else {
            table(&Self::HEAD, &self.rows())
        }
    }
}

/// How far back the RATE column looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// How many polls the HISTORY strip shows (one cell each, newest right).
pub const STRIP: usize = 10;

/// Channels with occupancy gauges, a strip of their occupancy over the
/// last polls and measured frame rates; owns each channel's recent history.
#[derive(Default)]
pub struct ChannelsPane {
    channels: Vec<ChannelInfo>,
    history: HashMap<u32, VecDeque<(Instant, u32)>>,
    occupancy: HashMap<u32, VecDeque<u64>>,
}

impl ChannelsPane {
    const HEAD: [&'static str; 8] = [
        "ID", "NAME", "FULL", "HISTORY", "RATE", "DROPS", "PARKED", "STATUS",
    ];

    /// The occupancy of the last [`STRIP`] polls as a heat strip: one
    /// cell per poll, from ` ` (empty) to `█` (full), newest on the right.
    pub fn strip(&self, id: u32) -> String {
        const CELLS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let h = self.occupancy.get(&id);
        let pad = STRIP - h.map_or(0, |h| h.len());
        let cells = h
            .into_iter()
            .flatten()
            .map(|pct| CELLS[(*pct.min(&100) as usize * 8).div_ceil(100)]);
        std::iter::repeat_n('·', pad).chain(cells).collect()
    }

    /// Frames per second over the samples of the last [`RATE_WINDOW`]:
    /// frames counted between the oldest and newest sample, over the time
    /// between them (a snapshot's own instant, not when it was drawn).
    pub fn rate(&self, id: u32) -> f64 {
        let Some(h) = self.history.get(&id) else {
            return 0.0;
        };
        match (h.front(), h.back()) {
            (Some(&(t0, s0)), Some(&(t1, s1))) if t1 > t0 => {
                s1.wrapping_sub(s0) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn rows(&self) -> Vec<Vec<String>> {
        self.channels
            .iter()
            .map(|c| {
                let rate = self.rate(c.id);
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    format!("{}%", occupancy_pct(c).min(100)),
                    self.strip(c.id),
                    if rate < 10.0 {
                        format!("{rate:.1}/s")
                    } else {
                        format!("{rate:.0}/s")
                    },
                    c.drops.to_string(),
                    format!("{}/{}", c.parked_readers.len(), c.parked_writers.len()),
                    c.corrupt.clone().unwrap_or_else(|| "ok".into()),
                ]
            })
            .collect()
    }
}

impl Component for ChannelsPane {
    fn update(&mut self, s: &Snapshot) {
        let now = s.at.unwrap_or_else(Instant::now);
        for c in &s.channels {
            let h = self.history.entry(c.id).or_default();
            h.push_back((now, c.head_seq));
            while h.len() > 2
                && h.front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            {
                h.pop_front();
            }
        }
        for c in &s.channels {
            let h = self.occupancy.entry(c.id).or_default();
            h.push_back(occupancy_pct(c));
            if h.len() > STRIP {
                h.pop_front();
            }
        }
        self.history
            .retain(|id, _| s.channels.iter().any(|c| c.id == *id));
        self.occupancy
            .retain(|id, _| s.channels.iter().any(|c| c.id == *id));
        self.channels = s.channels.clone();
    }
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        let widths = [
            Constraint::Length(3),
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(STRIP as u16),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Min(4),
        ];
        f.render_widget(
            Table::new(self.rows().into_iter().map(Row::new), widths)
                .header(head(&Self::HEAD))
                .block(block("channels", focused)),
            area,
        );
    }
    fn text(&self) -> String {
        table(&Self::HEAD, &self.rows())
    }
}

/// Arenas and the package cache.
#[derive(Default)]
pub struct MemPane {
    arenas: Vec<ArenaInfo>,
    packages: Option<CacheInfo>,
}

impl MemPane {
    fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .arenas
            .iter()
            .map(|a| {
                format!(
                    "arena {}: {} of {} used, high {}, {} regions, frag {:.0}%",
                    a.id,
                    size(a.used),
                    size(a.size),
                    size(a.high_water),
                    a.regions.len(),
                    a.fragmentation * 100.0
                )
            })
            .collect();
        if let Some(p) = &self.packages {
            out.push(format!(
                "cache {}",
                tidemark_shell::commands::cache_status(p)
            ));
            let mut line = format!(
                "  {} hits, {} misses, {} evictions",
                p.hits, p.misses, p.evictions
            );
            // Only worth the width when something is in flight or went wrong.
            if p.fetching > 0 {
                line.push_str(&format!(", {} fetching", p.fetching));
            }
            if p.verify_failures > 0 {
                line.push_str(&format!(", {} refused", p.verify_failures));
            }
            out.push(line);
            out.extend(p.packages.iter().map(|k| {
                format!(
                    "  {} {} {}{}",
                    k.name,
                    &k.hash[..12.min(k.hash.len())],
                    size(k.size),
                    if k.pinned { " pinned" } else { "" }
                )
            }));
        }
        out
    }
}

impl Component for MemPane {
    fn update(&mut self, s: &Snapshot) {
        self.arenas = s.arenas.clone();
        self.packages = s.packages.clone();
    }
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        f.render_widget(
            Paragraph::new(self.lines().into_iter().map(Line::from).collect::<Vec<_>>())
                .block(block("memory & packages", focused)),
            area,
        );
    }
    fn text(&self) -> String {
        self.lines().join("\n")
    }
}

/// Lines kept in the log pane.
const LOG_LINES: usize = 2000;

/// Log lines, events, command output and reload reports; owns its
/// scrollback (PageUp/PageDown anywhere, Up/Down when focused).
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
    fn scroll_by(&mut self, delta: isize) {
        self.scroll = self
            .scroll
            .saturating_add_signed(delta)
            .min(self.lines.len());
    }
}

impl Component for LogPane {
    fn event(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Up => self.scroll_by(1),
            KeyCode::Down => self.scroll_by(-1),
            KeyCode::PageUp => self.scroll_by(10),
            KeyCode::PageDown => self.scroll_by(-10),
            KeyCode::End => self.scroll = 0,
            _ => return false,
        }
        true
    }
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        let h = area.height.saturating_sub(2) as usize;
        let end = self.lines.len().saturating_sub(self.scroll);
        let start = end.saturating_sub(h);
        let lines: Vec<Line> = self
            .lines
            .range(start..end)
            .map(|l| Line::from(l.as_str()))
            .collect();
        let title = if self.scroll > 0 {
            format!("log (scrolled {})", self.scroll)
        } else {
            "log".into()
        };
        f.render_widget(Paragraph::new(lines).block(block(&title, focused)), area);
    }
    fn text(&self) -> String {
        self.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}
