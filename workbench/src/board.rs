//! Board manifests, `boards/<name>/board.toml`: what a board is (name, arch,
//! target, engine, memory budget, transport) and how the workbench builds and
//! boots it. Every manifest is compiled in (see `build.rs`), so an installed
//! binary knows its boards away from the source tree, and the boards
//! `--board` accepts are theirs. Errors are miette diagnostics pointing at
//! the offending span. The fields are documented in docs/architecture.md,
//! "Boards".

use std::ffi::{OsStr, OsString};
use std::ops::Range;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/boards.rs"));
}

/// A manifest error at a place in the file.
pub type BoardError = crate::toml_error::TomlError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    board: RawBoard,
    memory: Option<RawMemory>,
    limits: Option<RawLimits>,
    transport: RawTransport,
    build: Option<RawBuild>,
    boot: RawBoot,
    packages: Option<crate::pkg::config::RawPackages>,
    display: Option<RawDisplay>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisplay {
    width: Spanned<u32>,
    height: Spanned<u32>,
    device: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    processes: Option<Spanned<u32>>,
    children: Option<Spanned<u32>>,
    depth: Option<Spanned<u32>>,
    channels: Option<Spanned<u32>>,
    regions: Option<Spanned<u32>>,
    arena_bytes: Option<Spanned<String>>,
    caps: Option<Spanned<u32>>,
    log_lines: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    name: Spanned<String>,
    description: String,
    arch: String,
    target: Option<String>,
    engine: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMemory {
    ram: Spanned<String>,
    heap: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    kind: Spanned<String>,
    device: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    #[serde(rename = "crate")]
    krate: String,
    bin: String,
    profile: String,
    bundle: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoot {
    kind: Spanned<String>,
    command: Option<Spanned<String>>,
    args: Option<Spanned<Vec<Spanned<String>>>>,
    install: Option<String>,
    chip: Option<Spanned<String>>,
    usb: Option<Spanned<String>>,
}

/// A size as written (`128M`) and in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Size {
    /// As written in the manifest (what `{ram}` expands to).
    pub text: String,
    /// Bytes.
    pub bytes: u64,
}

/// Parses `N` followed by `K`, `M` or `G` (binary units, as QEMU reads them).
pub(crate) fn size(text: &str) -> Option<Size> {
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let shift = match unit {
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => return None,
    };
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    Some(Size {
        text: text.into(),
        bytes: n.checked_mul(1 << shift)?,
    })
}

/// The kernel's heap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heap {
    /// All of RAM after the image and the stacks.
    Rest,
    /// A fixed size.
    Fixed(Size),
}

/// `[memory]`: the board's memory budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    /// RAM the machine has.
    pub ram: Size,
    /// The kernel's heap, out of `ram`.
    pub heap: Heap,
}

/// `[transport]`: how the monitor reaches the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport {
    /// `in-process` or `serial`.
    pub kind: String,
    /// The device carrying it, for `serial`.
    pub device: Option<String>,
}

/// `[build]`: the kernel image crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// Crate directory, relative to the board's directory.
    pub krate: String,
    /// The kernel binary.
    pub bin: String,
    /// Cargo profile.
    pub profile: String,
    /// The guests linked in as the boot bundle (all of them without).
    pub bundle: Option<Vec<String>>,
}

/// A program on this machine that runs the board's image and serves its
/// monitor link on a Unix socket: QEMU (its UART), or Node (the wasm-js
/// runtime). The workbench boots and attaches to both the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emulator {
    /// `[boot] kind`: `qemu` or `node`.
    pub kind: String,
    /// Program.
    pub command: String,
    /// Arguments, with `{ram}`, `{image}`, `{socket}`, `{qmp}`, `{display}` and `{board}` placeholders.
    pub args: Vec<String>,
    /// Command that installs `command`.
    pub install: String,
}

/// `[boot]`: how the workbench boots the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// The kernel inside the workbench's process.
    InProcess,
    /// The image in QEMU, or in Node's wasm-js runtime: the monitor link
    /// on a Unix socket.
    Emulator(Emulator),
    /// The image flashed to a chip, reached over USB.
    Flash(Flash),
}

/// `[boot] kind = "flash"`: a board the workbench flashes, then finds on USB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// The chip espflash and probe-rs are told (`esp32c6`).
    pub chip: String,
    /// The board's USB vendor id, to find it by.
    pub vid: u16,
    /// The board's USB product id.
    pub pid: u16,
}

