//! The command registry: one module per command, registered here once.
//!
//! A command declares its arguments with clap (which gives `help` its text),
//! runs against a [`Session`], and returns one result type that renders both
//! as human text and as JSON. Adding a command is one module and one line in
//! the `registry!` list below (which declares the module and registers it); `shell/tests` fail until it has a golden test and a line in
//! `docs/repl.md`.

use crate::output::Output;
use crate::session::{Session, ShellError};

/// One event as a line, as `log --events` prints it and `expect event` matches it.
pub use log::event_line as event_text;

/// A registered command.
pub struct Command {
    /// Name as typed (one or two words).
    pub name: &'static str,
    /// Argument declaration (and help text).
    pub args: fn() -> clap::Command,
    /// Runs it.
    pub run: fn(&mut Session, Vec<String>) -> Result<Box<dyn Output>, ShellError>,
}

impl Command {
    /// One-line description.
    pub fn about(&self) -> String {
        (self.args)().get_about().map(|a| a.to_string()).unwrap_or_default()
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
    log,
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
    REGISTRY.iter().find(|c| Some(&c.name.to_string()) == words.first()).map(|c| (c, 1))
}

/// Commands that only read: scripts may re-run them while waiting for an
/// expectation to hold.
pub fn is_query(name: &str) -> bool {
    matches!(name, "info" | "ps" | "caps" | "chan ls" | "chan show" | "chan tail" | "mem" | "pkg ls" | "log" | "help")
}

/// Runs one command line.
pub fn run_line(session: &mut Session, words: Vec<String>) -> Result<Box<dyn Output>, ShellError> {
    let (cmd, n) = find(&words).ok_or_else(|| ShellError::UnknownCommand(words.join(" ")))?;
    (cmd.run)(session, words[n..].to_vec())
}

/// Parses a command's arguments; `--help` comes back as its help text.
pub fn parse<A: clap::Parser>(name: &'static str, argv: Vec<String>) -> Result<A, ShellError> {
    let mut cmd = <A as clap::CommandFactory>::command().name(name).no_binary_name(true);
    let matches = cmd.try_get_matches_from_mut(argv).map_err(|e| ShellError::Usage(e.render().to_string().trim_end().to_string()))?;
    <A as clap::FromArgMatches>::from_arg_matches(&matches).map_err(|e| ShellError::Usage(e.to_string()))
}

macro_rules! command {
    ($name:literal, $args:ty, $run:path) => {
        /// This module's registration.
        pub const COMMAND: crate::commands::Command = crate::commands::Command {
            name: $name,
            args: || <$args as clap::CommandFactory>::command().name($name),
            run: |s, argv| {
                let a = crate::commands::parse::<$args>($name, argv)?;
                $run(s, a).map(|o| Box::new(o) as Box<dyn crate::output::Output>)
            },
        };
    };
}
pub(crate) use command;

/// The commands section of `docs/repl.md`, generated from the registry.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for c in REGISTRY {
        let help = (c.args)().render_long_help().to_string();
        out.push_str(&format!("### `{}`\n\n{}\n\n```text\n{}\n```\n\n", c.name, c.about(), help.trim_end()));
    }
    out.trim_end().to_string() + "\n"
}
