//! Capability handles.

use crate::abi::{CapInfo, Wire};
use crate::{Result, Rights, check, sys};

/// A capability handle held by this process. Copies are cheap and all
/// become stale together when the capability is revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap(pub i32);

impl Cap {
    /// Looks up a capability granted under `name`.
    pub fn lookup(name: &str) -> Result<Cap> {
        // SAFETY: pointer and length describe `name`.
        check(unsafe { sys::cap_lookup(name.as_ptr() as i32, name.len() as i32) })
            .map(|h| Cap(h as i32))
    }

    /// Checks that the handle is live and carries `rights`.
    pub fn check(self, rights: Rights) -> Result<()> {
        // SAFETY: no pointers.
        check(unsafe { sys::cap_check(self.0, rights.0 as i32) }).map(|_| ())
    }

    /// What the handle names.
    pub fn info(self) -> Result<CapInfo> {
        let mut b = [0u8; CapInfo::SIZE];
        // SAFETY: `b` is CapInfo::SIZE bytes.
        check(unsafe { sys::cap_info(self.0, b.as_mut_ptr() as i32) })?;
        Ok(CapInfo::decode(&b))
    }

    /// Gives process `pid` a copy narrowed to `rights`, under `name`.
    pub fn delegate(self, pid: u32, rights: Rights, name: &str) -> Result<Cap> {
        // SAFETY: pointer and length describe `name`.
        check(unsafe {
            sys::cap_delegate(
                self.0,
                pid as i32,
                rights.0 as i32,
                name.as_ptr() as i32,
                name.len() as i32,
            )
        })
        .map(|h| Cap(h as i32))
    }

    /// Revokes every copy delegated from this handle; returns how many.
    pub fn revoke_delegated(self) -> Result<u32> {
        // SAFETY: no pointers.
        check(unsafe { sys::cap_revoke(self.0) })
    }

    /// Drops the capability from this process's table.
    pub fn drop_cap(self) -> Result<()> {
        // SAFETY: no pointers.
        check(unsafe { sys::cap_drop(self.0) }).map(|_| ())
    }
}
