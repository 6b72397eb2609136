//! `tidemark run`: scripted sessions with a report and an exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use tidemark_shell::script::Script;

use crate::Board;

struct Outcome {
    name: String,
    seconds: f64,
    failure: Option<String>,
    skipped: bool,
}

/// Runs one script on an attached session, reporting like `tidemark run`.
pub fn one(path: &Path, session: &mut tidemark_shell::Session, json: bool) -> ExitCode {
    let name = path.display().to_string();
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tidemark: {name}: {e}");
            return ExitCode::from(2);
        }
    };
    let script = match Script::parse(&name, &source) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(2);
        }
    };
    match script.run(session, json, &mut |line, cmd, out| {
        echo(&name, json, line, cmd, out)
    }) {
        Ok(checks) => {
            eprintln!("{name}: ok ({checks} expectations)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(1)
        }
    }
}

/// Prints a command and its output as a script runs.
fn echo(name: &str, json: bool, line: &tidemark_shell::script::Line, cmd: &str, out: &str) {
    if json {
        let output = serde_json::from_str::<serde_json::Value>(out)
            .unwrap_or_else(|_| serde_json::Value::String(out.into()));
        println!(
            "{}",
            serde_json::json!({ "script": name, "line": line.number, "command": cmd, "output": output })
        );
    } else {
        println!("tms> {cmd}");
        if !out.is_empty() {
            println!("{out}");
        }
    }
}

/// Runs each script on a fresh kernel (or the attached one).
/// Each fresh kernel gets `setup` (the project's guests, keys, server, lock).
pub fn scripts(
    paths: &[PathBuf],
    board: Board,
    attach: Option<&tidemark_shell::serial::Address>,
    setup: &crate::boot::Setup,
    json: bool,
    junit: Option<&Path>,
    dump_on_trap: Option<&Path>,
) -> Result<ExitCode, String> {
    let Some(outcomes) = run_each(paths, board, attach, setup, json, dump_on_trap, &mut |name, line, cmd, out| {
        echo(name, json, line, cmd, out)
    })?
    else {
        return Ok(ExitCode::from(2));
    };
    report(&outcomes, junit)
}

/// Runs the scripts on each board in turn and compares their `--json`
/// answers ([`crate::compare`]); exits 0 only when every script passed on
/// every board and the answers agree.
pub fn on_boards(
    paths: &[PathBuf],
    boards: &[Board],
    setup: &crate::boot::Setup,
    json: bool,
    junit: Option<&Path>,
    dump_on_trap: Option<&Path>,
) -> Result<ExitCode, String> {
    let mut all = Vec::new();
    let mut runs = Vec::new();
    for board in boards {
        eprintln!("on {}:", board.name());
        let mut answers = Vec::new();
        let Some(outcomes) = run_each(paths, *board, None, setup, true, dump_on_trap, &mut |name, line, cmd, out| {
            answers.push(crate::compare::Answer {
                script: name.to_string(),
                line: line.number,
                command: cmd.to_string(),
                output: serde_json::from_str(out).unwrap_or_else(|_| serde_json::Value::String(out.into())),
            })
        })?
        else {
            return Ok(ExitCode::from(2));
        };
        all.extend(outcomes.into_iter().map(|o| Outcome {
            name: format!("{}: {}", board.name(), o.name),
            ..o
        }));
        runs.push(answers);
    }
    let names: Vec<String> = boards.iter().map(|b| b.name().to_string()).collect();
    let c = crate::compare::compare(&names, &runs);
    if json {
        println!("{}", serde_json::to_string_pretty(&c).expect("json"));
    } else {
        println!("{}", c.human());
    }
    let code = report(&all, junit)?;
    Ok(if code == ExitCode::SUCCESS && c.differences.is_empty() && c.unmatched.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs each script on a fresh kernel of `board` (or the attached one),
/// handing every command and its output to `echo`; `None` when a script
/// does not parse (reported).
fn run_each(
    paths: &[PathBuf],
    board: Board,
    attach: Option<&tidemark_shell::serial::Address>,
    setup: &crate::boot::Setup,
    json: bool,
    dump_on_trap: Option<&Path>,
    echo: &mut dyn FnMut(&str, &tidemark_shell::script::Line, &str, &str),
) -> Result<Option<Vec<Outcome>>, String> {
    let mut outcomes = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
        let script = match Script::parse(&name, &source) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                return Ok(None);
            }
        };
        if script.hosted_only && (board.name() != "hosted" || attach.is_some()) {
            eprintln!("{name}: skipped on {} (hosted-only)", board.name());
            outcomes.push(Outcome {
                name,
                seconds: 0.0,
                failure: None,
                skipped: true,
            });
            continue;
        }
        let start = Instant::now();
        let (mut session, _kernel) = crate::boot::session(board, attach, setup)?;
        session.dump_on_trap = dump_on_trap.map(Path::to_path_buf);
        if script.services && setup.userland.is_none() && attach.is_none() {
            let userland = crate::userland::Userland::default();
            crate::userland::deploy::boot(&mut session.client, &userland, &[], &[])?;
        }
        let result = script.run(&mut session, json, &mut |line, cmd, out| echo(&name, line, cmd, out));
        let seconds = start.elapsed().as_secs_f64();
        let failure = match result {
            Ok(checks) => {
                eprintln!("{name}: ok ({checks} expectations, {seconds:.2}s)");
                None
            }
            Err(e) => {
                let text = format!("{:?}", miette::Report::new(e));
                eprintln!("{text}");
                Some(text)
            }
        };
        outcomes.push(Outcome {
            name,
            seconds,
            failure,
            skipped: false,
        });
    }
    Ok(Some(outcomes))
}

/// Prints the tally, writes the JUnit report; the exit code.
fn report(outcomes: &[Outcome], junit: Option<&Path>) -> Result<ExitCode, String> {
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let passed = outcomes
        .iter()
        .filter(|o| o.failure.is_none() && !o.skipped)
        .count();
    let skipped = outcomes.iter().filter(|o| o.skipped).count();
    eprintln!("scripts: {passed} passed, {failed} failed, {skipped} skipped");
    if let Some(path) = junit {
        std::fs::write(path, junit_xml(outcomes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit_xml(outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let skipped = outcomes.iter().filter(|o| o.skipped).count();
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"tidemark\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
        outcomes.len()
    );
    for o in outcomes {
        x.push_str(&format!(
            "  <testcase name=\"{}\" time=\"{:.3}\"",
            xml_escape(&o.name),
            o.seconds
        ));
        match (&o.failure, o.skipped) {
            (Some(f), _) => x.push_str(&format!(
                ">\n    <failure message=\"expectation failed\">{}</failure>\n  </testcase>\n",
                xml_escape(f)
            )),
            (None, true) => x.push_str(">\n    <skipped/>\n  </testcase>\n"),
            (None, false) => x.push_str("/>\n"),
        }
    }
    x.push_str("</testsuite>\n");
    x
}
