//! Scripted sessions (`.tms` files): REPL lines plus expectations, for CI.
//!
//! ```text
//! # comments start with '#'; a file containing `# hosted-only` runs only on `hosted`,
//! # one containing `# services` boots init with the system services first
//! chan new req
//! spawn counter --cap req=req:r --cap resp=resp:w
//! chan send req inc
//! ps
//! expect /counter\s+blocked/ within 2s     # re-runs `ps` until its output matches
//! expect event /counter: ready/             # waits for a matching event
//! ! kill 999                                # a command that must fail; its error is its output
//! expect "no process 999"
//! sleep 100ms
//! ```
//!
//! Expectations are written against the human output; `--json` changes only
//! what is printed, so one script serves both.
//!
//! `expect PATTERN` applies to the previous command's output (re-running it
//! while it only reads, until the pattern matches or the timeout passes);
//! `expect event PATTERN` waits for an event line (as `log --events` prints
//! them) after the last event matched. PATTERN is `/regex/` or `"literal"`;
//! the timeout defaults to 5s.

use std::time::{Duration, Instant};

use miette::{Diagnostic, NamedSource, SourceSpan};
use regex::Regex;
use tidemark_protocol::Event;

use crate::commands::{Kind, find};
use crate::session::Session;
use crate::{Rendered, execute_both, render_error, report_link, tokenize};

/// Default time an expectation may take.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(5);

/// Parses `500ms`, `2s`, `1.5s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 2s)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("`{s}`: unit must be ms, s or m")),
    };
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A pattern to look for.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A regular expression.
    Regex(Regex),
    /// A literal substring.
    Literal(String),
}

impl Pattern {
    fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Regex(r) => r.is_match(text),
            Pattern::Literal(l) => text.contains(l.as_str()),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Regex(r) => write!(f, "/{}/", r.as_str()),
            Pattern::Literal(l) => write!(f, "{l:?}"),
        }
    }
}

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    /// A command line; `must_fail` for lines written `! cmd`.
    Command {
        /// The line.
        line: String,
        /// The command must fail.
        must_fail: bool,
    },
    /// Wait.
    Sleep(Duration),
    /// An expectation.
    Expect {
        /// On events rather than the last output.
        event: bool,
        /// Pattern.
        pattern: Pattern,
        /// Timeout.
        within: Duration,
    },
}

/// A parsed script line with its byte span in the source.
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// Byte offset and length of the line's text.
    pub span: (usize, usize),
    /// What to do.
    pub step: Step,
}

/// A script that failed to parse or whose expectation did not hold.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{title}")]
#[diagnostic(code(tidemark::script))]
pub struct ScriptError {
    title: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("{label}")]
    span: SourceSpan,
    label: String,
    #[help]
    help: Option<String>,
    /// 1-based line.
    pub line: usize,
}

/// A parsed script.
pub struct Script {
    /// File name.
    pub name: String,
    /// Source text.
    pub source: String,
    /// Steps.
    pub lines: Vec<Line>,
    /// Marked `# hosted-only`.
    pub hosted_only: bool,
    /// Marked `# services`: its kernel boots init with the system services.
    pub services: bool,
}

fn split_within(rest: &str) -> (&str, Option<&str>) {
    match rest.rfind(" within ") {
        Some(i) => (rest[..i].trim_end(), Some(rest[i + 8..].trim())),
        None => (rest, None),
    }
}

fn parse_pattern(s: &str) -> Result<Pattern, String> {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('/') && s.ends_with('/') {
        Regex::new(&s[1..s.len() - 1])
            .map(Pattern::Regex)
            .map_err(|e| format!("bad regex: {e}"))
    } else if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        Ok(Pattern::Literal(s[1..s.len() - 1].replace("\\\"", "\"")))
    } else {
        Err("a pattern is /regex/ or \"literal\"".into())
    }
}

/// Strips a trailing `# comment` outside quotes and slashes.
fn strip_comment(line: &str) -> &str {
    let (mut quote, mut slash) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if !slash => quote = !quote,
            '/' if !quote && (slash || prev.is_whitespace()) => slash = !slash,
            '#' if !quote && !slash && (i == 0 || prev.is_whitespace()) => {
                return line[..i].trim_end();
            }
            _ => {}
        }
        prev = c;
    }
    line.trim_end()
}

