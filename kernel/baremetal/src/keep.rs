//! A kernel panic's dump kept in RAM that survives a warm reset, for a
//! board whose link cannot carry it as the chip resets (the C6's 64-byte
//! USB FIFO). The panic handler writes the dump file's bytes behind a
//! header; the next boot takes them ([`take`]) and hands them to the kernel
//! ([`crate::Machine::restore_panic`]), where `dump --crash` finds them.
//!
//! The area is not cleared at a reset, but is random after power-on (or
//! holds a dump an older image kept): the header's magic, length and
//! checksum tell a kept dump from anything else, and [`take`] clears the
//! magic so a dump is offered once.

use alloc::vec::Vec;

/// `TMKP`, then the length and the FNV-1a of the bytes (little-endian).
const MAGIC: [u8; 4] = *b"TMKP";
/// Bytes of the header.
pub const HEADER: usize = 12;

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Writes what `fill` puts in the area's body (it returns how many bytes,
/// `None` when they do not fit) behind a header; whether it kept them.
pub fn keep(area: &mut [u8], fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
    let Some((head, body)) = area.split_at_mut_checked(HEADER) else {
        return false;
    };
    // Invalid while it is written: a reset midway leaves no half dump.
    head.fill(0);
    let Some(n) = fill(body).filter(|n| *n <= body.len()) else {
        return false;
    };
    head[4..8].copy_from_slice(&(n as u32).to_le_bytes());
    head[8..12].copy_from_slice(&fnv1a(&body[..n]).to_le_bytes());
    head[..4].copy_from_slice(&MAGIC);
    true
}

/// The bytes [`keep`] left in the area, once: `None` when it holds
/// anything else (garbage after power-on, nothing kept).
pub fn take(area: &mut [u8]) -> Option<Vec<u8>> {
    let (head, body) = area.split_at_mut_checked(HEADER)?;
    if head[..4] != MAGIC {
        return None;
    }
    head[..4].fill(0);
    let n = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let sum = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    let bytes = body.get(..n)?;
    (fnv1a(bytes) == sum).then(|| bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_dump_is_taken_once_and_garbage_is_not_a_dump() {
        let mut area = [0xa5u8; 64];
        assert_eq!(take(&mut area), None, "power-on garbage");
        assert!(keep(&mut area, |b| {
            b[..5].copy_from_slice(b"hello");
            Some(5)
        }));
        assert_eq!(take(&mut area).as_deref(), Some(&b"hello"[..]));
        assert_eq!(take(&mut area), None, "offered once");
        // Too big for the area: nothing kept, not even the old header.
        assert!(keep(&mut area, |b| Some(b.len())));
        assert!(!keep(&mut area, |_| None));
        assert_eq!(take(&mut area), None);
        // A flipped bit in the body fails the checksum.
        assert!(keep(&mut area, |b| {
            b[..3].copy_from_slice(b"abc");
            Some(3)
        }));
        area[HEADER + 1] ^= 1;
        assert_eq!(take(&mut area), None);
        // A length past the area is not read.
        assert!(keep(&mut area, |_| Some(1)));
        area[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(take(&mut area), None);
        assert!(!keep(&mut [0u8; 4], |_| Some(0)), "no room for the header");
    }
}
