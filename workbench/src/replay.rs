//! `tidemark replay`: a recorded process's module run again alone, on
//! wasmi or wasmtime, fed the recorded answers; the first call where it
//! does something else is reported.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use tidemark_protocol::{CallSite, ReplayEnd, ReplayReport, recording_from_bytes};

/// The engine a replay runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayEngine {
    /// The interpreter the bare-metal boards run.
    Wasmi,
    /// The JIT the hosted board runs.
    Wasmtime,
}

fn site(c: &CallSite) -> String {
    let args: Vec<String> = c.args.iter().map(i64::to_string).collect();
    format!("{}({})", c.name, args.join(", "))
}

/// The report in words.
pub fn human(r: &ReplayReport) -> String {
    let head = format!(
        "{} (recorded on {}) replayed on {}: {} of {} calls",
        r.package, r.recorded_on, r.engine, r.replayed, r.total
    );
    let speed = if r.elapsed_ns > 0 {
        format!(
            "{:.1} ms, {:.0} calls/s",
            r.elapsed_ns as f64 / 1e6,
            r.replayed as f64 / (r.elapsed_ns as f64 / 1e9)
        )
    } else {
        "0 ms".into()
    };
    match &r.end {
        ReplayEnd::Matched { then } => format!("{head} matched; then it {then} ({speed})"),
        ReplayEnd::Diverged {
            index,
            expected,
            got,
            why,
        } => {
            let mut out = format!("{head}; diverged at call {index}: {why}");
            if let Some(e) = expected {
                out.push_str(&format!("\n  expected {}", site(e)));
            }
            if let Some(g) = got {
                out.push_str(&format!("\n  got      {}", site(g)));
            }
            out
        }
    }
}

/// ns on a monotonic clock.
fn clock() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Replays `file` (with `module` instead of the recorded module, if given).
pub fn run(
    file: &Path,
    engine: ReplayEngine,
    module: Option<&Path>,
    json: bool,
) -> Result<ExitCode, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let rec = recording_from_bytes(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let code = match module {
        Some(m) => std::fs::read(m).map_err(|e| format!("{}: {e}", m.display()))?,
        None => rec.module.clone(),
    };
    let (replayed, end, ran_ns) = match engine {
        ReplayEngine::Wasmi => tidemark_embedded::replay::replay(&code, &rec, clock),
        ReplayEngine::Wasmtime => tidemark_hosted::replay::replay(&code, &rec, clock),
    }
    .map_err(|e| format!("{}: the module does not run: {e}", file.display()))?;
    let report = ReplayReport {
        package: rec.package.clone(),
        recorded_on: format!("{}, {}", rec.board, rec.engine),
        engine: match engine {
            ReplayEngine::Wasmi => "wasmi 2".into(),
            ReplayEngine::Wasmtime => tidemark_hosted::monitor::engine_name().into(),
        },
        replayed,
        total: rec.calls.len(),
        end,
        elapsed_ns: ran_ns,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        println!("{}", human(&report));
    }
    Ok(match report.end {
        ReplayEnd::Matched { .. } => ExitCode::SUCCESS,
        ReplayEnd::Diverged { .. } => ExitCode::from(1),
    })
}
