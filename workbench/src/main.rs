//! `tidemark`: boot a kernel, attach to it, and drive it from a REPL or a
//! scripted session. Every flag can also be set from a `TIDEMARK_*`
//! environment variable.

mod board;
mod boot;
mod compare;
#[cfg(feature = "qemu-display")]
mod dbus_display;
mod dev;
mod firmware;
mod flash;
mod guest_build;
mod image;
mod lock;
mod new;
mod pkg;
mod playground;
mod ports;
mod probes;
mod project;
mod qemu;
mod qmp;
mod replay;
mod run;
mod schema;
mod toml_error;
mod tui;
mod userland;
mod watch;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidemark_shell::serial::Address;
use tidemark_shell::{Session, repl, run_and_print};

/// Kinds of kernel instance: one per manifest under `boards/`.
pub use board::Board;

/// Tidemark: a capability-based OS whose processes are WebAssembly modules.
#[derive(Parser)]
#[command(name = "tidemark", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Which kernel a session talks to, and how results are printed.
#[derive(clap::Args)]
struct Instance {
    /// Board to boot (a fresh kernel per session or script). `run` takes
    /// several, comma-separated: each script runs on each, and their
    /// answers are compared.
    #[arg(long, env = "TIDEMARK_BOARD", value_parser = board::parser(), value_delimiter = ',', default_value = "hosted")]
    board: Vec<Board>,
    /// Attach to a running kernel instead of booting: its monitor socket,
    /// or `serial:PATH[@BAUD]` for a board on a serial line.
    #[arg(long, env = "TIDEMARK_ATTACH")]
    attach: Option<Address>,
    /// Build this project's guests and install them (not spawned) in the new
    /// kernel's package cache; by default the current directory's project,
    /// when it holds a Tidemark.toml. Not used when attaching.
    #[arg(long, env = "TIDEMARK_PROJECT")]
    project: Option<PathBuf>,
    /// Boot init with the system services (vfs, bus, kv) and their monitor
    /// connections (`svc`, `fs`, `bus`, `kv` commands); a project with
    /// `[services]` always does. Not used when attaching.
    #[arg(long, env = "TIDEMARK_SERVICES")]
    services: bool,
    /// vfs's read-only lower image: a directory (packed at boot) or an
    /// image `fs commit --save` wrote; implies --services.
    #[arg(long, env = "TIDEMARK_IMAGE")]
    image: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, env = "TIDEMARK_JSON")]
    json: bool,
    /// When a process traps, write the dump the kernel took then (before
    /// its capabilities were released) into this directory.
    #[arg(long, env = "TIDEMARK_DUMP_ON_TRAP", value_name = "DIR")]
    dump_on_trap: Option<PathBuf>,
}

