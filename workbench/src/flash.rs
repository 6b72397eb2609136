//! `tidemark flash --board esp32c6`: build the kernel image with its boot
//! bundle, turn the ELF into the chip's flash layout (second-stage
//! bootloader, partition table, app) with the espflash library, and write
//! it: over the board's USB port with espflash's serial protocol (the
//! default), or through a debug probe with probe-rs (`--probe`). Then the
//! chip is reset into the kernel and, unless `--no-attach`, the REPL is
//! attached over the same USB cable. `--save-image FILE` writes the merged
//! flash image instead of flashing (no board needed: CI builds it).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use crate::Board;
use crate::board::{Boot, Flash};
use crate::firmware::Variant;

/// What `flash` did, for the human line and `--json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Flashed {
    /// Board.
    pub board: String,
    /// Chip.
    pub chip: String,
    /// The kernel ELF.
    pub elf: PathBuf,
    /// Monitor transport built in (`serial` or `rtt`).
    pub transport: String,
    /// Flash regions written, in address order.
    pub segments: Vec<Segment>,
    /// How it was written: `espflash`, `probe-rs`, or `saved` (to a file).
    pub via: String,
    /// The port, probe or file written to.
    pub to: String,
    /// Time spent writing, in ms (0 when saved).
    pub write_ms: u64,
}

/// One flash region.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Segment {
    /// Flash offset.
    pub addr: u32,
    /// Bytes.
    pub bytes: u64,
    /// `bootloader`, `partition-table` or `app`.
    pub what: String,
}

/// Options of `tidemark flash`.
pub struct Options {
    pub board: Board,
    pub port: Option<PathBuf>,
    pub probe: Option<String>,
    pub transport: Option<String>,
    pub save_image: Option<PathBuf>,
    pub attach: bool,
    pub json: bool,
}

fn flash_spec(board: Board) -> Result<&'static Flash, String> {
    match &board.manifest().boot {
        Boot::Flash(f) => Ok(f),
        Boot::InProcess => Err(format!(
            "board `{}` runs inside the workbench: nothing to flash",
            board.name()
        )),
        Boot::Emulator(e) => Err(format!(
            "board `{}` is booted by {} (`tidemark boot {}`): nothing to flash",
            board.name(),
            e.name(),
            board.name()
        )),
    }
}

fn chip(name: &str) -> Result<espflash::target::Chip, String> {
    match name {
        "esp32c6" => Ok(espflash::target::Chip::Esp32c6),
        other => Err(format!("espflash: chip `{other}` is not supported here")),
    }
}

/// The ELF as espflash's ESP-IDF image: its bundled second-stage
/// bootloader, the default partition table, the app (which must carry the
/// app descriptor, `esp_app_desc!`).
fn image<'a>(
    elf: &'a [u8],
    chip: espflash::target::Chip,
) -> Result<espflash::image_format::ImageFormat<'a>, String> {
    use espflash::flasher::{FlashData, FlashSettings};
    let data = FlashData::new(
        FlashSettings::default(),
        0,
        None,
        chip,
        chip.default_xtal_frequency(),
    );
    espflash::image_format::idf::IdfBootloaderFormat::new(elf, &data, None, None, None, None)
        .map(Into::into)
        .map_err(|e| format!("espflash cannot make a flash image of the kernel: {e}"))
}

/// The ELF as the chip's flash layout: bootloader, partition table, app.
pub fn layout(elf: &[u8], chip_name: &str) -> Result<Vec<(u32, Vec<u8>, &'static str)>, String> {
    let mut segs: Vec<_> = image(elf, chip(chip_name)?)?
        .flash_segments()
        .into_iter()
        .map(|s| {
            let what = match s.addr {
                0x0 => "bootloader",
                0x8000 => "partition-table",
                _ => "app",
            };
            (s.addr, s.data.into_owned(), what)
        })
        .collect();
    segs.sort_by_key(|s| s.0);
    Ok(segs)
}

