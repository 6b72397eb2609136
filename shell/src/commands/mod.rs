//! The command registry: one module per command, registered here once.
//!
//! A command declares what it is ([`Kind`]: query, mutation or stream) and
//! its arguments with clap (which gives `help` its text), runs against a
//! [`Session`], and returns one typed result that is both `Serialize` (and
//! so has a JSON schema, `tidemark schema`) and rendered for humans. Adding
//! a command is one module and one line in the `registry!` list below
//! (which declares the module and registers it); the workbench's tests fail
//! until it has a golden test, a schema golden and a line in `docs/repl.md`.

use crate::output::Output;
use crate::session::{Session, ShellError};

/// One event as a line, as `log --events` prints it and `expect event` matches it.
pub use log::event_line as event_text;
pub use pkg_ls::status_line as cache_status;

/// What a command does, which decides how scripts treat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Only reads: an `expect` may re-run it until its pattern shows.
    Query,
    /// Changes the kernel: run once.
    Mutation,
    /// Reads what arrives over time (a tail): an `expect` re-runs it and
    /// accumulates what each run saw.
    Stream,
}

/// A registered command.
pub struct Command {
    /// Name as typed (one or two words).
    pub name: &'static str,
    /// What it is.
    pub kind: Kind,
    /// Argument declaration (and help text).
    pub args: fn() -> clap::Command,
    /// Runs it; the flag is `--json`.
    pub run: fn(&mut Session, Vec<String>) -> Result<(Box<dyn Output>, bool), ShellError>,
    /// The JSON schema of its result.
    pub schema: fn() -> schemars::Schema,
}

impl Command {
    /// One-line description.
    pub fn about(&self) -> String {
        (self.args)()
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }
}

/// Declares each command's module and lists it in [`REGISTRY`], in the
/// order `help` lists them: registering a command is one line here.
macro_rules! registry {
    ($($command:ident,)*) => {
        $(mod $command;)*

        /// Every command, in the order `help` lists them.
        pub const REGISTRY: &[Command] = &[$($command::COMMAND,)*];
    };
}

registry! {
    info,
    ps,
    caps,
    caps_graph,
    why,
    spawn,
    kill,
    reload,
    grant,
    revoke,
    chan_ls,
    chan_show,
    chan_new,
    chan_send,
    chan_tail,
    mem,
    pkg_ls,
    pkg_pin,
    pkg_evict,
    pkg_resolve,
    pkg_upload,
    pkg_catalog,
    pkg_server,
    pkg_trust,
    svc_ls,
    svc_restart,
    svc_send,
    fs_ls,
    fs_cat,
    fs_put,
    fs_diff,
    fs_commit,
    fs_discard,
    bus_pub,
    bus_sub,
    kv_get,
    kv_set,
    kv_ls,
    log,
    dump,
    peek,
    record,
    screenshot,
    panic,
    help,
}

/// Finds the command a line starts with (two-word names first); returns it
/// and how many words its name took.
pub fn find(words: &[String]) -> Option<(&'static Command, usize)> {
    if words.len() >= 2 {
        let two = format!("{} {}", words[0], words[1]);
        if let Some(c) = REGISTRY.iter().find(|c| c.name == two) {
            return Some((c, 2));
        }
    }
    REGISTRY
        .iter()
        .find(|c| Some(&c.name.to_string()) == words.first())
        .map(|c| (c, 1))
}

/// Runs one command line; returns its result and whether `--json` was given.
pub fn run_line(
    session: &mut Session,
    words: Vec<String>,
) -> Result<(Box<dyn Output>, bool), ShellError> {
    let (cmd, n) = find(&words).ok_or_else(|| ShellError::UnknownCommand(words.join(" ")))?;
    (cmd.run)(session, words[n..].to_vec())
}

/// The `--json` flag every command takes.
pub fn json_flag() -> clap::Arg {
    clap::Arg::new("json")
        .long("json")
        .action(clap::ArgAction::SetTrue)
        .help("Print the result (or error) as JSON")
}

/// A command's clap declaration with the flags every command shares.
pub fn declare<A: clap::CommandFactory>(name: &'static str) -> clap::Command {
    A::command().name(name).arg(json_flag())
}

/// Parses a command's arguments and its `--json` flag; `--help` comes back
/// as its help text.
pub fn parse<A: clap::Parser>(
    name: &'static str,
    argv: Vec<String>,
) -> Result<(A, bool), ShellError> {
    let mut cmd = declare::<A>(name).no_binary_name(true);
    let matches = cmd
        .try_get_matches_from_mut(argv)
        // The shell says `error:` itself: clap's own prefix goes.
        .map_err(|e| {
            let text = e.render().to_string();
            ShellError::Usage(text.trim_start_matches("error: ").trim_end().to_string())
        })?;
    let json = matches.get_flag("json");
    let a = <A as clap::FromArgMatches>::from_arg_matches(&matches)
        .map_err(|e| ShellError::Usage(e.to_string()))?;
    Ok((a, json))
}

/// The schema of what `run` returns.
pub fn schema_of<A, O: schemars::JsonSchema>(
    _: fn(&mut Session, A) -> Result<O, ShellError>,
) -> schemars::Schema {
    schemars::SchemaGenerator::default().into_root_schema_for::<O>()
}

macro_rules! command {
    ($name:literal, $kind:ident, $args:ty, $run:path) => {
        /// This module's registration.
        pub const COMMAND: crate::commands::Command = crate::commands::Command {
            name: $name,
            kind: crate::commands::Kind::$kind,
            args: || crate::commands::declare::<$args>($name),
            run: |s, argv| {
                let (a, json) = crate::commands::parse::<$args>($name, argv)?;
                $run(s, a).map(|o| (Box::new(o) as Box<dyn crate::output::Output>, json))
            },
            schema: || crate::commands::schema_of::<$args, _>($run),
        };
    };
}
pub(crate) use command;

/// The commands section of `docs/repl.md`, generated from the registry.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for c in REGISTRY {
        let help = (c.args)().render_long_help().to_string();
        out.push_str(&format!(
            "### `{}`\n\n{}\n\n```text\n{}\n```\n\n",
            c.name,
            c.about(),
            help.trim_end()
        ));
    }
    out.trim_end().to_string() + "\n"
}
