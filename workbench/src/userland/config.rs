//! `[services]` and each guest's `[guest.uses]` in `Tidemark.toml`.

use std::path::PathBuf;

use serde::Deserialize;
use tidemark_svc::init::RestartPolicy;
use tidemark_svc::pattern;
use toml::Spanned;

/// `[services]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServices {
    image: Option<Spanned<String>>,
    restart: Option<RawRestart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    base_ms: Option<u32>,
    max_ms: Option<u32>,
    budget: Option<u32>,
    window_ms: Option<u32>,
}

/// `[guest.uses]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawUses {
    kv: Option<RawKv>,
    fs: Option<RawFs>,
    bus: Option<RawBus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKv {
    #[serde(default)]
    prefix: String,
    #[serde(default = "yes")]
    write: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFs {
    root: Option<Spanned<String>>,
    #[serde(default = "yes")]
    write: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBus {
    #[serde(default)]
    publish: Vec<Spanned<String>>,
    #[serde(default)]
    subscribe: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// The services a session boots with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Userland {
    /// vfs's lower image: a directory packed at boot, or an image file.
    pub image: Option<PathBuf>,
    /// How init restarts services.
    pub restart: RestartPolicy,
}

/// What one guest may reach through the services.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uses {
    /// kv: a key prefix and whether it may change keys.
    pub kv: Option<(String, bool)>,
    /// vfs: a root directory and whether it may write.
    pub fs: Option<(String, bool)>,
    /// bus: patterns it may publish on, and subscribe to.
    pub bus: Option<(Vec<String>, Vec<String>)>,
}


/// An error at a span: message, span, label, help.
pub type Fail<'a, E> = &'a dyn Fn(String, Option<std::ops::Range<usize>>, &str, Option<String>) -> E;

impl RawServices {
    /// Checks it; `dir` resolves the image directory.
    pub fn check<E>(self, dir: &std::path::Path, err: Fail<'_, E>) -> Result<Userland, E> {
        let image = match self.image {
            None => None,
            Some(i) => {
                let p = dir.join(i.get_ref());
                if !p.exists() {
                    return Err(err(
                        format!("the image {} does not exist", p.display()),
                        Some(i.span()),
                        "no such directory or file",
                        Some("`image` names a directory of the project (packed into vfs's lower layer) or an image `fs commit --save` wrote".into()),
                    ));
                }
                Some(p)
            }
        };
        let d = RestartPolicy::default();
        let restart = self.restart.map_or(d, |r| RestartPolicy {
            base_ms: r.base_ms.unwrap_or(d.base_ms).max(1),
            max_ms: r.max_ms.unwrap_or(d.max_ms),
            budget: r.budget.unwrap_or(d.budget),
            window_ms: r.window_ms.unwrap_or(d.window_ms),
        });
        Ok(Userland { image, restart })
    }
}

impl RawUses {
    /// Checks it: roots are paths, patterns are patterns.
    pub fn check<E>(self, err: Fail<'_, E>) -> Result<Uses, E> {
        let fs = match self.fs {
            None => None,
            Some(f) => {
                let root = match f.root {
                    None => "/".to_string(),
                    Some(r) => {
                        if tidemark_svc::fs::valid_relative(r.get_ref()).is_none() {
                            return Err(err(
                                format!("`{}` is not a path vfs accepts", r.get_ref()),
                                Some(r.span()),
                                "bad root",
                                Some("`/`-separated names, no `..`, `.` or empty levels".into()),
                            ));
                        }
                        r.into_inner()
                    }
                };
                Some((root, f.write))
            }
        };
        let bus = match self.bus {
            None => None,
            Some(b) => {
                for p in b.publish.iter().chain(&b.subscribe) {
                    if !pattern::valid(p.get_ref()) {
                        return Err(err(
                            format!("`{}` is not a topic pattern", p.get_ref()),
                            Some(p.span()),
                            "bad pattern",
                            Some("levels separated by `/`; `*` for one level, `#` (last) for the rest".into()),
                        ));
                    }
                }
                let names = |v: Vec<Spanned<String>>| v.into_iter().map(Spanned::into_inner).collect();
                Some((names(b.publish), names(b.subscribe)))
            }
        };
        Ok(Uses {
            kv: self.kv.map(|k| (k.prefix, k.write)),
            fs,
            bus,
        })
    }
}