/// A loaded, validated board manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Name (its directory under `boards/`).
    pub name: String,
    /// One line, for `--help`.
    pub description: String,
    /// CPU architecture.
    pub arch: String,
    /// Rust target triple of the kernel image (none: built into the workbench).
    pub target: Option<String>,
    /// Wasm engine, as the kernel's `info` reports it.
    pub engine: String,
    /// Memory budget (none: the host process's).
    pub memory: Option<Memory>,
    /// Monitor transport.
    pub transport: Transport,
    /// Kernel image crate.
    pub build: Option<Build>,
    /// How it boots.
    pub boot: Boot,
    /// `[limits]`: what one guest may make the kernel hold.
    pub limits: Limits,
    /// `[packages]`: cache slots, package-size cap, trusted keys.
    pub packages: crate::pkg::config::Packages,
    /// `[display]`: the framebuffer the kernel sets up at boot, granted
    /// as `display` (docs/display.md).
    pub display: Option<Display>,
}

/// `[display]`: the board's framebuffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Display {
    /// Its size.
    pub mode: tidemark_hosted::kernel::display::DisplayMode,
    /// What scans it out (`virtio-gpu` in QEMU, `memory` for none).
    pub device: String,
}

pub use tidemark_hosted::kernel::Limits;
use tidemark_hosted::kernel::caps::MAX_CAPS;

impl Manifest {
    /// `[packages]` as the image build passes it (`TIDEMARK_PACKAGES`:
    /// slots, max bytes; 0 for the kernel's default).
    pub fn packages_env(&self) -> String {
        let p = &self.packages;
        format!("{},{}", p.slots.unwrap_or(0), p.max_bytes.unwrap_or(0))
    }

    /// `[display]` as the image build passes it (`TIDEMARK_DISPLAY`:
    /// `WIDTHxHEIGHT`, empty for none).
    pub fn display_env(&self) -> String {
        self.display.as_ref().map_or_else(String::new, |d| {
            format!("{}x{}", d.mode.width, d.mode.height)
        })
    }

    /// The limits as the image build passes them to a bare-metal kernel
    /// (`TIDEMARK_LIMITS`: processes, children, depth, channels, regions,
    /// arena bytes, capabilities, log lines a second).
    pub fn limits_env(&self) -> String {
        let l = self.limits;
        format!(
            "{},{},{},{},{},{},{},{}",
            l.processes,
            l.children,
            l.depth,
            l.channels,
            l.regions,
            l.arena_bytes,
            l.caps,
            l.log_lines
        )
    }
}

/// Placeholders in `[boot].args`, expanded when the emulator starts
/// (`{board}` is the board's directory).
const PLACEHOLDERS: &[&str] = &["ram", "image", "socket", "qmp", "display", "board"];
/// Boot kinds that run the image in a program on this machine.
const EMULATORS: &[&str] = &["qemu", "node"];
const TRANSPORTS: &[&str] = &["in-process", "serial", "rtt"];
const CHIPS: &[&str] = &["esp32c6"];

/// `vvvv:pppp`, hex.
fn usb_id(s: &str) -> Option<(u16, u16)> {
    let (v, p) = s.split_once(':')?;
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(p, 16).ok()?,
    ))
}

/// The `{name}` placeholders in `arg`; `Err` for an unclosed brace.
fn placeholders(arg: &str) -> Result<Vec<&str>, ()> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or(())?;
        out.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    Ok(out)
}

