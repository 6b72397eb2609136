//! The display pane (F5): what the board's framebuffer shows, drawn with
//! half-block cells (two pixel rows a cell: the upper as the glyph's
//! colour, the lower as the background), scaled to the pane. The
//! collector reads the framebuffer only while the pane is shown, and only
//! after a present ([`tidemark_shell::picture::presents`]).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Paragraph;
use tidemark_shell::picture::Picture;

use super::Snapshot;
use super::panes::{Component, block};

/// The board's framebuffer, as last read.
#[derive(Default)]
pub struct DisplayPane {
    picture: Option<Picture>,
    /// Why there is no picture (a board without a display).
    error: Option<String>,
    /// Shown instead of the memory pane.
    pub shown: bool,
}

impl DisplayPane {
    fn title(&self) -> String {
        match &self.picture {
            Some(p) => format!(
                "display {}x{}, {} presents",
                p.width,
                p.height,
                p.presents.unwrap_or(0)
            ),
            None => "display".into(),
        }
    }
}

impl Component for DisplayPane {
    fn update(&mut self, s: &Snapshot) {
        match &s.display {
            Some(Ok(p)) => {
                self.picture = Some(p.clone());
                self.error = None;
            }
            Some(Err(e)) => self.error = Some(e.clone()),
            None => {}
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, focused: bool) {
        let b = block(&self.title(), focused);
        let inner = b.inner(area);
        f.render_widget(b, area);
        let Some(p) = &self.picture else {
            let text = self.error.as_deref().unwrap_or("reading the framebuffer…");
            f.render_widget(Paragraph::new(text.to_string()), inner);
            return;
        };
        if inner.width == 0 || inner.height == 0 || p.width == 0 || p.height == 0 {
            return;
        }
        let rgb = |x: u32, y: u32| {
            let v = p.at(x, y);
            Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
        };
        // In u64: a picture's sides come from a peer.
        let (pw, ph) = (u64::from(p.width), u64::from(p.height));
        let rows = u64::from(inner.height) * 2;
        let buf = f.buffer_mut();
        for cy in 0..inner.height {
            for cx in 0..inner.width {
                let x = (u64::from(cx) * pw / u64::from(inner.width)) as u32;
                let top = (u64::from(cy) * 2 * ph / rows) as u32;
                let bottom = ((u64::from(cy) * 2 + 1) * ph / rows) as u32;
                if let Some(cell) = buf.cell_mut((inner.x + cx, inner.y + cy)) {
                    cell.set_symbol("▀")
                        .set_fg(rgb(x, top))
                        .set_bg(rgb(x, bottom));
                }
            }
        }
    }

    fn text(&self) -> String {
        match (&self.picture, &self.error) {
            (Some(p), _) => format!("{}, digest {}", self.title(), p.digest()),
            (None, Some(e)) => e.clone(),
            (None, None) => "not read yet".into(),
        }
    }
}
