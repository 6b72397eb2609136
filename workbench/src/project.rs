//! The project manifest, `Tidemark.toml`: the guests a project builds, the
//! channels wired between them and the capabilities each gets at spawn, in
//! boot order. Errors are miette diagnostics pointing at the offending span.
//!
//! ```toml
//! [project]
//! name = "hello"
//! board = "hosted"
//!
//! [[channel]]
//! name = "requests"
//! bytes = 4096      # payload capacity (default 4096)
//! frames = 64       # frame capacity (default 64)
//! drop = false      # Drop instead of Park backpressure
//! single = false    # one writer and one reader process only (a lock-free ring)
//!
//! [[guest]]
//! name = "service"              # process and package name
//! path = "service"              # a Cargo crate directory, or a .wat/.wasm file
//! caps = ["req=requests:r"]     # NAME=CHANNEL[:RIGHTS], rights from rwgd (default rw)
//! args = ""                     # passed to the guest (proc_args)
//!
//! [guest.uses]                  # optional, with [services]: see `userland`
//! kv = { prefix = "service/" }
//!
//! [services]                    # optional: boot init with vfs, bus and kv (docs/userland.md)
//! image = "rootfs"
//!
//! [packages]                    # optional: packages on demand (docs/packages.md)
//! keys = ["<64 hex digits>"]    # Ed25519 public keys whose catalogs are trusted
//! server = "http://127.0.0.1:8470"
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The manifest's file name.
pub const MANIFEST: &str = "Tidemark.toml";

/// A manifest error at a place in the file.
pub type ManifestError = crate::toml_error::TomlError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    project: RawProject,
    #[serde(default, rename = "channel")]
    channels: Vec<RawChannel>,
    #[serde(default, rename = "guest")]
    guests: Vec<RawGuest>,
    packages: Option<crate::pkg::config::RawPackages>,
    services: Option<crate::userland::config::RawServices>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: String,
    board: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: Spanned<String>,
    bytes: Option<u32>,
    frames: Option<u32>,
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    single: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuest {
    name: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    caps: Vec<Spanned<String>>,
    #[serde(default)]
    args: String,
    memory: Option<u64>,
    uses: Option<Spanned<crate::userland::config::RawUses>>,
}

/// A channel the project creates at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Name.
    pub name: String,
    /// Payload capacity.
    pub bytes: u32,
    /// Frame capacity.
    pub frames: u32,
    /// Drop backpressure.
    pub drop: bool,
    /// One writer and one reader (the kernel refuses a second party).
    pub single: bool,
}

/// Where a guest's module comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Cargo crate built for wasm32.
    Cargo {
        /// Crate directory.
        dir: PathBuf,
        /// Crate name (the artifact is `<name with _>.wasm`).
        krate: String,
    },
    /// A WAT or wasm file.
    File(PathBuf),
}

/// A guest the project builds and spawns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestSpec {
    /// Process and package name.
    pub name: String,
    /// Source.
    pub source: Source,
    /// Capabilities: `NAME=CHANNEL[:RIGHTS]`.
    pub caps: Vec<String>,
    /// Arguments.
    pub args: String,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// What it reaches through the system services (`[guest.uses]`).
    pub uses: crate::userland::Uses,
}

impl GuestSpec {
    /// Its capabilities as (grant name, channel name, rights), parsed from
    /// `caps` (validated when the manifest was loaded).
    pub fn cap_grants(&self) -> Vec<(String, String, tidemark_abi::Rights)> {
        self.caps
            .iter()
            .map(|spec| {
                let (name, rest) = spec.split_once('=').expect("validated");
                let (chan, rights) = rest.split_once(':').unwrap_or((rest, "rw"));
                (name.into(), chan.into(), tidemark_abi::Rights::parse(rights).expect("validated"))
            })
            .collect()
    }

    /// Files and directories to watch for changes.
    pub fn watch_root(&self) -> &Path {
        match &self.source {
            Source::Cargo { dir, .. } => dir,
            Source::File(f) => f,
        }
    }
}

/// A loaded, validated project.
#[derive(Clone, Debug)]
pub struct Project {
    /// Directory holding `Tidemark.toml`.
    pub dir: PathBuf,
    /// Name.
    pub name: String,
    /// Default board.
    pub board: String,
    /// Channels, in creation order.
    pub channels: Vec<ChannelSpec>,
    /// Guests, in boot order.
    pub guests: Vec<GuestSpec>,
    /// `[packages]`: trusted keys and the package server.
    pub packages: crate::pkg::config::Packages,
    /// `[services]`: boot through init with the system services.
    pub userland: Option<crate::userland::Userland>,
}