impl Manifest {
    /// Parses and validates the manifest of `boards/<dir>/`; `path` names it in errors.
    pub fn parse(dir: &str, path: &str, text: &str) -> Result<Manifest, Box<BoardError>> {
        let err =
            |message: String, span: Option<Range<usize>>, label: &str, help: Option<String>| {
                BoardError::new("tidemark::board", path, text, message, span, label, help)
            };
        let raw: Raw = toml::from_str(text)
            .map_err(|e| err(e.message().to_string(), e.span(), "here", None))?;
        if raw.board.name.get_ref() != dir {
            return Err(err(
                format!("board `{}` is in boards/{dir}/", raw.board.name.get_ref()),
                Some(raw.board.name.span()),
                "not the directory's name",
                Some(format!(
                    "a board is named after its directory: name = \"{dir}\""
                )),
            ));
        }
        let transport = &raw.transport.kind;
        if !TRANSPORTS.contains(&transport.get_ref().as_str()) {
            return Err(err(
                format!("unknown transport `{}`", transport.get_ref()),
                Some(transport.span()),
                "unknown transport",
                Some(format!("transports: {}", TRANSPORTS.join(", "))),
            ));
        }
        let memory = match raw.memory {
            None => None,
            Some(m) => {
                let bad = |s: &Spanned<String>| {
                    err(
                        format!("`{}` is not a size", s.get_ref()),
                        Some(s.span()),
                        "not a size",
                        Some("sizes are a number of K, M or G (binary units): \"128M\"".into()),
                    )
                };
                let ram = size(m.ram.get_ref()).ok_or_else(|| bad(&m.ram))?;
                let heap = match m.heap.get_ref().as_str() {
                    "rest" => Heap::Rest,
                    h => {
                        let h = size(h).ok_or_else(|| {
                            bad(&m.heap).with_help("the heap is a size (\"96M\") or \"rest\", all of RAM after the image and the stacks")
                        })?;
                        if h.bytes > ram.bytes {
                            return Err(err(
                                format!("a heap of {} does not fit in {} of RAM", h.text, ram.text),
                                Some(m.heap.span()),
                                "larger than ram",
                                None,
                            ));
                        }
                        Heap::Fixed(h)
                    }
                };
                Some(Memory { ram, heap })
            }
        };
        let mut limits = Limits::default();
        if let Some(l) = raw.limits {
            let caps_span = l.caps.as_ref().map(|c| c.span());
            for (field, slot) in [
                (l.processes, &mut limits.processes),
                (l.children, &mut limits.children),
                (l.depth, &mut limits.depth),
                (l.channels, &mut limits.channels),
                (l.regions, &mut limits.regions),
                (l.caps, &mut limits.caps),
                (l.log_lines, &mut limits.log_lines),
            ] {
                if let Some(v) = field {
                    if *v.get_ref() == 0 {
                        return Err(err(
                            "a limit of 0 would refuse everything it counts".into(),
                            Some(v.span()),
                            "zero",
                            Some("limits are at least 1".into()),
                        ));
                    }
                    *slot = v.into_inner();
                }
            }
            if limits.caps as usize > MAX_CAPS {
                return Err(err(
                    format!("a process's capability table holds {MAX_CAPS} entries at most"),
                    caps_span,
                    "too many",
                    None,
                ));
            }
            if let Some(a) = l.arena_bytes {
                let bytes = size(a.get_ref())
                    .map(|s| s.bytes)
                    .filter(|b| *b <= u64::from(u32::MAX))
                    .ok_or_else(|| {
                        err(
                            format!("`{}` is not a size below 4G", a.get_ref()),
                            Some(a.span()),
                            "not a size",
                            Some("sizes are a number of K, M or G (binary units): \"16M\"".into()),
                        )
                    })?;
                limits.arena_bytes = bytes as u32;
            }
        }
        let display = match raw.display {
            None => None,
            Some(d) => {
                let side = tidemark_hosted::kernel::display::DisplayMode::MAX_SIDE;
                for v in [&d.width, &d.height] {
                    if !(1..=side).contains(v.get_ref()) {
                        return Err(err(
                            format!("a display side of {} pixels", v.get_ref()),
                            Some(v.span()),
                            "out of range",
                            Some(format!("sides are 1 to {side} pixels")),
                        ));
                    }
                }
                Some(Display {
                    mode: tidemark_hosted::kernel::display::DisplayMode {
                        width: d.width.into_inner(),
                        height: d.height.into_inner(),
                    },
                    device: d.device,
                })
            }
        };
        let packages = raw
            .packages
            .unwrap_or_default()
            .check(true, &|m, s, l, h| err(m, s, l, h))?;
        let b = raw.boot;
        // A board with an image of its own needs its target, its image crate
        // and its memory, whoever boots it.
        let needs = |who: &str, label: &str, what: &str| {
            err(
                format!("a {who} board needs {what}"),
                Some(b.kind.span()),
                label,
                Some(format!("add {what} (docs/architecture.md, \"Boards\")")),
            )
        };
        let has_image = |needs: &dyn Fn(&str) -> Box<BoardError>| {
            for (missing, what) in [
                (raw.board.target.is_none(), "[board] target"),
                (raw.build.is_none(), "[build]"),
                (memory.is_none(), "[memory]"),
            ] {
                if missing {
                    return Err(needs(what));
                }
            }
            Ok(())
        };
        let boot = match b.kind.get_ref().as_str() {
            "in-process" => {
                if let Some(c) = &b.command {
                    return Err(err(
                        "an in-process board has no boot command".into(),
                        Some(c.span()),
                        "not for in-process",
                        None,
                    ));
                }
                if let Some(a) = &b.args {
                    return Err(err(
                        "an in-process board has no boot arguments".into(),
                        Some(a.span()),
                        "not for in-process",
                        None,
                    ));
                }
                Boot::InProcess
            }
            kind if EMULATORS.contains(&kind) => {
                let label = format!("booted by {}", emulator_name(kind));
                let needs = |what: &str| needs(kind, &label, what);
                has_image(&needs)?;
                let command = b
                    .command
                    .ok_or_else(|| needs("[boot] command"))?
                    .into_inner();
                let install = b.install.ok_or_else(|| needs("[boot] install"))?;
                let args = b.args.ok_or_else(|| needs("[boot] args"))?;
                let mut seen = Vec::new();
                for a in args.get_ref() {
                    let names = placeholders(a.get_ref()).map_err(|()| {
                        err(
                            "unclosed `{`".into(),
                            Some(a.span()),
                            "in this argument",
                            None,
                        )
                    })?;
                    for n in names {
                        if !PLACEHOLDERS.contains(&n) {
                            return Err(err(
                                format!("unknown placeholder `{{{n}}}`"),
                                Some(a.span()),
                                "in this argument",
                                Some(format!(
                                    "placeholders: {}",
                                    PLACEHOLDERS
                                        .iter()
                                        .map(|p| format!("{{{p}}}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )),
                            ));
                        }
                        seen.push(n);
                    }
                }
                for n in ["image", "socket"] {
                    if !seen.contains(&n) {
                        return Err(err(
                            format!("the arguments never use `{{{n}}}`"),
                            Some(args.span()),
                            "the emulator's arguments",
                            Some("{image} is the kernel image, {socket} the Unix socket its monitor link is served on".into()),
                        ));
                    }
                }
                Boot::Emulator(Emulator {
                    kind: kind.to_string(),
                    command,
                    args: args
                        .into_inner()
                        .into_iter()
                        .map(Spanned::into_inner)
                        .collect(),
                    install,
                })
            }
            "flash" => {
                let needs = |what: &str| needs("flashed", "flashed over USB", what);
                has_image(&needs)?;
                let chip = b.chip.ok_or_else(|| needs("[boot] chip"))?;
                if !CHIPS.contains(&chip.get_ref().as_str()) {
                    return Err(err(
                        format!("unknown chip `{}`", chip.get_ref()),
                        Some(chip.span()),
                        "unknown chip",
                        Some(format!("chips: {}", CHIPS.join(", "))),
                    ));
                }
                let usb = b.usb.ok_or_else(|| needs("[boot] usb"))?;
                let (vid, pid) = usb_id(usb.get_ref()).ok_or_else(|| {
                    err(
                        format!("`{}` is not a USB id", usb.get_ref()),
                        Some(usb.span()),
                        "not vendor:product",
                        Some("a USB id is two hex numbers: \"303a:1001\"".into()),
                    )
                })?;
                Boot::Flash(Flash {
                    chip: chip.into_inner(),
                    vid,
                    pid,
                })
            }
            k => {
                return Err(err(
                    format!("unknown boot kind `{k}`"),
                    Some(b.kind.span()),
                    "unknown boot kind",
                    Some("boot kinds: in-process, qemu, node, flash".into()),
                ));
            }
        };
        Ok(Manifest {
            display,
            name: raw.board.name.into_inner(),
            description: raw.board.description,
            arch: raw.board.arch,
            target: raw.board.target,
            engine: raw.board.engine,
            memory,
            transport: Transport {
                kind: raw.transport.kind.into_inner(),
                device: raw.transport.device,
            },
            build: raw.build.map(|b| Build {
                krate: b.krate,
                bin: b.bin,
                profile: b.profile,
                bundle: b.bundle,
            }),
            boot,
            limits,
            packages,
        })
    }

    /// The emulator's command line that boots `image` with its monitor link
    /// on `socket` (none for a board no emulator boots).
    pub fn qemu_command(&self, image: &Path, socket: &Path, qmp: &Path) -> Option<Command> {
        let Boot::Emulator(q) = &self.boot else {
            return None;
        };
        let ram = OsString::from(self.memory.as_ref().map_or("", |m| m.ram.text.as_str()));
        let dir = crate::firmware::boards_dir().join(&self.name);
        let display = OsString::from(QEMU_DISPLAY);
        let vars: [(&str, &OsStr); 6] = [
            ("{ram}", &ram),
            ("{image}", image.as_os_str()),
            ("{socket}", socket.as_os_str()),
            ("{qmp}", qmp.as_os_str()),
            ("{display}", &display),
            ("{board}", dir.as_os_str()),
        ];
        let mut cmd = Command::new(&q.command);
        for a in &q.args {
            // A lone placeholder passes the path as is; inside text, as text.
            let arg = match vars.iter().find(|(p, _)| a == p) {
                Some((_, v)) => v.to_os_string(),
                None => vars
                    .iter()
                    .fold(a.clone(), |a, (p, v)| a.replace(p, &v.to_string_lossy()))
                    .into(),
            };
            cmd.arg(arg);
        }
        Some(cmd)
    }
}

/// QEMU's `-display` (`{display}`): its D-Bus display, peer to peer, when
/// the workbench attaches to it (feature `qemu-display`), else none.
pub const QEMU_DISPLAY: &str = if cfg!(feature = "qemu-display") {
    "dbus,p2p=yes"
} else {
    "none"
};

/// How messages name the program of an emulator boot kind.
pub fn emulator_name(kind: &str) -> &'static str {
    match kind {
        "node" => "Node",
        _ => "QEMU",
    }
}

impl Emulator {
    /// The program's name in messages (`QEMU`, `Node`).
    pub fn name(&self) -> &'static str {
        emulator_name(&self.kind)
    }
}

/// A board this workbench knows: one of the compiled-in manifests.
#[derive(Clone, Copy)]
pub struct Board(&'static Manifest);

impl PartialEq for Board {
    fn eq(&self, other: &Board) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Board {}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.name)
    }
}

impl Board {
    /// Every board, in name order. A bad compiled-in manifest is reported
    /// and ends the process (exit 2): the unit tests load every one.
    pub fn all() -> &'static [Board] {
        static ALL: OnceLock<Vec<Board>> = OnceLock::new();
        ALL.get_or_init(|| {
            embedded::MANIFESTS
                .iter()
                .map(|(dir, path, text)| match Manifest::parse(dir, path, text) {
                    Ok(m) => Board(Box::leak(Box::new(m))),
                    Err(e) => {
                        eprintln!("{:?}", miette::Report::new(*e));
                        std::process::exit(2);
                    }
                })
                .collect()
        })
    }

