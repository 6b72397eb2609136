//! What the engine's integration tests share: one test per channel path,
//! and a kernel booted with every test guest installed.

use tidemark_hosted::kernel::Config;
use tidemark_hosted::{Hosted, Options};

/// Instantiates each test once per channel path: zero-copy (rings mapped
/// into the guests, run in place by the SDK) and copying (every frame a
/// hostcall).
#[allow(unused_macros)]
macro_rules! on_both_paths {
    ($($name:ident),* $(,)?) => {
        mod zero_copy {
            $( #[test] fn $name() { super::$name(super::Options { zero_copy: true, ..Default::default() }) } )*
        }
        mod copying {
            $( #[test] fn $name() { super::$name(super::Options { zero_copy: false, ..Default::default() }) } )*
        }
    };
}

/// A kernel on `path` with `config` and every test guest installed.
pub fn boot_with(config: Config, path: Options) -> Hosted {
    let h = Hosted::boot_with(config, path);
    assert_eq!(h.zero_copy(), path.zero_copy);
    for g in tidemark_guest_artifacts::ALL {
        h.install(g.name, g.bytes);
    }
    h
}

/// As [`boot_with`], with the default configuration.
#[allow(dead_code)]
pub fn boot(path: Options) -> Hosted {
    boot_with(Config::default(), path)
}
