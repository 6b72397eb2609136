//! Clock and sleeping.

use crate::{Result, check, sys};

/// Nanoseconds since boot.
pub fn now() -> u64 {
    // SAFETY: no pointers.
    unsafe { sys::time_now() as u64 }
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
