//! Clock and sleeping.

use crate::{Result, check, sys};

/// Nanoseconds since boot (`u64::MAX` without the `time` class: see
/// [`try_now`]).
pub fn now() -> u64 {
    // SAFETY: no pointers.
    unsafe { sys::time_now() as u64 }
}

/// Nanoseconds since boot, or `PermissionDenied` when this guest was not
/// given the `time` class.
pub fn try_now() -> Result<u64> {
    // SAFETY: no pointers.
    let t = unsafe { sys::time_now() };
    if t < 0 { Err(crate::Error::from_code(t).unwrap_or(crate::Error::PermissionDenied)) } else { Ok(t as u64) }
}

/// Parks the process for `nanos` nanoseconds.
pub fn sleep(nanos: u64) -> Result<()> {
    // SAFETY: no pointers.
    check(unsafe { sys::sleep(nanos.min(i64::MAX as u64) as i64) }).map(|_| ())
}

/// Gives up the rest of this time slice.
pub fn yield_now() {
    // SAFETY: no pointers.
    unsafe { sys::yield_now() };
}