impl Script {
    /// Parses a script; errors point at the offending line.
    pub fn parse(name: &str, source: &str) -> Result<Script, ScriptError> {
        let mut lines = Vec::new();
        let mut offset = 0;
        for (i, raw) in source.split_inclusive('\n').enumerate() {
            let start = offset;
            offset += raw.len();
            let text = strip_comment(raw.trim_end_matches(['\n', '\r']));
            let trimmed = text.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            let lead = text.len() - trimmed.len();
            let span = (start + lead, trimmed.len());
            let err = |msg: String| ScriptError {
                title: format!("{name}:{}: {msg}", i + 1),
                src: NamedSource::new(name, source.to_string()),
                span: span.into(),
                label: "here".into(),
                help: None,
                line: i + 1,
            };
            let step = if let Some(rest) = trimmed.strip_prefix("sleep ") {
                Step::Sleep(parse_duration(rest.trim()).map_err(err)?)
            } else if let Some(rest) = trimmed.strip_prefix("expect ") {
                let (event, rest) = match rest.trim_start().strip_prefix("event ") {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                let (pat, within) = split_within(rest);
                let within = within
                    .map(parse_duration)
                    .transpose()
                    .map_err(&err)?
                    .unwrap_or(DEFAULT_WITHIN);
                Step::Expect {
                    event,
                    pattern: parse_pattern(pat).map_err(&err)?,
                    within,
                }
            } else {
                let (must_fail, line) = match trimmed.strip_prefix('!') {
                    Some(l) => (true, l.trim_start()),
                    None => (false, trimmed),
                };
                let words = tokenize(line).map_err(|e| err(e.to_string()))?;
                if find(&words).is_none() {
                    return Err(err(format!("unknown command `{}`", words.join(" "))));
                }
                Step::Command {
                    line: line.to_string(),
                    must_fail,
                }
            };
            lines.push(Line {
                number: i + 1,
                span,
                step,
            });
        }
        let marked = |m: &str| source.lines().any(|l| l.trim() == m);
        Ok(Script {
            name: name.into(),
            source: source.into(),
            lines,
            hosted_only: marked("# hosted-only"),
            services: marked("# services"),
        })
    }

    fn fail(&self, line: &Line, title: String, label: String, help: String) -> ScriptError {
        ScriptError {
            title: format!("{}:{}: {title}", self.name, line.number),
            src: NamedSource::new(&self.name, self.source.clone()),
            span: line.span.into(),
            label,
            help: Some(help),
            line: line.number,
        }
    }

    /// Runs the script. `echo` receives each command with its output once the
    /// expectations after it have settled, so a command re-run by `expect`
    /// shows the output that satisfied it.
    pub fn run(
        &self,
        s: &mut Session,
        json: bool,
        echo: &mut dyn FnMut(&Line, &str, &str),
    ) -> Result<usize, ScriptError> {
        let mut shown: Option<(&Line, String, Rendered)> = None;
        let r = self.steps(s, json, &mut shown, echo);
        if let Some((l, c, o)) = shown.take() {
            echo(l, &c, &o.printed);
        }
        r
    }

    fn steps<'a>(
        &'a self,
        s: &mut Session,
        json: bool,
        shown: &mut Option<(&'a Line, String, Rendered)>,
        echo: &mut dyn FnMut(&Line, &str, &str),
    ) -> Result<usize, ScriptError> {
        let mut events: Vec<Event> = Vec::new();
        let mut event_cursor = 0;
        let mut checks = 0;
        for line in &self.lines {
            match &line.step {
                Step::Sleep(d) => std::thread::sleep(*d),
                Step::Command {
                    line: cmd,
                    must_fail,
                } => {
                    if let Some((l, c, o)) = shown.take() {
                        echo(l, &c, &o.printed);
                    }
                    let done = execute_both(s, cmd, json);
                    report_link(s);
                    let out = match (done, must_fail) {
                        (Ok(o), false) => o,
                        (Err(e), true) => Rendered {
                            human: render_error(&e, false),
                            printed: render_error(&e, json || crate::wants_json(cmd)),
                        },
                        (Ok(o), true) => {
                            return Err(self.fail(
                                line,
                                "the command succeeded but must fail".into(),
                                "expected to fail".into(),
                                o.human,
                            ));
                        }
                        (Err(e), false) => {
                            return Err(self.fail(
                                line,
                                format!("command failed: {e}"),
                                "this command".into(),
                                e.to_string(),
                            ));
                        }
                    };
                    *shown = Some((line, cmd.clone(), out));
                }
                Step::Expect {
                    event: false,
                    pattern,
                    within,
                } => {
                    checks += 1;
                    let Some((_, cmd, out)) = shown.as_mut() else {
                        return Err(self.fail(
                            line,
                            "nothing to expect on".into(),
                            "no command before this".into(),
                            "put a command first".into(),
                        ));
                    };
                    let kind = tokenize(cmd)
                        .ok()
                        .and_then(|w| find(&w).map(|(c, _)| c.kind));
                    let rerun = matches!(kind, Some(Kind::Query | Kind::Stream));
                    // A stream run again goes on where it stopped: what the
                    // expectation sees (and a failure shows) is everything so far.
                    let continues = kind == Some(Kind::Stream);
                    let deadline = Instant::now() + *within;
                    while !pattern.matches(&out.human) {
                        if !rerun || Instant::now() >= deadline {
                            let (cmd, out) = (cmd.clone(), out.human.clone());
                            return Err(self.fail(
                                line,
                                format!("expected {pattern} in the output of `{cmd}`"),
                                format!("not seen within {within:?}"),
                                format!("last output:\n{out}"),
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(50));
                        s.deadline = Some(deadline);
                        let again = execute_both(s, cmd, json);
                        report_link(s);
                        s.deadline = None;
                        let again = again.unwrap_or_else(|e| Rendered {
                            human: render_error(&e, false),
                            printed: render_error(&e, json || crate::wants_json(cmd)),
                        });
                        match continues {
                            true if again.human == "(no frames)" => {}
                            true if out.human != "(no frames)" => {
                                // Frames are numbered: one seen again (a new tail may
                                // start before frames an earlier one read) counts once.
                                let fresh: Vec<&str> = again
                                    .human
                                    .lines()
                                    .filter(|l| !out.human.lines().any(|o| o == *l))
                                    .collect();
                                if !fresh.is_empty() {
                                    out.human = format!("{}\n{}", out.human, fresh.join("\n"));
                                    out.printed = format!("{}\n{}", out.printed, again.printed);
                                }
                            }
                            _ => *out = again,
                        }
                    }
                }
                Step::Expect {
                    event: true,
                    pattern,
                    within,
                } => {
                    checks += 1;
                    let deadline = Instant::now() + *within;
                    loop {
                        if let Some(i) = events[event_cursor..]
                            .iter()
                            .position(|e| pattern.matches(&crate::commands::event_text(e)))
                        {
                            event_cursor += i + 1;
                            break;
                        }
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            let seen: Vec<String> = events[event_cursor..]
                                .iter()
                                .map(crate::commands::event_text)
                                .collect();
                            return Err(self.fail(
                                line,
                                format!("expected an event matching {pattern}"),
                                format!("not seen within {within:?}"),
                                if seen.is_empty() {
                                    "no new events".into()
                                } else {
                                    format!("events seen:\n{}", seen.join("\n"))
                                },
                            ));
                        }
                        let got = s
                            .client
                            .take_events(left.min(Duration::from_millis(50)))
                            .map_err(|e| {
                                self.fail(
                                    line,
                                    format!("monitor link failed: {e}"),
                                    "while waiting here".into(),
                                    e.to_string(),
                                )
                            })?;
                        // A guest's miss on a board is this session's to fetch.
                        s.serve_fetches().map_err(|e| {
                            self.fail(line, format!("serving a fetch failed: {e}"), "while waiting here".into(), e.to_string())
                        })?;
                        events.extend(got);
                    }
                }
            }
        }
        Ok(checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_and_reports_bad_lines() {
        let s = Script::parse(
            "t.tms",
            "# hosted-only\nps   # list\n\nexpect /a#b/ within 2s\nexpect event \"x\"\n! kill 9\nsleep 10ms\n",
        )
        .unwrap();
        assert!(s.hosted_only);
        assert_eq!(s.lines.len(), 5);
        assert!(
            matches!(&s.lines[1].step, Step::Expect { event: false, within, pattern: Pattern::Regex(r) } if *within == Duration::from_secs(2) && r.as_str() == "a#b")
        );
        assert!(matches!(
            &s.lines[3].step,
            Step::Command {
                must_fail: true,
                ..
            }
        ));
        let e = Script::parse("t.tms", "ps\nfrobnicate now\n")
            .err()
            .unwrap();
        assert_eq!(e.line, 2);
        let e = Script::parse("t.tms", "ps\nexpect oops\n").err().unwrap();
        assert_eq!(e.line, 2);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("2h").is_err());
    }
}
