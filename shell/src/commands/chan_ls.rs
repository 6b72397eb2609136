use clap::Parser;
use serde::Serialize;
use tidemark_protocol::{ChannelInfo, req};

use crate::output::{Human, size, table};
use crate::session::{Session, ShellError};

/// Lists channels with occupancy, drops and parked sides.
#[derive(Parser)]
pub struct Args {}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Channels(Vec<ChannelInfo>);

/// `used/cap` as a percentage.
pub fn occupancy(c: &ChannelInfo) -> String {
    format!("{}%", crate::output::occupancy_pct(c))
}

/// Backpressure, and `single` for a one-writer, one-reader channel.
pub fn mode(c: &ChannelInfo) -> String {
    match c.single {
        true => format!("{} single", c.backpressure.name()),
        false => c.backpressure.name().into(),
    }
}

impl Human for Channels {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    mode(c),
                    format!("{}/{}", size(c.data_cap as u64), c.frame_cap),
                    occupancy(c),
                    c.head_seq.to_string(),
                    c.drops.to_string(),
                    format!("{}/{}", c.readers.len(), c.writers.len()),
                    format!("{}/{}", c.parked_readers.len(), c.parked_writers.len()),
                    c.corrupt.clone().unwrap_or_else(|| "ok".into()),
                ]
            })
            .collect();
        table(&["ID", "NAME", "MODE", "CAPACITY", "FULL", "FRAMES", "DROPS", "R/W", "PARKED", "STATUS"], &rows)
    }
}

fn run(s: &mut Session, _: Args) -> Result<Channels, ShellError> {
    s.call(req::Channels {}).map(Channels)
}

super::command!("chan ls", Query, Args, run);
