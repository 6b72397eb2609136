//! Errors at a place in a TOML file the workbench reads (a project's
//! `Tidemark.toml`, a board's `board.toml`), shown by miette with the span.

use std::fmt::Display;
use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// An error at a place in a TOML file.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TomlError {
    code: &'static str,
    message: String,
    src: NamedSource<String>,
    span: Option<SourceSpan>,
    label: String,
    help: Option<String>,
}

impl TomlError {
    /// An error in file `name` holding `text`; `code` is the diagnostic code
    /// (`tidemark::manifest`, `tidemark::board`).
    pub fn new(
        code: &'static str,
        name: &str,
        text: &str,
        message: String,
        span: Option<Range<usize>>,
        label: &str,
        help: Option<String>,
    ) -> Box<TomlError> {
        Box::new(TomlError {
            code,
            message,
            src: NamedSource::new(name, text.to_string()),
            span: span.map(|r| SourceSpan::from(r.start..r.end)),
            label: label.into(),
            help,
        })
    }

    /// Replaces the help line.
    pub fn with_help(mut self: Box<Self>, help: &str) -> Box<TomlError> {
        self.help = Some(help.into());
        self
    }
}

impl Diagnostic for TomlError {
    fn code<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            span,
        ))))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn Display + 'a>)
    }
}
