use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{ChannelInfo, req};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError};

/// Shows one channel: ring geometry, cursors, writers, parked sides.
#[derive(Parser)]
pub struct Args {
    /// Channel id or name.
    channel: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Show(ChannelInfo);

impl Human for Show {
    fn human(&self) -> String {
        let c = &self.0;
        let mut out = format!(
            "channel {} `{}` ({})\n  data     {} in flight, {} of {} in the data ring\n  frames   {} in flight of {}, {} written, {} dropped\n  full     {}\n  status   {}",
            c.id,
            c.name,
            super::chan_ls::mode(c),
            size(c.bytes_in_flight as u64),
            size(c.data_in_flight as u64),
            size(c.data_cap as u64),
            c.frames_in_flight,
            c.frame_cap,
            c.head_seq,
            c.drops,
            super::chan_ls::occupancy(c),
            c.corrupt.as_deref().unwrap_or("ok"),
        );
        let readers: Vec<Vec<String>> =
            c.readers.iter().map(|r| vec!["reader".into(), r.slot.to_string(), r.pid.to_string(), format!("seq {} lag {}", r.seq, r.lag)]).collect();
        let writers: Vec<Vec<String>> =
            c.writers.iter().map(|w| vec!["writer".into(), w.id.to_string(), w.pid.to_string(), format!("{} frames", w.frames)]).collect();
        let rows: Vec<Vec<String>> = readers.into_iter().chain(writers).collect();
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&table(&["ROLE", "SLOT", "PID", "CURSOR"], &rows));
        }
        if !c.parked_readers.is_empty() || !c.parked_writers.is_empty() {
            out.push_str(&format!("\nparked readers {:?}, writers {:?}", c.parked_readers, c.parked_writers));
        }
        if let Some(r) = &c.held_back_by {
            out.push_str(&format!(
                "\nheld back by pid {} (reader slot {}, {} frames behind): writers wait for it; kill it or revoke its capability",
                r.pid, r.slot, r.lag
            ));
        }
        out
    }
}

fn run(s: &mut Session, a: Args) -> Result<Show, ShellError> {
    s.call(req::Channel { channel: a.channel.as_str().into() }).map(Show)
}

super::command!("chan show", Query, Args, run);
