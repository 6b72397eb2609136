use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Shows bytes of a process's linear memory as a hex dump: a live process
/// (copied by the process itself at its next safe point), or, in `tidemark
/// inspect`, the memory a `dump --memories` holds.
#[derive(Parser)]
pub struct Args {
    /// Process id or name.
    process: String,
    /// First byte: decimal, or hex with `0x`.
    #[arg(default_value = "0", value_parser = address)]
    offset: u64,
    /// Bytes to show (at most 64 KiB; clipped to the memory's end).
    #[arg(long, default_value_t = 256)]
    len: u32,
}

fn address(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("`{s}` is not an address (decimal, or hex with 0x)"))
}

/// Bytes of a process's memory.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Peeked {
    /// Whose.
    pub pid: u32,
    /// Bytes of linear memory the process has.
    pub size: u64,
    /// Where `hex` starts.
    pub offset: u64,
    /// The bytes, as lowercase hex.
    pub hex: String,
}

impl Human for Peeked {
    fn human(&self) -> String {
        let bytes: Vec<u8> = (0..self.hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&self.hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        let mut out = format!(
            "pid {}: {} bytes at {:#x} of {}",
            self.pid,
            bytes.len(),
            self.offset,
            crate::output::size(self.size)
        );
        for (i, row) in bytes.chunks(16).enumerate() {
            let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            let text: String = row
                .iter()
                .map(|b| {
                    if b.is_ascii_graphic() || *b == b' ' {
                        *b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            out.push_str(&format!(
                "\n{:08x}  {:<47}  {text}",
                self.offset + (i * 16) as u64,
                hex.join(" ")
            ));
        }
        out
    }
}

fn run(s: &mut Session, a: Args) -> Result<Peeked, ShellError> {
    let p = s.call(req::Peek {
        process: a.process.as_str().into(),
        offset: a.offset,
        len: a.len,
    })?;
    Ok(Peeked {
        pid: p.pid,
        size: p.size,
        offset: p.offset,
        hex: p.bytes.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

super::command!("peek", Query, Args, run);
