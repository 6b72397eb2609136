//! This process and its children.

use crate::cap::Cap;
use crate::{Error, Result, Rights, check, sys};

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

/// A spawn that hands the child capabilities before its first instruction
/// (`proc_spawn_caps`): each grant is a copy of one of this process's
/// capabilities (held with the `g` right), narrowed to the given rights.
///
/// ```ignore
/// let pid = Spawn::new("kv").grant(req.cap, Rights::READ, "req")?.run(b"")?;
/// ```
pub struct Spawn<'a> {
    name: &'a str,
    grants: [u8; 1024],
    len: usize,
}

impl<'a> Spawn<'a> {
    /// A spawn of package `name` (or a 64-digit hash) with no grants yet.
    pub fn new(name: &'a str) -> Spawn<'a> {
        Spawn { name, grants: [0; 1024], len: 0 }
    }

    /// Adds a grant; `NoMemory` when the grants pass 1 KiB.
    pub fn grant(mut self, cap: Cap, rights: Rights, name: &str) -> Result<Spawn<'a>> {
        let need = 12 + name.len();
        let rec = self.grants.get_mut(self.len..self.len + need).ok_or(Error::NoMemory)?;
        rec[..4].copy_from_slice(&cap.0.to_le_bytes());
        rec[4..8].copy_from_slice(&rights.0.to_le_bytes());
        rec[8..12].copy_from_slice(&(name.len() as u32).to_le_bytes());
        rec[12..].copy_from_slice(name.as_bytes());
        self.len += need;
        Ok(self)
    }

    /// Spawns the child with `args`; returns its pid.
    pub fn run(&self, args: &[u8]) -> Result<u32> {
        // SAFETY: pointers and lengths describe live slices.
        check(unsafe {
            sys::proc_spawn_caps(
                self.name.as_ptr() as i32,
                self.name.len() as i32,
                args.as_ptr() as i32,
                args.len() as i32,
                self.grants.as_ptr() as i32,
                self.len as i32,
            )
        })
    }
}

/// How a child ended, as the kernel reports it on a watch channel.
pub use crate::abi::ChildExit;

/// Asks the kernel to write a [`ChildExit`] frame on channel `cap` (held
/// with `w`) whenever a child of this process ends; `None` stops it.
pub fn watch(cap: Option<Cap>) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { sys::proc_watch(cap.map_or(-1, |c| c.0)) }).map(|_| ())
}

/// A package resolved by [`resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Its SHA-256.
    pub hash: [u8; 32],
    /// The module's size in bytes.
    pub size: u32,
}

impl Resolved {
    /// The hash as 64 lower-case hex digits, what [`spawn`] takes to run
    /// exactly this module.
    pub fn hex(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in self.hash.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        out
    }
}

/// Resolves package `name` in the package cache; a package the kernel's
/// signed catalog lists but the cache lacks is fetched, verified and cached
/// first (this process is parked meanwhile). `NotFound` when nothing lists
/// it, `Unavailable` when the fetch or its verification failed.
pub fn resolve(name: &str) -> Result<Resolved> {
    let mut hash = [0u8; 32];
    // SAFETY: pointers and lengths describe live buffers; the kernel
    // writes 32 bytes at `hash`.
    let size = check(unsafe { sys::pkg_resolve(name.as_ptr() as i32, name.len() as i32, hash.as_mut_ptr() as i32) })?;
    Ok(Resolved { hash, size })
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

#[cfg(test)]
mod tests {
    use super::Resolved;

    #[test]
    fn a_resolved_hash_spells_the_hex_spawn_takes() {
        let mut hash = [0u8; 32];
        hash[0] = 0xa5;
        hash[31] = 0x0f;
        let hex = Resolved { hash, size: 1 }.hex();
        assert_eq!(&hex[..4], b"a500");
        assert_eq!(&hex[60..], b"000f");
        assert!(hex.iter().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
