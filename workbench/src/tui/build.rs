//! Sticky build and reload failures: a failed build or reload turns the
//! status line red and names the guest until its next good build; a panel
//! shows the compiler's first error with its file:line (F3 toggles it).

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::panes::{Component, block};
use crate::dev::{DevEvent, FailedAt};

/// One guest's failure, kept until it builds and runs again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Where it failed.
    pub at: FailedAt,
    /// Whether a process still runs the guest's old version.
    pub running: bool,
    /// The first error (`file:line:col: error: ...`), or the first line.
    pub first: String,
}

/// Failures by guest, and whether the panel is shown.
#[derive(Default)]
pub struct BuildStatus {
    /// Guests whose last build or reload failed.
    pub failed: BTreeMap<String, Failure>,
    /// The panel is shown (F3).
    pub show: bool,
}

/// The compiler's first error in `output`: the first `error` line that names
/// a source position (cargo's short format, `path:line:col: error: msg`),
/// else the first `error` line, else the first line.
pub fn first_error(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let positioned = |l: &&&str| {
        l.contains(": error")
            && l.split(':')
                .nth(1)
                .is_some_and(|n| n.trim().parse::<u32>().is_ok())
    };
    let pick = lines
        .iter()
        .find(positioned)
        .or_else(|| lines.iter().find(|l| l.trim_start().starts_with("error")))
        .or(lines.first());
    pick.map_or_else(String::new, |l| l.trim().to_string())
}

impl BuildStatus {
    /// Takes a reload report in: a failure sticks, a good build clears it.
    pub fn on(&mut self, e: &DevEvent) {
        match e {
            DevEvent::Failed {
                guest,
                output,
                running,
                at,
            } => {
                self.failed.insert(
                    guest.clone(),
                    Failure {
                        at: *at,
                        running: *running,
                        first: first_error(output),
                    },
                );
                self.show = true;
            }
            DevEvent::Reloaded(r) => {
                self.failed.remove(&r.guest);
            }
            DevEvent::Respawned { guest, .. } => {
                self.failed.remove(guest);
            }
            DevEvent::Building { .. } => {}
        }
        if self.failed.is_empty() {
            self.show = false;
        }
    }

    /// The status line's words for the failures (`service: build failed,
    /// old version running`), if any.
    pub fn status(&self) -> Option<String> {
        let parts: Vec<String> = self
            .failed
            .iter()
            .map(|(g, f)| {
                let what = match f.at {
                    FailedAt::Build => "build failed",
                    FailedAt::Reload => "reload failed",
                };
                let then = if f.running {
                    "old version running"
                } else {
                    "not running"
                };
                format!("{g}: {what}, {then}")
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Rows the panel needs (0 when hidden).
    pub fn height(&self) -> u16 {
        if self.show && !self.failed.is_empty() {
            self.failed.len() as u16 + 2
        } else {
            0
        }
    }
}

impl Component for BuildStatus {
    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        let lines: Vec<Line> = self
            .failed
            .iter()
            .map(|(g, x)| Line::from(format!("{g}: {}", x.first)))
            .collect();
        let p = Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(Style::default().fg(Color::Red))
            .block(block("first error (F3 hides)", focused));
        f.render_widget(p, area);
    }
    fn text(&self) -> String {
        self.failed
            .iter()
            .map(|(g, x)| format!("{g}: {}", x.first))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_is_the_one_with_a_position() {
        let out = "   Compiling service v0.1.0\nwarning: unused variable\nservice/src/lib.rs:14:23: error: expected expression, found `;`\nerror: could not compile `service` (lib) due to 1 previous error\n";
        assert_eq!(
            first_error(out),
            "service/src/lib.rs:14:23: error: expected expression, found `;`"
        );
        assert_eq!(
            first_error("error: could not find `Cargo.toml`\n"),
            "error: could not find `Cargo.toml`"
        );
        assert_eq!(
            first_error("the kernel refused\nmore"),
            "the kernel refused"
        );
    }
}
