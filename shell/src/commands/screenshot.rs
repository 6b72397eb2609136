use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

use crate::output::{Human, size};
use crate::session::{Session, ShellError};

/// Writes what the board's display shows to a PNG file: the kernel's
/// framebuffer (granted to guests as `display`), read over the monitor.
#[derive(Parser)]
pub struct Args {
    /// PNG file to write.
    #[arg(default_value = "tidemark.png")]
    file: PathBuf,
    /// Read what the board's display device scans out instead (QEMU's
    /// virtio-gpu), where the workbench booted the board.
    #[arg(long)]
    scanout: bool,
    /// How to read the scan-out: `dbus` (QEMU's D-Bus display, attached
    /// to at boot: a workbench built with the `qemu-display` feature) or
    /// `qmp` (QEMU's `screendump`); the first there is when left out.
    #[arg(long, value_parser = ["dbus", "qmp"], requires = "scanout")]
    via: Option<String>,
}


/// What was written.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Shot {
    /// The file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Where the pixels came from: `framebuffer` or `scanout`.
    pub source: String,
    /// How they were read: `monitor` (the kernel's framebuffer), `qmp`
    /// or `dbus` (QEMU's scan-out).
    pub via: String,
    /// The display's presents when read (framebuffer only).
    pub presents: Option<u64>,
    /// A digest of the size and pixels: equal for equal pictures, however read.
    pub digest: String,
}

impl Human for Shot {
    fn human(&self) -> String {
        let presents = self
            .presents
            .map_or(String::new(), |p| format!(", {p} presents"));
        format!(
            "wrote {} ({}): {}x{} from the {} (via {}){presents}, digest {}",
            self.file.display(),
            size(self.bytes),
            self.width,
            self.height,
            self.source,
            self.via,
            self.digest
        )
    }
}

fn run(s: &mut Session, a: Args) -> Result<Shot, ShellError> {
    let (pic, source, via) = if a.scanout {
        let found = s
            .scanouts
            .iter_mut()
            .find(|r| a.via.as_deref().is_none_or(|v| v == r.via));
        let reader = found.ok_or_else(|| {
            ShellError::Usage(
                "no scan-out to read here: --scanout needs a QEMU board the workbench booted (without --attach)".into(),
            )
        })?;
        ((reader.read)().map_err(ShellError::Usage)?, "scanout", reader.via)
    } else {
        (crate::picture::fetch(&mut s.client)?, "framebuffer", "monitor")
    };
    let bytes = pic.write_png(&a.file).map_err(ShellError::Usage)?;
    Ok(Shot {
        file: a.file,
        bytes,
        width: pic.width,
        height: pic.height,
        source: source.into(),
        via: via.into(),
        presents: pic.presents,
        digest: pic.digest(),
    })
}

super::command!("screenshot", Query, Args, run);