    /// The board named `name`.
    pub fn get(name: &str) -> Option<Board> {
        Board::all().iter().copied().find(|b| b.name() == name)
    }

    /// The boards' names, comma-separated.
    pub fn names() -> String {
        Board::all()
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Name as scripts and the kernel report it.
    pub fn name(self) -> &'static str {
        &self.0.name
    }

    /// Its manifest.
    pub fn manifest(self) -> &'static Manifest {
        self.0
    }
}

/// The clap value parser of board names: the manifests', each with its description.
pub fn parser() -> impl clap::builder::TypedValueParser<Value = Board> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        Board::all()
            .iter()
            .map(|b| PossibleValue::new(b.name()).help(b.manifest().description.as_str())),
    )
    .map(|name| Board::get(&name).expect("a listed board"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(e: &BoardError) -> String {
        let mut s = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut s, e)
            .unwrap();
        s
    }

    fn qemu_text() -> &'static str {
        embedded::MANIFESTS
            .iter()
            .find(|(d, _, _)| *d == "qemu-riscv32")
            .unwrap()
            .2
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn every_compiled_in_manifest_loads() {
        assert_eq!(Board::names(), "esp32c6, hosted, qemu-riscv32, wasm-js");
        let c6 = Board::get("esp32c6").unwrap().manifest();
        assert_eq!(
            c6.boot,
            Boot::Flash(Flash {
                chip: "esp32c6".into(),
                vid: 0x303a,
                pid: 0x1001
            })
        );
        assert_eq!(
            c6.memory.as_ref().map(|m| (m.ram.bytes, m.heap.clone())),
            Some((
                512 << 10,
                Heap::Fixed(Size {
                    text: "320K".into(),
                    bytes: 320 << 10
                })
            ))
        );
        let hosted = Board::get("hosted").unwrap().manifest();
        assert_eq!(
            (
                hosted.boot.clone(),
                hosted.memory.clone(),
                hosted.build.clone()
            ),
            (Boot::InProcess, None, None)
        );
        let q = Board::get("qemu-riscv32").unwrap().manifest();
        assert_eq!(q.target.as_deref(), Some("riscv32imac-unknown-none-elf"));
        assert_eq!(
            q.memory,
            Some(Memory {
                ram: Size {
                    text: "128M".into(),
                    bytes: 128 << 20
                },
                heap: Heap::Rest
            })
        );
        assert!(
            matches!(&q.boot, Boot::Emulator(e) if e.install == "sudo apt-get install qemu-system-misc")
        );
    }

    #[test]
    fn the_qemu_command_line_comes_from_the_manifest() {
        let (image, socket, qmp) = (
            Path::new("/t/k.elf"),
            Path::new("/t/u.sock"),
            Path::new("/t/u.qmp"),
        );
        let q = Board::get("qemu-riscv32").unwrap().manifest();
        let cmd = q.qemu_command(image, socket, qmp).unwrap();
        assert_eq!(cmd.get_program(), "qemu-system-riscv32");
        // What the workbench ran before the manifest said it.
        let before = "-machine virt -bios none -m 128M -smp 1 -display DISPLAY -monitor none -no-reboot \
                      -chardev socket,id=uart,path=/t/u.sock,server=on,wait=off -serial chardev:uart \
                      -global virtio-mmio.force-legacy=false -device virtio-gpu-device \
                      -qmp unix:/t/u.qmp,server=on,wait=off -kernel /t/k.elf";
        assert_eq!(
            args(&cmd).join(" "),
            before.replace("DISPLAY", QEMU_DISPLAY)
        );

        let text = qemu_text()
            .replace("ram = \"128M\"", "ram = \"256M\"")
            .replace("\"-machine\", \"virt\"", "\"-machine\", \"sifive_u\"")
            .replace(
                "command = \"qemu-system-riscv32\"",
                "command = \"/opt/qemu/bin/qemu-system-riscv32\"",
            );
        let m = Manifest::parse("qemu-riscv32", "board.toml", &text).unwrap();
        let cmd = m.qemu_command(image, socket, qmp).unwrap();
        assert_eq!(cmd.get_program(), "/opt/qemu/bin/qemu-system-riscv32");
        let a = args(&cmd);
        assert_eq!(&a[..2], ["-machine", "sifive_u"]);
        assert_eq!(&a[4..6], ["-m", "256M"]);
        assert!(
            Board::get("hosted")
                .unwrap()
                .manifest()
                .qemu_command(image, socket, qmp)
                .is_none()
        );
    }

    #[test]
    fn the_wasm_js_board_boots_in_node_with_its_runtime() {
        let (image, socket, qmp) = (
            Path::new("/t/k.wasm"),
            Path::new("/t/m.sock"),
            Path::new("/t/m.qmp"),
        );
        let m = Board::get("wasm-js").unwrap().manifest();
        assert_eq!(m.target.as_deref(), Some("wasm32-unknown-unknown"));
        let Boot::Emulator(e) = &m.boot else {
            panic!("wasm-js is not booted by an emulator: {:?}", m.boot)
        };
        assert_eq!((e.kind.as_str(), e.name()), ("node", "Node"));
        let cmd = m.qemu_command(image, socket, qmp).unwrap();
        assert_eq!(cmd.get_program(), "node");
        let a = args(&cmd);
        // {board} is the board's directory, where its runtime lives.
        let serve = crate::firmware::boards_dir().join("wasm-js/runtime/bin/serve.js");
        assert_eq!(
            a,
            [
                &*serve.to_string_lossy(),
                "--socket",
                "/t/m.sock",
                "/t/k.wasm"
            ]
        );
        assert!(serve.exists(), "{}", serve.display());
    }

    #[test]
    fn bad_manifests_point_at_the_span() {
        let bad = |from: &str, to: &str| {
            let text = qemu_text().replace(from, to);
            assert_ne!(text, qemu_text(), "{from} is not in the manifest");
            report(&Manifest::parse("qemu-riscv32", "board.toml", &text).unwrap_err())
        };
        let r = bad("\"-kernel\", \"{image}\"", "\"-kernel\", \"{kernel}\"");
        assert!(
            r.contains("unknown placeholder `{kernel}`")
                && r.contains("\"-kernel\", \"{kernel}\"")
                && r.contains("in this argument"),
            "{r}"
        );
        let r = bad("heap = \"rest\"", "heap = \"lots\"");
        assert!(
            r.contains("`lots` is not a size") && r.contains("heap = \"lots\""),
            "{r}"
        );
        let r = bad("heap = \"rest\"", "heap = \"256M\"");
        assert!(r.contains("does not fit in 128M"), "{r}");
        let r = bad("ram = \"128M\"", "ram = \"128\"");
        assert!(r.contains("`128` is not a size"), "{r}");
        let r = bad("name = \"qemu-riscv32\"", "name = \"qemu\"");
        assert!(
            r.contains("not the directory's name") && r.contains("name = \"qemu\""),
            "{r}"
        );
        let r = bad("kind = \"qemu\"", "kind = \"jtag\"");
        assert!(
            r.contains("unknown boot kind `jtag`") && r.contains("kind = \"jtag\""),
            "{r}"
        );
        let r = bad("kind = \"serial\"", "kind = \"usb\"");
        assert!(r.contains("unknown transport `usb`"), "{r}");
        let r = bad("profile = \"release\"", "profile = \"release\"\nopt = 3");
        assert!(
            r.contains("unknown field `opt`") && r.contains("opt = 3"),
            "{r}"
        );
        let r = bad("path={socket}", "path=/tmp/fixed.sock");
        assert!(r.contains("never use `{socket}`"), "{r}");
        let r = bad("[build]", "[bild]");
        assert!(r.contains("unknown field `bild`"), "{r}");
    }

    #[test]
    fn bad_flash_manifests_point_at_the_span() {
        let text = embedded::MANIFESTS
            .iter()
            .find(|(d, _, _)| *d == "esp32c6")
            .unwrap()
            .2;
        let bad = |from: &str, to: &str| {
            let t = text.replace(from, to);
            assert_ne!(t, text, "{from} is not in the manifest");
            report(&Manifest::parse("esp32c6", "board.toml", &t).unwrap_err())
        };
        let r = bad("chip = \"esp32c6\"", "chip = \"esp8266\"");
        assert!(
            r.contains("unknown chip `esp8266`") && r.contains("chips: esp32c6"),
            "{r}"
        );
        let r = bad("usb = \"303a:1001\"", "usb = \"espressif\"");
        assert!(
            r.contains("`espressif` is not a USB id") && r.contains("\"303a:1001\""),
            "{r}"
        );
        let r = bad("usb = \"303a:1001\"\n", "");
        assert!(r.contains("a flashed board needs [boot] usb"), "{r}");
        let r = bad("kind = \"serial\"", "kind = \"uart\"");
        assert!(r.contains("transports: in-process, serial, rtt"), "{r}");
    }

    /// The manifest's RAM is the linker script's, which lays out the heap.
    #[test]
    fn ram_is_the_linker_scripts() {
        let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
        for b in Board::all() {
            let (Some(build), Some(memory)) = (&b.manifest().build, &b.manifest().memory) else {
                continue;
            };
            let script = boards.join(b.name()).join(&build.krate).join("link.x");
            let Ok(text) = std::fs::read_to_string(&script) else {
                continue;
            };
            let length = text
                .lines()
                .find(|l| l.trim_start().starts_with("RAM "))
                .and_then(|l| l.split("LENGTH =").nth(1))
                .map(str::trim);
            assert_eq!(
                length.and_then(size).map(|s| s.bytes),
                Some(memory.ram.bytes),
                "{}: RAM is {length:?}",
                script.display()
            );
        }
    }

    /// `info` reports the engine the manifest names (QEMU's: tests/qemu.rs).
    #[test]
    fn hosted_engine_is_what_info_reports() {
        assert_eq!(
            tidemark_hosted::monitor::engine_name(),
            Board::get("hosted").unwrap().manifest().engine
        );
    }
}
