//! Frames in place: a writer fills its reservation where it lies in the
//! data ring and commits it; a reader looks at the next frame where it lies
//! and releases it. No copy through a buffer of either side's own. The
//! steps are those of [`Ring::write`] and [`Ring::read`] without their
//! copies, so the repair and waiting rules hold unchanged: a writer that
//! stops between reserving and committing leaves a reservation
//! [`Ring::repair_writer`] turns into a tombstone, and a reader that stops
//! before releasing leaves its cursor on the frame.

use core::ops::Range;
use core::sync::atomic::Ordering::{Relaxed, Release, SeqCst};

use crate::ops::data_len;
use crate::*;

/// The next frame for a reader, not yet released: what [`Ring::peek`]
/// found. Its bytes stay put until [`Ring::release`] moves the cursor past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peeked {
    /// Sequence number.
    pub seq: u32,
    /// Payload length.
    pub len: u32,
    /// Writer id that wrote the frame.
    pub writer: u32,
    /// The writer's owner when it reserved the frame (as in [`Read`]).
    pub owner: u32,
    pub(crate) pos: u32,
}

impl<M: Memory> Ring<'_, M> {
    /// Where frame `seq`'s `len` bytes at ring position `pos` lie, as
    /// offsets from the start of the ring: in its slot when it is
    /// [inline](INLINE); else in the data ring up to its end, then wrapped
    /// to its start (often empty).
    pub(crate) fn spans(&self, seq: u32, pos: u32, len: u32) -> (Range<usize>, Range<usize>) {
        if data_len(len) == 0 {
            let at = self.frame_off(seq, 4);
            return (at..at + len as usize, at..at);
        }
        let data = self.geo.data_off();
        let cap = self.geo.data_cap as usize;
        let at = pos as usize & (cap - 1);
        let first = (len as usize).min(cap - at);
        (data + at..data + at + first, data..data + len as usize - first)
    }

    /// The spans of a reservation, from the start of the ring: the bytes
    /// its writer alone may fill.
    pub fn reservation_spans(&self, r: &Reservation) -> (Range<usize>, Range<usize>) {
        self.spans(r.seq, r.pos, r.len)
    }

    /// The spans of a peeked frame, from the start of the ring: the bytes
    /// its reader may look at.
    pub fn peeked_spans(&self, p: &Peeked) -> (Range<usize>, Range<usize>) {
        self.spans(p.seq, p.pos, p.len)
    }

    /// Publishes a reservation whose bytes its writer filled in place.
    pub fn commit(&self, r: Reservation) -> Written {
        // The writer's own counters first: the stamp is the last store.
        self.add_own(self.counter_off(r.writer, 0), 1);
        self.add_own(self.counter_off(r.writer, 1), r.len);
        let stamp = self.frame_off(r.seq, 0);
        Written {
            seq: r.seq,
            wake_readers: self.store_and_take_waiters(stamp, r.seq.wrapping_add(1), WAIT_READERS),
        }
    }

    /// Gives a reservation up: it is published as a tombstone, which readers
    /// skip (what [`Ring::repair_writer`] does for a writer that stopped).
    pub fn cancel(&self, r: Reservation) -> Written {
        let word = self.load(self.frame_off(r.seq, 1), Relaxed);
        self.store(self.frame_off(r.seq, 1), word | TOMBSTONE, Relaxed);
        self.store(self.frame_off(r.seq, 0), r.seq.wrapping_add(1), Release);
        self.mem.fence(SeqCst);
        Written {
            seq: r.seq,
            wake_readers: self.take_waiters(WAIT_READERS),
        }
    }

    /// The next frame for reader `slot`, tombstones skipped (the cursor
    /// moves past them) and the frame itself left unread: `Empty`, or
    /// `Skipped` when only tombstones were there, as [`Ring::read`] says.
    pub fn peek(&self, slot: u32) -> Result<Peeked, RingError> {
        self.reader_attached(slot)?;
        let mut seq = self.load(self.reader_off(slot, 1), Relaxed);
        let start = seq;
        while let Some((writer, pos, len)) = self.published(seq) {
            self.valid_record(writer, len)?;
            if writer & TOMBSTONE != 0 {
                seq = seq.wrapping_add(1);
                self.advance(slot, seq);
                if seq.wrapping_sub(start) >= self.geo.frame_cap {
                    break;
                }
                continue;
            }
            return Ok(Peeked {
                seq,
                len,
                writer: writer & WRITER_ID,
                owner: (writer >> 8) & OWNER_MASK,
                pos,
            });
        }
        if seq == start {
            return Err(RingError::Empty);
        }
        self.mem.fence(SeqCst);
        Err(RingError::Skipped {
            wake_writers: self.take_waiters(WAIT_WRITERS),
        })
    }

    /// Moves reader `slot`'s cursor past a frame it peeked (and has done
    /// with: writers may reuse its bytes from here on).
    pub fn release(&self, slot: u32, p: Peeked) -> Read {
        // The cursor's store releases the frame's bytes to the writers (as
        // `advance` does).
        let cursor = self.reader_off(slot, 1);
        Read {
            len: p.len,
            writer: p.writer,
            owner: p.owner,
            seq: p.seq,
            wake_writers: self.store_and_take_waiters(cursor, p.seq.wrapping_add(1), WAIT_WRITERS),
        }
    }
}

impl<'a> Ring<'a, Raw<'a>> {
    /// The first byte of the ring: the spans of reservations and peeked
    /// frames are offsets from it.
    pub fn base_ptr(&self) -> *mut u8 {
        self.mem.base_ptr()
    }
}
