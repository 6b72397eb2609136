//! What the engine's integration tests share: one test per channel path,
//! and a kernel booted with every test guest installed.

use tidemark_abi::{Backpressure, Rights};
use tidemark_hosted::kernel::caps::Object;
use tidemark_hosted::kernel::{Config, KERNEL_PID, Pid, SpawnSpec};
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

/// A kernel on `path` with `config` and every test guest installed (its
/// package cache given a slot for each: more guests than the default 16
/// would evict the first).
pub fn boot_with(mut config: Config, path: Options) -> Hosted {
    config.package_slots = config.package_slots.max(tidemark_guest_artifacts::ALL.len());
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

/// A kernel-held channel.
#[allow(dead_code)]
pub fn chan(h: &Hosted, name: &str, data: u32, frames: u32, bp: Backpressure) -> u32 {
    h.kernel()
        .create_channel(name, data, frames, bp, KERNEL_PID)
        .unwrap()
}

/// ping `args` on out/in, pong `pong_args` on in/out; returns (ping,
/// pong, there, back).
#[allow(dead_code)]
pub fn pair(
    h: &Hosted,
    tag: &str,
    ping_args: &str,
    pong_args: &str,
    bp: Backpressure,
) -> (Pid, Pid, u32, u32) {
    let there = chan(h, &format!("{tag}-there"), 4096, 64, bp);
    let back = chan(h, &format!("{tag}-back"), 4096, 64, Backpressure::Park);
    let pong = h
        .spawn(
            SpawnSpec::new("pong")
                .args(pong_args.as_bytes())
                .grant("in", Object::Channel(there), Rights::READ)
                .grant("out", Object::Channel(back), Rights::WRITE)
                .grant("ctl", Object::Channel(back), Rights::READ),
        )
        .unwrap();
    let ping = h
        .spawn(
            SpawnSpec::new("ping")
                .args(ping_args.as_bytes())
                .grant("out", Object::Channel(there), Rights::WRITE)
                .grant("in", Object::Channel(back), Rights::READ)
                .grant("ctl", Object::Channel(back), Rights::WRITE),
        )
        .unwrap();
    (ping, pong, there, back)
}