impl Project {
    /// Loads `DIR/Tidemark.toml`.
    pub fn load(dir: &Path) -> Result<Project, Box<ManifestError>> {
        // Absolute paths: the watcher reports events by absolute path.
        let dir = &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ManifestError::new(
                "tidemark::manifest",
                &path.display().to_string(),
                "",
                format!("cannot read {}: {e}", path.display()),
                None,
                "",
                Some("`tidemark new NAME` scaffolds a project".into()),
            )
        })?;
        Project::parse(dir, &path.display().to_string(), &text)
    }

    /// Parses and validates manifest text; `dir` resolves guest paths.
    pub fn parse(dir: &Path, name: &str, text: &str) -> Result<Project, Box<ManifestError>> {
        let err =
            |message: String, span: Option<Range<usize>>, label: &str, help: Option<String>| {
                ManifestError::new("tidemark::manifest", name, text, message, span, label, help)
            };
        let raw: RawManifest = toml::from_str(text)
            .map_err(|e| err(e.message().to_string(), e.span(), "here", None))?;
        let board = match raw.project.board {
            None => "hosted".to_string(),
            Some(b) if crate::board::Board::get(b.get_ref()).is_some() => b.into_inner(),
            Some(b) => {
                return Err(err(
                    format!(
                        "board `{}` is not supported by this workbench yet",
                        b.get_ref()
                    ),
                    Some(b.span()),
                    "unknown board",
                    Some(format!(
                        "supported boards: {}",
                        crate::board::Board::names()
                    )),
                ));
            }
        };
        let mut channels: Vec<ChannelSpec> = Vec::new();
        for c in raw.channels {
            if channels.iter().any(|x| x.name == *c.name.get_ref()) {
                return Err(err(
                    format!("channel `{}` is declared twice", c.name.get_ref()),
                    Some(c.name.span()),
                    "again here",
                    None,
                ));
            }
            channels.push(ChannelSpec {
                name: c.name.into_inner(),
                bytes: c.bytes.unwrap_or(4096),
                frames: c.frames.unwrap_or(64),
                drop: c.drop,
                single: c.single,
            });
        }
        let fail = |m, s, l: &str, h| err(m, s, l, h);
        let userland = match raw.services {
            Some(s) => Some(s.check(dir, &fail)?),
            None => None,
        };
        let mut guests: Vec<GuestSpec> = Vec::new();
        for g in raw.guests {
            if guests.iter().any(|x| x.name == *g.name.get_ref()) {
                return Err(err(
                    format!("guest `{}` is declared twice", g.name.get_ref()),
                    Some(g.name.span()),
                    "again here",
                    None,
                ));
            }
            let p = dir.join(g.path.get_ref());
            let source = if p.is_dir() {
                let cargo = p.join("Cargo.toml");
                let krate = std::fs::read_to_string(&cargo)
                    .ok()
                    .and_then(|t| t.parse::<toml::Table>().ok())
                    .and_then(|t| t.get("package")?.get("name")?.as_str().map(String::from))
                    .ok_or_else(|| {
                        err(
                            format!("{} has no Cargo.toml with a package name", p.display()),
                            Some(g.path.span()),
                            "not a crate",
                            Some(
                                "a guest path is a Cargo crate directory or a .wat/.wasm file"
                                    .into(),
                            ),
                        )
                    })?;
                Source::Cargo { dir: p, krate }
            } else if p.is_file() && p.extension().is_some_and(|e| e == "wat" || e == "wasm") {
                Source::File(p)
            } else {
                return Err(err(
                    format!(
                        "guest `{}`: {} is neither a crate directory nor a .wat/.wasm file",
                        g.name.get_ref(),
                        p.display()
                    ),
                    Some(g.path.span()),
                    "no such guest source",
                    None,
                ));
            };
            let mut caps = Vec::new();
            for c in g.caps {
                let spec = c.get_ref();
                let bad = |why: String| {
                    err(
                        why,
                        Some(c.span()),
                        "in this capability",
                        Some("capabilities are NAME=CHANNEL[:RIGHTS], rights from `rwgd`".into()),
                    )
                };
                let (_, rest) = spec
                    .split_once('=')
                    .ok_or_else(|| bad(format!("`{spec}` has no `=`")))?;
                let (chan, rights) = rest.split_once(':').unwrap_or((rest, "rw"));
                if !channels.iter().any(|x| x.name == chan) {
                    return Err(bad(format!("no channel `{chan}` is declared")));
                }
                if tidemark_abi::Rights::parse(rights).is_none() {
                    return Err(bad(format!("`{rights}` are not rights")));
                }
                caps.push(c.into_inner());
            }
            let uses = match g.uses {
                None => crate::userland::Uses::default(),
                Some(u) if userland.is_none() => {
                    return Err(err(
                        format!("guest `{}` uses services, but the project has no `[services]`", g.name.get_ref()),
                        Some(u.span()),
                        "uses services",
                        Some("add `[services]` to boot init with vfs, bus and kv".into()),
                    ));
                }
                Some(u) => u.into_inner().check(&fail)?,
            };
            guests.push(GuestSpec {
                name: g.name.into_inner(),
                source,
                caps,
                args: g.args,
                memory: g.memory,
                uses,
            });
        }
        let packages = raw
            .packages
            .unwrap_or_default()
            .check(false, &|m, s, l, h| err(m, s, l, h))?;
        Ok(Project {
            dir: dir.to_path_buf(),
            name: raw.project.name,
            board,
            channels,
            guests,
            packages,
            userland,
        })
    }

    /// The guest whose sources contain `path`, if any.
    pub fn guest_for(&self, path: &Path) -> Option<&GuestSpec> {
        self.guests
            .iter()
            .find(|g| path.starts_with(g.watch_root()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("tidemark-manifest-{}", std::process::id()));
        std::fs::create_dir_all(d.join("svc")).unwrap();
        std::fs::write(d.join("svc/Cargo.toml"), "[package]\nname = \"my-svc\"\n").unwrap();
        std::fs::write(d.join("tiny.wat"), "(module)").unwrap();
        d
    }

    fn report(e: &ManifestError) -> String {
        let mut s = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut s, e)
            .unwrap();
        s
    }

    #[test]
    fn a_valid_manifest_loads_in_order() {
        let d = dir();
        let p = Project::parse(
            &d,
            "T.toml",
            "[project]\nname = \"x\"\n[[channel]]\nname = \"a\"\n[[channel]]\nname = \"b\"\ndrop = true\nsingle = true\n\
             [[guest]]\nname = \"svc\"\npath = \"svc\"\ncaps = [\"in=a:r\", \"out=b\"]\n[[guest]]\nname = \"t\"\npath = \"tiny.wat\"\n",
        )
        .unwrap();
        assert_eq!(p.board, "hosted");
        assert_eq!(
            p.channels[1],
            ChannelSpec {
                name: "b".into(),
                bytes: 4096,
                frames: 64,
                drop: true,
                single: true,
            }
        );
        assert_eq!(
            p.guests[0].source,
            Source::Cargo {
                dir: d.join("svc"),
                krate: "my-svc".into()
            }
        );
        assert_eq!(p.guests[1].source, Source::File(d.join("tiny.wat")));
        assert_eq!(p.guest_for(&d.join("svc/src/lib.rs")).unwrap().name, "svc");
    }

    #[test]
    fn errors_point_at_the_offending_span() {
        let d = dir();
        let text = "[project]\nname = \"x\"\n[[channel]]\nname = \"a\"\n[[guest]]\nname = \"svc\"\npath = \"svc\"\ncaps = [\"in=nochan:r\"]\n";
        let e = Project::parse(&d, "T.toml", text).unwrap_err();
        let r = report(&e);
        assert!(r.contains("no channel `nochan` is declared"), "{r}");
        assert!(r.contains("8 │ caps = [\"in=nochan:r\"]"), "{r}");
        let e = Project::parse(
            &d,
            "T.toml",
            "[project]\nname = \"x\"\nboard = \"stm32f4\"\n",
        )
        .unwrap_err();
        assert!(report(&e).contains("unknown board"));
        let e = Project::parse(&d, "T.toml", "[project]\nname = \"x\"\ncolour = 3\n").unwrap_err();
        assert!(
            report(&e).contains("unknown field `colour`"),
            "{}",
            report(&e)
        );
        let e = Project::parse(
            &d,
            "T.toml",
            "[project]\nname = \"x\"\n[[guest]]\nname = \"g\"\npath = \"missing\"\n",
        )
        .unwrap_err();
        assert!(report(&e).contains("no such guest source"));
    }
}