impl Instance {
    /// The one board a command that opens one session runs on.
    fn one_board(&self, command: &str) -> Result<Board, String> {
        match self.board.as_slice() {
            [one] => Ok(*one),
            _ => Err(format!("`{command}` runs on one board; only `run` takes several")),
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Build a project's guests, boot, spawn them, and open the live screen;
    /// every guest is rebuilt and hot-swapped when its sources change.
    Dev {
        /// Project directory (holding Tidemark.toml).
        #[arg(env = "TIDEMARK_PROJECT", default_value = ".")]
        dir: PathBuf,
        /// Board to boot (the manifest's by default).
        #[arg(long, env = "TIDEMARK_BOARD", value_parser = board::parser())]
        board: Option<Board>,
        /// Run this scripted session instead of the screen, then exit with its result.
        #[arg(long, env = "TIDEMARK_SCRIPT")]
        script: Option<PathBuf>,
        /// Use the line REPL even on a terminal.
        #[arg(long, env = "TIDEMARK_NO_TUI")]
        no_tui: bool,
        /// Print results as JSON (line REPL and scripts).
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
        /// When a process traps, write the dump the kernel took then into
        /// this directory.
        #[arg(long, env = "TIDEMARK_DUMP_ON_TRAP", value_name = "DIR")]
        dump_on_trap: Option<PathBuf>,
    },
    /// Scaffold a project from a template (offline: templates are built in).
    New {
        /// Directory to create.
        #[arg(required_unless_present = "list")]
        name: Option<PathBuf>,
        /// Template.
        #[arg(long, env = "TIDEMARK_TEMPLATE", default_value = "two-guest")]
        template: String,
        /// List the templates.
        #[arg(long, env = "TIDEMARK_NEW_LIST")]
        list: bool,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Boot a kernel (or attach to one) and open the REPL; the kernel's
    /// package cache holds the example guests and the current project's.
    Shell {
        #[command(flatten)]
        on: Instance,
    },
    /// Boot a kernel on its own, serving its monitor.
    Boot {
        /// Board to boot.
        #[arg(env = "TIDEMARK_BOARD", value_parser = board::parser(), default_value = "hosted")]
        board: Board,
        /// Serve the monitor on this Unix socket (created mode 0600) instead
        /// of opening the REPL; required for `hosted`. For `qemu-riscv32`
        /// it is the emulated UART itself.
        #[arg(long, env = "TIDEMARK_LISTEN")]
        listen: Option<PathBuf>,
        /// Print results as JSON (REPL).
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Attach to a running kernel and open the REPL: a monitor socket, a
    /// board on a serial line (`serial:PATH[@BAUD]`), or with `--board` a
    /// board found by its USB identity (an ESP32-C6).
    Attach {
        /// Socket path, `serial:PATH[@BAUD]`, or `rtt:PROBE` (the board's RTT
        /// channels through a debug probe; with --board for its chip).
        #[arg(env = "TIDEMARK_ATTACH", required_unless_present = "board")]
        addr: Option<Address>,
        /// The board: found on USB by its id when no address is given (`esp32c6`); its chip for `rtt:PROBE`.
        #[arg(long, env = "TIDEMARK_BOARD", value_parser = board::parser())]
        board: Option<Board>,
        /// Print results as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Build a board's kernel image and show its sections (text, rodata,
    /// data, bss, stack).
    Image {
        /// Board.
        #[arg(env = "TIDEMARK_BOARD", value_parser = board::parser(), default_value = "qemu-riscv32")]
        board: Board,
        /// Leave the boot bundle of example guests out.
        #[arg(long, env = "TIDEMARK_NO_GUESTS")]
        no_guests: bool,
        /// Build the bare wasmi embedding (the size baseline) instead.
        #[arg(long, env = "TIDEMARK_BARE_WASMI")]
        bare_wasmi: bool,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// List the serial ports a board could be on, each named by its USB ids
    /// (an ESP32-C6's USB-Serial-JTAG is 303a:1001).
    Ports {
        /// Also list ports without a USB identity (built-in UARTs).
        #[arg(long, env = "TIDEMARK_PORTS_ALL")]
        all: bool,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Build a board's kernel image and flash it (an ESP32-C6 over its USB
    /// port with espflash, or through a debug probe with probe-rs), reset
    /// into it and attach.
    Flash {
        /// Board.
        #[arg(long, env = "TIDEMARK_BOARD", value_parser = board::parser(), default_value = "esp32c6")]
        board: Board,
        /// The board's serial port (by default, the one with the board's USB id).
        #[arg(long, env = "TIDEMARK_PORT", conflicts_with = "probe")]
        port: Option<PathBuf>,
        /// Flash through this debug probe instead (serial number, from `tidemark probes`).
        #[arg(long, env = "TIDEMARK_PROBE")]
        probe: Option<String>,
        /// Monitor transport to build in: `serial` (USB-Serial-JTAG) or `rtt` (the manifest's by default).
        #[arg(long, env = "TIDEMARK_TRANSPORT")]
        transport: Option<String>,
        /// Write the whole flash image to this file instead of flashing.
        #[arg(long, env = "TIDEMARK_SAVE_IMAGE", conflicts_with_all = ["port", "probe"])]
        save_image: Option<PathBuf>,
        /// Do not attach after flashing.
        #[arg(long, env = "TIDEMARK_NO_ATTACH")]
        no_attach: bool,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// List the debug probes probe-rs sees (an ESP32-C6's USB-JTAG among them).
    Probes {
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Serve the playground: a page that runs the wasm-js kernel in the
    /// browser (in a worker) with the shell's REPL in a terminal, attached
    /// to it over a WebSocket back to this server.
    ServePlayground {
        /// Address to listen on (port 0: any free port, printed).
        #[arg(
            long,
            env = "TIDEMARK_PLAYGROUND_ADDR",
            default_value = "127.0.0.1:8023"
        )]
        addr: std::net::SocketAddr,
        /// Print the address as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Write a kernel's whole inspectable state to a dump file (a fresh
    /// kernel's, or with --attach a running one's), for `tidemark inspect`.
    Dump {
        /// File to write.
        #[arg(env = "TIDEMARK_DUMP", default_value = "tidemark.tmdump")]
        file: PathBuf,
        /// Leave the events (and logs) out.
        #[arg(long, env = "TIDEMARK_DUMP_NO_EVENTS")]
        no_events: bool,
        #[command(flatten)]
        on: Instance,
    },
    /// Write what a board's display shows to a PNG file: the kernel's
    /// framebuffer over the monitor (a fresh kernel's, or with --attach a
    /// running one's), or with --scanout what QEMU's display device shows.
    Screenshot {
        /// PNG file to write.
        #[arg(env = "TIDEMARK_SCREENSHOT", default_value = "tidemark.png")]
        file: PathBuf,
        /// Read QEMU's scan-out (`screendump` over QMP) instead of the
        /// framebuffer: a board booted here, not attached to.
        #[arg(long, env = "TIDEMARK_SCREENSHOT_SCANOUT")]
        scanout: bool,
        #[command(flatten)]
        on: Instance,
    },
    /// Open the REPL on a dump: every command that reads works on it as
    /// on the live kernel it was taken from; those that change a kernel
    /// are refused.
    Inspect {
        /// Dump file (`tidemark dump`, or `dump FILE` in the REPL).
        #[arg(env = "TIDEMARK_INSPECT")]
        file: PathBuf,
        /// Print results as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Run a recorded process's module again alone (`spawn --record`,
    /// `record PID FILE`), feeding it the recorded answers; reports the
    /// first call where it does something else. Exits 0 when it matched.
    Replay {
        /// Recording file.
        #[arg(env = "TIDEMARK_REPLAY")]
        file: PathBuf,
        /// Engine to run it on.
        #[arg(long, env = "TIDEMARK_REPLAY_ENGINE", value_enum, default_value = "wasmi")]
        engine: replay::ReplayEngine,
        /// Run this module instead of the recorded one (another build of it).
        #[arg(long, env = "TIDEMARK_REPLAY_MODULE")]
        module: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Run scripted sessions (`.tms`); exits 0 only when every expectation held.
    Run {
        /// Script files.
        #[arg(required = true)]
        scripts: Vec<PathBuf>,
        #[command(flatten)]
        on: Instance,
        /// Write a JUnit XML report here.
        #[arg(long, env = "TIDEMARK_JUNIT")]
        junit: Option<PathBuf>,
    },
    /// Package tools: signing keys, package directories and their signed
    /// catalogs, a package server (docs/packages.md).
    Pkg {
        #[command(subcommand)]
        cmd: pkg::PkgCmd,
    },
    /// Pin every guest of a project by SHA-256 in Tidemark.lock (built
    /// first); `--check` fails where the build differs from the lock.
    Lock {
        /// Project directory.
        #[arg(env = "TIDEMARK_PROJECT", default_value = ".")]
        dir: PathBuf,
        /// Compare instead of writing: exit 1 on a difference.
        #[arg(long, env = "TIDEMARK_LOCK_CHECK")]
        check: bool,
        /// Print as JSON.
        #[arg(long, env = "TIDEMARK_JSON")]
        json: bool,
    },
    /// Print the JSON schema of a REPL command's `--json` result (every
    /// command's, and the error object's, without an argument).
    Schema {
        /// Command (one or two words), or `error`.
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    miette::set_hook(Box::new(|_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .terminal_links(false)
                .build(),
        )
    }))
    .ok();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Shell { on } => match boot::project_setup(
            on.project.as_deref(),
            on.attach.is_some(),
            on.services,
            on.image.as_deref(),
        ) {
            Ok(setup) => on
                .one_board("shell")
                .and_then(|board| boot::session(board, on.attach.as_ref(), &setup))
                .and_then(|(mut s, _k)| {
                    s.dump_on_trap = on.dump_on_trap.clone();
                    interact(&mut s, on.json)
                }),
            Err(code) => Ok(code),
        },
        Cmd::Attach { addr, board, json } => match (addr, board) {
            (Some(addr), board) => boot::session(
                board.unwrap_or_else(|| Board::get("hosted").expect("the hosted board")),
                Some(&addr),
                &boot::Setup::default(),
            ),
            (None, Some(board)) => boot::find(board)
                .and_then(|addr| boot::session(board, Some(&addr), &boot::Setup::default())),
            (None, None) => Err("attach needs an address or --board".into()),
        }
        .and_then(|(mut s, _k)| interact(&mut s, json)),
        Cmd::Boot {
            board,
            listen,
            json,
        } => boot::boot(board, listen.as_deref(), json),
        Cmd::Dev {
            dir,
            board,
            script,
            no_tui,
            json,
            dump_on_trap,
        } => dev::run(dev::DevOptions {
            dir,
            board,
            script,
            no_tui,
            json,
            dump_on_trap,
        }),
        Cmd::New {
            name,
            template,
            list,
            json,
        } => new::run(name.as_deref(), &template, list, json),
        Cmd::Image {
            board,
            no_guests,
            bare_wasmi,
            json,
        } => image::run(board, !no_guests, bare_wasmi, json),
        Cmd::Schema { command } => schema::run(&command),
        Cmd::Pkg { cmd } => pkg::run(cmd),
        Cmd::Lock { dir, check, json } => lock::run(&dir, check, json),
        Cmd::Ports { all, json } => ports::run(all, json),
        Cmd::Probes { json } => probes::run(json),
        Cmd::Flash {
            board,
            port,
            probe,
            transport,
            save_image,
            no_attach,
            json,
        } => flash::run(flash::Options {
            board,
            port,
            probe,
            transport,
            save_image,
            attach: !no_attach,
            json,
        }),
        Cmd::ServePlayground { addr, json } => playground::run(addr, json),
        Cmd::Replay {
            file,
            engine,
            module,
            json,
        } => replay::run(&file, engine, module.as_deref(), json),
        Cmd::Dump { file, no_events, on } => {
            let flag = no_events.then(|| "--no-events".to_string());
            one_command(&on, "dump", flag, &file)
        }
        Cmd::Screenshot { file, scanout, on } => {
            let flag = scanout.then(|| "--scanout".to_string());
            one_command(&on, "screenshot", flag, &file)
        }
        Cmd::Inspect { file, json } => tidemark_shell::inspect::load(&file).and_then(|d| {
            eprintln!(
                "tidemark: {}: a dump of {} ({}) at {:.3} s uptime ({}); read-only",
                file.display(),
                d.info.board,
                d.info.engine,
                d.info.uptime_ns as f64 / 1e9,
                d.reason
            );
            let client = tidemark_shell::inspect::attach(d).map_err(|e| e.to_string())?;
            interact(&mut Session::new(client), json)
        }),
        Cmd::Run { scripts, on, junit } => {
            match boot::project_setup(
                on.project.as_deref(),
                on.attach.is_some(),
                on.services,
                on.image.as_deref(),
            ) {
                Ok(setup) if on.board.len() > 1 => match on.attach {
                    Some(_) => Err("--attach runs scripts on one kernel: give one --board".into()),
                    None => run::on_boards(
                        &scripts,
                        &on.board,
                        &setup,
                        on.json,
                        junit.as_deref(),
                        on.dump_on_trap.as_deref(),
                    ),
                },
                Ok(setup) => on.one_board("run").and_then(|board| {
                    run::scripts(
                        &scripts,
                        board,
                        on.attach.as_ref(),
                        &setup,
                        on.json,
                        junit.as_deref(),
                        on.dump_on_trap.as_deref(),
                    )
                }),
                Err(code) => Ok(code),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tidemark: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs one REPL command (`dump`, `screenshot`) with `flag` and `file` on
/// a fresh kernel of the board, or on the one `--attach` names; exit 1
/// when it fails.
fn one_command(
    on: &Instance,
    name: &str,
    flag: Option<String>,
    file: &std::path::Path,
) -> Result<ExitCode, String> {
    let setup = match boot::project_setup(
        on.project.as_deref(),
        on.attach.is_some(),
        on.services,
        on.image.as_deref(),
    ) {
        Ok(setup) => setup,
        Err(code) => return Ok(code),
    };
    let board = on.one_board(name)?;
    let (mut s, _kernel) = boot::session(board, on.attach.as_ref(), &setup)?;
    let mut words = vec![name.to_string()];
    words.extend(flag);
    words.extend(["--".into(), file.to_string_lossy().into_owned()]);
    Ok(if tidemark_shell::run_words_and_print(&mut s, words, on.json) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The REPL on a terminal; line by line from a pipe otherwise.
pub fn interact(s: &mut Session, json: bool) -> Result<ExitCode, String> {
    let failures = if std::io::stdin().is_terminal() {
        repl::run(s, json).map_err(|e| e.to_string())?
    } else {
        let mut failures = 0;
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| e.to_string())?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if matches!(line, "exit" | "quit") {
                break;
            }
            if !run_and_print(s, line, json) {
                failures += 1;
            }
            if s.client.is_closed() {
                break;
            }
        }
        failures
    };
    if s.client.is_closed() {
        return Err(
            "the link to the kernel is gone (the kernel hung up or its machine stopped)".into(),
        );
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag of every command can also be set from a `TIDEMARK_*`
    /// environment variable (scripts and CI set them once).
    #[test]
    fn every_flag_has_an_environment_variable() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>, flags: &mut usize) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if arg.is_positional() || builtin {
                    continue;
                }
                *flags += 1;
                match arg.get_env() {
                    Some(env) if env.to_string_lossy().starts_with("TIDEMARK_") => {}
                    _ => missing.push(format!(
                        "{path} --{}",
                        arg.get_long().unwrap_or(arg.get_id().as_str())
                    )),
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing, flags);
            }
        }
        let (mut missing, mut flags) = (Vec::new(), 0);
        walk(&super::Cli::command(), "tidemark", &mut missing, &mut flags);
        assert!(
            flags >= 20,
            "only {flags} flags seen: the walk missed the subcommands"
        );
        assert!(
            missing.is_empty(),
            "flags without a TIDEMARK_* variable: {missing:?}"
        );
    }
}
