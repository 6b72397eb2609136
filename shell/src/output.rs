//! Command results: one type per result, rendered as human text or JSON
//! from the same value (as ffx's machine writer does).

use serde::Serialize;

/// Human rendering of a result.
pub trait Human {
    /// Text for a terminal, ending without a newline.
    fn human(&self) -> String;
}

/// A command's result.
pub trait Output {
    /// Text for a terminal.
    fn human(&self) -> String;
    /// The same result for machines.
    fn json(&self) -> serde_json::Value;
}

impl<T: Human + Serialize> Output for T {
    fn human(&self) -> String {
        Human::human(self)
    }
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("results serialize")
    }
}

/// Lays out rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// Hex digits (optionally after `0x`) as bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let h = text.trim_start_matches("0x");
    if h.len() % 2 != 0 {
        return Err("hex data needs an even number of digits".into());
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| e.to_string())
}

/// Bytes as text when printable, else as hex.
pub fn show_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => format!("{s:?}"),
        _ => format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// Writes a file a command produced (a dump, a recording, a screenshot),
/// making the directories it lacks; the error names the path.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Bytes with a binary unit.
pub fn size(n: u64) -> String {
    let exact = |shift: u32| n % (1 << shift) == 0;
    match n {
        n if n >= 1 << 20 && exact(20) => format!("{} MiB", n >> 20),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 && exact(10) => format!("{} KiB", n >> 10),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The columns of a process row, as `ps` and the screen show them.
pub const PROCESS_HEAD: [&str; 8] = [
    "PID", "NAME", "STATE", "CAPS", "MEM", "CALLS", "IN/OUT", "DETAIL",
];

/// One process as a row under [`PROCESS_HEAD`].
pub fn process_row(p: &tidemark_protocol::ProcessInfo) -> Vec<String> {
    vec![
        p.pid.to_string(),
        p.name.clone(),
        p.state.name().into(),
        p.caps.to_string(),
        size(p.memory),
        p.counters.hostcalls.to_string(),
        format!("{}/{}", p.counters.frames_in, p.counters.frames_out),
        p.state.detail(),
    ]
}

#[cfg(test)]
mod tests {
    use tidemark_abi::{Class, Classes, Rights};

    /// JSON shows the letters and names the tables show, and reads them back.
    #[test]
    fn bit_sets_are_readable_in_json() {
        assert_eq!(serde_json::to_string(&Rights(0b101)).unwrap(), "\"r-g-\"");
        assert_eq!(
            serde_json::from_str::<Rights>("\"r-g-\"").unwrap(),
            Rights(0b101)
        );
        assert!(serde_json::from_str::<Rights>("\"rx\"").is_err());
        let c = Classes::CORE.with(Class::Log);
        assert_eq!(serde_json::to_string(&c).unwrap(), "[\"core\",\"log\"]");
        assert_eq!(
            serde_json::from_str::<Classes>("[\"core\",\"log\"]").unwrap(),
            c
        );
    }
}

/// How full a channel's ring is, in percent: its data ring or its frame
/// slots, whichever is fuller (`chan ls` and the screen's gauge alike).
pub fn occupancy_pct(c: &tidemark_protocol::ChannelInfo) -> u64 {
    let data = c.data_in_flight as u64 * 100 / c.data_cap.max(1) as u64;
    data.max(c.frames_in_flight as u64 * 100 / c.frame_cap.max(1) as u64)
}
