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
    check(unsafe {
        sys::proc_spawn(
            name.as_ptr() as i32,
            name.len() as i32,
            args.as_ptr() as i32,
            args.len() as i32,
        )
    })
}

/// Kills a child process.
pub fn kill(pid: u32) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { sys::proc_kill(pid as i32) }).map(|_| ())
}

/// Copies the state the previous instance of this process handed over at
/// its last hot reload into `buf`; returns it (empty when there is none).
pub fn state(buf: &mut [u8]) -> &[u8] {
    // SAFETY: pointer and length describe `buf`.
    let n = unsafe { sys::proc_state(buf.as_mut_ptr() as i32, buf.len() as i32) };
    &buf[..(n.max(0) as usize).min(buf.len())]
}

/// Hands state to the successor at a hot reload: `save!(f)` exports
/// `tidemark_save`, which the kernel calls on the old instance at the safe
/// point where it stops; `f` returns the bytes, which must stay valid (a
/// `static` buffer). The successor reads them with [`state`].
#[macro_export]
macro_rules! save {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn tidemark_save() -> i64 {
            let bytes: &'static [u8] = $f();
            ((bytes.as_ptr() as u32 as i64) << 32) | bytes.len() as u32 as i64
        }
    };
}
