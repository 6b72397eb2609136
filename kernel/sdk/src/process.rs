//! This process and its children.

use crate::{Result, check, sys};

/// This process's pid.
pub fn pid() -> u32 {
    // SAFETY: no pointers.
    unsafe { sys::proc_self() as u32 }
}

/// Copies the spawn arguments into `buf` and returns them (cut to `buf`).
pub fn args(buf: &mut [u8]) -> &[u8] {
    // SAFETY: pointer and length describe `buf`.
    let n = unsafe { sys::proc_args(buf.as_mut_ptr() as i32, buf.len() as i32) };
    &buf[..(n.max(0) as usize).min(buf.len())]
}

/// Ends this process.
pub fn exit(code: i32) -> ! {
    // SAFETY: no pointers.
    unsafe { sys::proc_exit(code) };
    // The kernel never returns from proc_exit; trap if it somehow does.
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    loop {}
}

/// Spawns package `name` from the package cache with `args`.
pub fn spawn(name: &str, args: &[u8]) -> Result<u32> {
    // SAFETY: pointers and lengths describe live slices.
    check(unsafe { sys::proc_spawn(name.as_ptr() as i32, name.len() as i32, args.as_ptr() as i32, args.len() as i32) })
}

/// Kills a child process.
pub fn kill(pid: u32) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { sys::proc_kill(pid as i32) }).map(|_| ())
}
