//! The stack paint: fill the unused stack with a pattern at boot, and find
//! the deepest use later as the lowest word no longer holding it. Both
//! bare-metal boards report it in `info`.

/// The pattern (`TAMK`).
pub const PAINT: u32 = 0x5441_4d4b;

/// Paints `[bottom, below)`, the stack under the caller's frame (less a
/// margin for this function's own frame).
///
/// # Safety
/// `[bottom, below)` must be stack memory nobody uses now or concurrently.
pub unsafe fn paint(bottom: usize, below: usize) {
    let mut p = bottom as *mut u32;
    while (p as usize) + 4 <= below.saturating_sub(256) {
        // SAFETY: the caller's promise.
        unsafe { p.write_volatile(PAINT) };
        p = p.wrapping_add(1);
    }
}

/// Deepest use of the stack `[bottom, top)` (it grows down) since [`paint`].
///
/// # Safety
/// `[bottom, top)` must be readable and painted at boot.
pub unsafe fn peak(bottom: usize, top: usize) -> usize {
    let mut p = bottom as *const u32;
    // SAFETY: the caller's promise.
    while (p as usize) < top && unsafe { p.read_volatile() } == PAINT {
        p = p.wrapping_add(1);
    }
    top - p as usize
}
