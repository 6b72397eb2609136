//! Tidemark's shell: the command registry, the REPL, scripted sessions and
//! the monitor client. Everything here talks to a kernel only through the
//! monitor protocol, so it runs the same against every kind of instance.
#![warn(missing_docs)]

pub mod client;
pub mod services;
pub mod commands;
pub mod fetch;
pub mod graph;
pub mod inspect;
pub mod mux;
pub mod output;
pub mod picture;
pub mod repl;
pub mod script;
pub mod serial;
pub mod session;
pub mod waits;

pub use client::Client;
pub use session::{Session, ShellError};

/// Splits a command line into words: whitespace separates, `"..."` and
/// `'...'` quote, `\` escapes inside double quotes.
pub fn tokenize(line: &str) -> Result<Vec<String>, ShellError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => cur.push('\n'),
                            Some('t') => cur.push('\t'),
                            Some(o) => cur.push(o),
                            None => return Err(ShellError::Usage("unfinished escape".into())),
                        },
                        Some(o) => cur.push(o),
                        None => return Err(ShellError::Usage("unclosed \"".into())),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(o) => cur.push(o),
                        None => return Err(ShellError::Usage("unclosed '".into())),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// A line's result rendered both ways.
pub struct Rendered {
    /// Human text.
    pub human: String,
    /// What to print: the human text, or pretty JSON.
    pub printed: String,
}

/// Runs one line and renders its result; `json` (or the line's own
/// `--json` flag) prints JSON.
pub fn execute_both(session: &mut Session, line: &str, json: bool) -> Result<Rendered, ShellError> {
    execute_words(session, tokenize(line)?, json)
}

/// As [`execute_both`], for a line already split into words (a caller
/// holding a path need not quote it).
pub fn execute_words(
    session: &mut Session,
    words: Vec<String>,
    json: bool,
) -> Result<Rendered, ShellError> {
    if words.is_empty() {
        return Ok(Rendered {
            human: String::new(),
            printed: String::new(),
        });
    }
    let (out, flag) = commands::run_line(session, words)?;
    let human = out.human();
    let printed = if json || flag {
        serde_json::to_string_pretty(&out.json()).expect("json")
    } else {
        human.clone()
    };
    Ok(Rendered { human, printed })
}

/// Whether a line asks for JSON itself (`--json` among its words, before any `--`).
pub fn wants_json(line: &str) -> bool {
    tokenize(line).is_ok_and(|w| w.iter().take_while(|w| *w != "--").any(|w| w == "--json"))
}

/// How an error prints: `error: ...`, or with `json` the
/// `{"error": {kind, code, message}}` object.
pub fn render_error(e: &ShellError, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(&e.json()).expect("json")
    } else {
        format!("error: {e}")
    }
}

/// Runs one line, printing its output to stdout or its error to stderr;
/// returns whether it succeeded.
pub fn run_and_print(session: &mut Session, line: &str, json: bool) -> bool {
    let r = execute(session, line, json);
    print_result(session, r, json || wants_json(line))
}

/// As [`run_and_print`], for a line already split into words.
pub fn run_words_and_print(session: &mut Session, words: Vec<String>, json: bool) -> bool {
    let r = execute_words(session, words, json).map(|r| r.printed);
    print_result(session, r, json)
}

fn print_result(session: &mut Session, r: Result<String, ShellError>, json: bool) -> bool {
    report_link(session);
    match r {
        Ok(out) => {
            // A reader that went away (`| head`) ends the output, not the
            // program with a panic.
            if !out.is_empty() {
                use std::io::Write;
                let _ = writeln!(std::io::stdout(), "{out}");
            }
            true
        }
        Err(e) => {
            eprintln!("{}", render_error(&e, json));
            false
        }
    }
}

/// Tells the user on stderr what happened to a serial link meanwhile
/// ("link down: ...", "reattached after 0.40 s"), and where the crash
/// dumps of processes that trapped went ([`Session::save_crash_dumps`]).
pub fn report_link(session: &mut Session) {
    for n in session.client.take_notices() {
        eprintln!("tidemark: {n}");
    }
    for n in session.save_crash_dumps() {
        eprintln!("tidemark: {n}");
    }
}

/// Runs one line: returns what to print (human, or pretty JSON with `json`
/// or the line's `--json` flag).
pub fn execute(session: &mut Session, line: &str, json: bool) -> Result<String, ShellError> {
    execute_both(session, line, json).map(|r| r.printed)
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn tokenizer_quotes_and_escapes() {
        assert_eq!(
            tokenize(r#"chan send req "add 10"  'a b' x\y"#).unwrap(),
            ["chan", "send", "req", "add 10", "a b", "x\\y"]
        );
        assert_eq!(tokenize(r#"say "a\"b\n""#).unwrap(), ["say", "a\"b\n"]);
        assert_eq!(tokenize(r#"x """#).unwrap(), ["x", ""]);
        assert!(tokenize(r#"x "open"#).is_err());
    }
}