/// `tidemark flash`.
pub fn run(o: Options) -> Result<ExitCode, String> {
    let report = write(&o)?;
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", report.human());
    }
    if o.attach && report.via != "saved" {
        let addr = match (report.transport.as_str(), &o.probe) {
            ("rtt", Some(p)) => tidemark_shell::serial::Address::Rtt(p.clone()),
            ("rtt", None) => {
                return Err("the RTT monitor is read through a debug probe: flash with --probe SERIAL, or attach with `tidemark attach rtt:SERIAL`".into());
            }
            _ => crate::boot::find(o.board)?,
        };
        let (mut s, _k) =
            crate::boot::session(o.board, Some(&addr), &crate::boot::Setup::default())?;
        return crate::interact(&mut s, o.json);
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the image and writes it (or saves it) as `o` says.
pub fn write(o: &Options) -> Result<Flashed, String> {
    let spec = flash_spec(o.board)?;
    let transport = o
        .transport
        .clone()
        .unwrap_or_else(|| o.board.manifest().transport.kind.clone());
    if !matches!(transport.as_str(), "serial" | "rtt") {
        return Err(format!(
            "transport `{transport}`: the {} speaks `serial` or `rtt`",
            o.board.name()
        ));
    }
    let elf_path =
        crate::firmware::build_for(o.board, Variant::Kernel { guests: true }, &transport)?;
    let elf = std::fs::read(&elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let segs = layout(&elf, &spec.chip)?;
    let segments = segs
        .iter()
        .map(|(addr, d, what)| Segment {
            addr: *addr,
            bytes: d.len() as u64,
            what: (*what).into(),
        })
        .collect();
    let started = Instant::now();
    let (via, to) = if let Some(file) = &o.save_image {
        save(file, &segs)?;
        ("saved", file.display().to_string())
    } else if let Some(probe) = &o.probe {
        crate::probes::flash(probe, &spec.chip, &elf_path)?;
        ("probe-rs", probe.clone())
    } else {
        let port = with_espflash(o.port.as_deref(), spec, &elf)?;
        ("espflash", port)
    };
    Ok(Flashed {
        board: o.board.name().into(),
        chip: spec.chip.clone(),
        elf: elf_path,
        transport,
        segments,
        via: via.into(),
        to,
        write_ms: if via == "saved" {
            0
        } else {
            started.elapsed().as_millis() as u64
        },
    })
}

impl Flashed {
    fn human(&self) -> String {
        let size = tidemark_shell::output::size;
        let mut s = format!(
            "{} ({}): {} transport, {}\n",
            self.board,
            self.chip,
            self.transport,
            self.elf.display()
        );
        for seg in &self.segments {
            s.push_str(&format!(
                "  {:#08x}  {:>10}  {}\n",
                seg.addr,
                size(seg.bytes),
                seg.what
            ));
        }
        match self.via.as_str() {
            "saved" => s.push_str(&format!("saved to {}", self.to)),
            v => s.push_str(&format!(
                "written with {v} to {} in {:.1} s",
                self.to,
                self.write_ms as f64 / 1e3
            )),
        }
        s
    }
}

/// One file of the whole flash from 0: gaps erased (0xff), as
/// `espflash write-bin 0x0 FILE` or any flasher writes it.
fn save(file: &Path, segs: &[(u32, Vec<u8>, &str)]) -> Result<(), String> {
    let end = segs
        .iter()
        .map(|(a, d, _)| *a as usize + d.len())
        .max()
        .unwrap_or(0);
    let mut out = vec![0xffu8; end];
    for (a, d, _) in segs {
        out[*a as usize..*a as usize + d.len()].copy_from_slice(d);
    }
    std::fs::write(file, out).map_err(|e| format!("{}: {e}", file.display()))
}

/// The board's USB port: the one given, else the one with the board's id.
fn port_info(given: Option<&Path>, spec: &Flash) -> Result<serialport::SerialPortInfo, String> {
    let ports =
        serialport::available_ports().map_err(|e| format!("cannot list serial ports: {e}"))?;
    let found = ports.into_iter().find(|p| match given {
        Some(path) => Path::new(&p.port_name) == path || std::fs::canonicalize(path).ok().as_deref() == Some(Path::new(&p.port_name)),
        None => matches!(&p.port_type, serialport::SerialPortType::UsbPort(u) if u.vid == spec.vid && u.pid == spec.pid),
    });
    found.ok_or_else(|| match given {
        Some(p) => format!("{} is not a serial port here (`tidemark ports --all` lists them)", p.display()),
        None => format!(
            "no {} found on USB (id {:04x}:{:04x}): is it plugged in? `tidemark ports` lists what is; --port PATH picks one",
            spec.chip, spec.vid, spec.pid
        ),
    })
}

/// Resets a flashed board into its kernel (espflash's hard reset over the
/// USB control lines: USB-Serial-JTAG's way for 303a:1001), so a session
/// starts on a fresh kernel as on every other board.
pub fn reset(board: Board) -> Result<(), String> {
    use espflash::connection::{Connection, ResetAfterOperation, ResetBeforeOperation};
    let spec = flash_spec(board)?;
    let info = port_info(None, spec)?;
    let serialport::SerialPortType::UsbPort(usb) = info.port_type.clone() else {
        return Err(format!("{}: not a USB port", info.port_name));
    };
    let serial = serialport::new(&info.port_name, 115_200)
        .open_native()
        .map_err(|e| format!("{}: {e}", info.port_name))?;
    Connection::new(
        serial,
        usb,
        ResetAfterOperation::HardReset,
        ResetBeforeOperation::DefaultReset,
        115_200,
    )
    .reset()
    .map_err(|e| {
        format!(
            "cannot reset the {} on {}: {e}",
            board.name(),
            info.port_name
        )
    })
}

/// Flashes over the USB port with espflash's serial protocol; returns the port.
fn with_espflash(given: Option<&Path>, spec: &Flash, elf: &[u8]) -> Result<String, String> {
    use espflash::connection::{Connection, ResetAfterOperation, ResetBeforeOperation};
    use espflash::flasher::Flasher;
    let info = port_info(given, spec)?;
    let usb = match &info.port_type {
        serialport::SerialPortType::UsbPort(u) => u.clone(),
        _ => {
            return Err(format!(
                "{}: not a USB port; espflash resets the chip through USB control lines",
                info.port_name
            ));
        }
    };
    let serial = serialport::new(&info.port_name, 115_200)
        .flow_control(serialport::FlowControl::None)
        .open_native()
        .map_err(|e| format!("{}: {e}", info.port_name))?;
    let conn = Connection::new(
        serial,
        usb,
        ResetAfterOperation::HardReset,
        ResetBeforeOperation::DefaultReset,
        115_200,
    );
    let mut flasher = Flasher::connect(conn, true, true, true, Some(chip(&spec.chip)?), None)
        .map_err(|e| {
            format!(
                "espflash: cannot talk to the bootloader on {}: {e}",
                info.port_name
            )
        })?;
    let image = image(elf, flasher.chip())?;
    // Writes each region (skipping those already there), then resets the
    // chip into the kernel the USB-Serial-JTAG way.
    flasher
        .load_image_to_flash(&mut Progress::new(), image)
        .map_err(|e| format!("espflash: flashing {} failed: {e}", info.port_name))?;
    Ok(info.port_name)
}

/// A progress bar on stderr (a line per region when it is not a terminal).
pub struct Progress {
    tty: bool,
    addr: u32,
    total: usize,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            addr: 0,
            total: 0,
        }
    }

    /// Progress as a fraction (probe-rs counts bytes over every operation).
    pub fn fraction(&mut self, done: u64, total: u64) {
        self.total = 1000;
        self.bar(if total == 0 {
            0
        } else {
            (done.min(total) * 1000 / total) as usize
        });
    }

    fn bar(&self, done: usize) {
        if self.tty && self.total > 0 {
            let filled = done * 30 / self.total;
            eprint!(
                "\r  {:#08x} [{}{}] {:>3}%",
                self.addr,
                "#".repeat(filled),
                ".".repeat(30 - filled),
                done * 100 / self.total
            );
        }
    }
}

impl espflash::target::ProgressCallbacks for Progress {
    fn init(&mut self, addr: u32, total: usize) {
        self.addr = addr;
        self.total = total;
        if !self.tty {
            eprintln!("tidemark: writing {addr:#08x}");
        }
        self.bar(0);
    }
    fn update(&mut self, current: usize) {
        self.bar(current.min(self.total));
    }
    fn verifying(&mut self) {
        if self.tty {
            eprint!(" verifying");
        }
    }
    fn finish(&mut self, skipped: bool) {
        match (self.tty, skipped) {
            (true, true) => eprintln!(
                "\r  {:#08x} unchanged, skipped{}",
                self.addr,
                " ".repeat(30)
            ),
            (true, false) => {
                self.bar(self.total);
                eprintln!();
            }
            (false, true) => eprintln!("tidemark: {:#08x} unchanged, skipped", self.addr),
            (false, false) => {}
        }
    }
}
