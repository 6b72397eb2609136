//! The services pane: init's units (state, pid, restarts, how each last
//! ended), shown beside the capabilities when the kernel runs the userland.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Row, Table};
use tidemark_svc::init::{State, UnitInfo};

use super::Snapshot;
use super::panes::{Component, block};

/// Init's units as of the last snapshot.
#[derive(Default)]
pub struct ServicesPane {
    units: Vec<UnitInfo>,
}

impl ServicesPane {
    /// Whether there is anything to show (the userland runs).
    pub fn shown(&self) -> bool {
        !self.units.is_empty()
    }

    fn rows(&self) -> Vec<[String; 5]> {
        self.units
            .iter()
            .map(|u| {
                [
                    u.name.clone(),
                    u.state.word().into(),
                    u.pid.map_or("-".into(), |p| p.to_string()),
                    u.restarts.to_string(),
                    u.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect()
    }
}

const HEAD: [&str; 5] = ["NAME", "STATE", "PID", "RST", "LAST EXIT"];

impl Component for ServicesPane {
    fn update(&mut self, s: &Snapshot) {
        self.units = s.units.clone();
    }

    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        let rows = self.rows().into_iter().zip(&self.units).map(|(r, u)| {
            let style = match u.state {
                State::Failed => Style::default().fg(Color::Red),
                State::Backoff => Style::default().fg(Color::Yellow),
                _ => Style::default(),
            };
            Row::new(r.to_vec()).style(style)
        });
        let widths = [
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(3),
            Constraint::Min(8),
        ];
        f.render_widget(
            Table::new(rows, widths).header(super::panes::head(&HEAD)).block(block("services", focused)),
            area,
        );
    }

    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self.rows().into_iter().map(|r| r.to_vec()).collect();
        tidemark_shell::output::table(&HEAD, &rows)
    }
}
