use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{ChanRef, FrameRecord, req};

use crate::output::{Human, show_bytes};
use crate::session::{Session, ShellError};

/// Follows a channel's frames as the kernel's own reader.
///
/// Interactively it runs until Ctrl-C (which returns to the prompt); in
/// scripts it stops after --count frames or --for a duration (default 500ms;
/// with --count alone, at most 30s). An `expect` after it runs it again until
/// its pattern shows in the frames seen so far, within the expect's time.
/// While tailing, the kernel's reader counts like any reader: it is detached
/// when the tail ends so it never holds writers back, and a later tail starts
/// after the frames already read.
#[derive(Parser)]
pub struct Args {
    /// Channel id or name.
    channel: String,
    /// Stop after this many frames.
    #[arg(long)]
    count: Option<u32>,
    /// Stop after this long (e.g. 2s, 300ms).
    #[arg(long = "for", value_parser = crate::script::parse_duration)]
    duration: Option<Duration>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Tail {
    frames: Vec<FrameRecord>,
    #[serde(skip)]
    streamed: bool,
}

fn line(f: &FrameRecord) -> String {
    format!("#{:<6} pid {:<4} {}", f.seq, f.pid, show_bytes(&f.data))
}

impl Human for Tail {
    fn human(&self) -> String {
        if self.streamed {
            return format!("({} frames)", self.frames.len());
        }
        if self.frames.is_empty() {
            return "(no frames)".into();
        }
        self.frames.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}

/// Longest a non-interactive `chan tail --count N` waits without `--for`.
const SCRIPT_WAIT: Duration = Duration::from_secs(30);

fn run(s: &mut Session, a: Args) -> Result<Tail, ShellError> {
    // Resolved once: a tail follows one channel even if another takes its name.
    let chan = s.call(req::Channel { channel: a.channel.as_str().into() })?;
    let id = ChanRef::Id(chan.id);
    let until = match (a.duration, a.count, s.interactive) {
        (Some(d), _, _) => Some(Instant::now() + d),
        (None, None, false) => Some(Instant::now() + Duration::from_millis(500)),
        // A script waiting for frames that never come must not hang CI.
        (None, Some(_), false) => Some(Instant::now() + SCRIPT_WAIT),
        _ => None,
    };
    // Re-run by an `expect`: stop when its `within` runs out.
    let until = match (until, s.deadline) {
        (Some(u), Some(d)) => Some(u.min(d)),
        (u, d) => u.or(d),
    };
    let streamed = s.interactive;
    let _ = s.take_interrupt();
    let mut frames = Vec::new();
    let result = loop {
        let want = a.count.map_or(256, |c| c.saturating_sub(frames.len() as u32).min(256));
        if want == 0 || until.is_some_and(|u| Instant::now() >= u) || s.take_interrupt() {
            break Ok(());
        }
        match s.call(req::Tail { channel: id.clone(), max: want }) {
            Ok(got) => {
                if streamed {
                    let mut out = std::io::stdout().lock();
                    for f in &got {
                        let _ = writeln!(out, "{}", line(f));
                    }
                }
                if got.is_empty() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                frames.extend(got);
            }
            Err(e) => break Err(e),
        }
    };
    let _ = s.call(req::Untail { channel: id });
    result.map(|_| Tail { frames, streamed })
}

super::command!("chan tail", Stream, Args, run);
