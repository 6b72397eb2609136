//! Moving frames: reserve, publish, read, drain, and the waiting handshake.

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::*;

/// A frame reserved by [`Ring::reserve`]: committed (readers will stop at
/// it) but not yet published. [`Ring::publish`] fills and publishes it; a
/// writer that stops in between leaves it to [`Ring::repair_writer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Frame number.
    pub seq: u32,
    /// Writer id.
    pub writer: u32,
    pub(crate) pos: u32,
    pub(crate) len: u32,
}

impl<M: Memory> Ring<'_, M> {
    /// A valid header and a live writer `id`.
    fn writer_attached(&self, id: u32) -> Result<(), RingError> {
        self.validate_header()?;
        if id >= self.geo.max_writers || self.load(self.writer_off(id, 0), Relaxed) != LIVE {
            return Err(RingError::NotAttached);
        }
        Ok(())
    }

    /// A valid header and a live reader `slot`.
    pub(crate) fn reader_attached(&self, slot: u32) -> Result<(), RingError> {
        self.validate_header()?;
        if slot >= self.geo.max_readers || self.load(self.reader_off(slot, 0), Relaxed) != LIVE {
            return Err(RingError::NotAttached);
        }
        Ok(())
    }

    /// Where the frame after `head - 1` starts: from the last frame's
    /// record (a fresh ring's slot `frame_cap - 1` holds position 0, length
    /// 0), so the head is one word and a reservation commits with one store.
    pub(crate) fn head_pos(&self, head: u32) -> u32 {
        let last = head.wrapping_sub(1);
        self.load(self.frame_off(last, 2), Relaxed)
            .wrapping_add(data_len(self.load(self.frame_off(last, 3), Relaxed)))
    }

    /// Byte position of frame `seq` in a window ending at `head`.
    pub(crate) fn pos_of(&self, seq: u32, head: u32, head_pos: u32) -> u32 {
        if seq == head {
            head_pos
        } else {
            self.load(self.frame_off(seq, 2), Relaxed)
        }
    }

    /// Reserves a frame of `len` bytes as writer `id`: under the lock,
    /// writes the frame's record and commits it by moving the head. `Full`
    /// leaves the ring untouched.
    ///
    /// A [single](Geometry::single) ring takes no lock: its one writer is
    /// the only party that moves the head, and the lock's other use, a
    /// reader choosing where to start while no writer decides what it may
    /// overwrite, needs no lock with one reader slot (the reader starts at
    /// the resting cursor, which is the tail the writer uses while no reader
    /// is live, and which only a detach moves).
    pub fn reserve(&self, id: u32, len: usize) -> Result<Reservation, RingError> {
        self.writer_attached(id)?;
        let len = u32::try_from(len).map_err(|_| RingError::TooLarge(u32::MAX))?;
        if len > self.geo.data_cap {
            return Err(RingError::TooLarge(len));
        }
        if self.geo.single() {
            return self.reserve_locked(id, len);
        }
        self.lock(writer_tag(id))?;
        let r = self.reserve_locked(id, len);
        self.unlock();
        r
    }

    /// The reservation itself: with the lock held, or on a single ring.
    fn reserve_locked(&self, id: u32, len: u32) -> Result<Reservation, RingError> {
        let g = &self.geo;
        let head = self.load(H_HEAD, Relaxed);
        let head_pos = self.head_pos(head);
        let fits = |tail: u32| -> Result<bool, RingError> {
            let behind = head.wrapping_sub(tail);
            if behind > g.frame_cap {
                return Err(RingError::Corrupt(Corruption::Cursor));
            }
            let used = head_pos.wrapping_sub(self.pos_of(tail, head, head_pos));
            if used > g.data_cap {
                return Err(RingError::Corrupt(Corruption::Frame));
            }
            Ok(behind < g.frame_cap && used + data_len(len) <= g.data_cap)
        };
        // The tail last computed is never ahead of the real one (cursors
        // only move forward): if it leaves room, there is room.
        if fits(self.load(H_TAIL, Relaxed)) != Ok(true) && !fits(self.refresh_tail(head)?)? {
            return Err(RingError::Full);
        }
        let owner = self.load(self.writer_off(id, 1), Relaxed) & OWNER_MASK;
        self.store(self.frame_off(head, 1), id | owner << 8, Relaxed);
        self.store(self.frame_off(head, 2), head_pos, Relaxed);
        self.store(self.frame_off(head, 3), len, Relaxed);
        // The commit. The slot's stamp may still be that of frame `head -
        // frame_cap` (or 0): never `head + 1`, so no reader mistakes it for
        // this frame, and it needs no clearing. Release: a repair that
        // reads this head must see the records below it (it would take a
        // live writer's fresh record for a stale one of the dead writer's).
        self.store(H_HEAD, head.wrapping_add(1), Release);
        Ok(Reservation {
            seq: head,
            writer: id,
            pos: head_pos,
            len,
        })
    }

    /// Recomputes the tail from the live readers, or the resting cursor
    /// when there are none (lock held, or a single ring).
    fn refresh_tail(&self, head: u32) -> Result<u32, RingError> {
        let mut best: Option<(u32, u32)> = None;
        for slot in 0..self.geo.max_readers {
            // Acquire: a reader's last copy-out happens before we reuse its bytes.
            if self.load(self.reader_off(slot, 0), Acquire) != LIVE {
                continue;
            }
            let seq = self.load(self.reader_off(slot, 1), Acquire);
            let behind = head.wrapping_sub(seq);
            if best.is_none_or(|(b, _)| behind > b) {
                best = Some((behind, seq));
            }
        }
        let tail = match best {
            Some((_, seq)) => seq,
            None => self.load(H_REST, Acquire),
        };
        if head.wrapping_sub(tail) > self.geo.frame_cap {
            return Err(RingError::Corrupt(Corruption::Cursor));
        }
        self.store(H_TAIL, tail, Relaxed);
        Ok(tail)
    }

    /// Copies `payload` (exactly the reserved length) into a reservation
    /// and publishes it.
    pub fn publish(&self, r: Reservation, payload: &[u8]) -> Written {
        self.copy_in(r.seq, r.pos, &payload[..r.len as usize]);
        self.commit(r)
    }

    /// Writes one frame as writer `id`. `Full` leaves the ring untouched.
    pub fn write(&self, id: u32, payload: &[u8]) -> Result<Written, RingError> {
        let r = self.reserve(id, payload.len())?;
        Ok(self.publish(r, payload))
    }

    /// Adds to a word only one party writes (a writer's own counters).
    pub(crate) fn add_own(&self, off: usize, v: u32) {
        self.store(off, self.load(off, Relaxed).wrapping_add(v), Relaxed);
    }

    /// Counts a frame discarded under `Drop` backpressure.
    pub fn count_drop(&self) {
        self.mem.fetch_add(H_DROPS, 1, Relaxed);
    }

    /// Frame `seq`'s record if it is published: (writer word, pos, len).
    pub(crate) fn published(&self, seq: u32) -> Option<(u32, u32, u32)> {
        if self.load(self.frame_off(seq, 0), Acquire) != seq.wrapping_add(1) {
            return None;
        }
        let writer = self.load(self.frame_off(seq, 1), Relaxed);
        Some((
            writer,
            self.load(self.frame_off(seq, 2), Relaxed),
            self.load(self.frame_off(seq, 3), Relaxed),
        ))
    }

    pub(crate) fn valid_record(&self, writer: u32, len: u32) -> Result<(), RingError> {
        if len > self.geo.data_cap || writer & WRITER_ID >= self.geo.max_writers {
            return Err(RingError::Corrupt(Corruption::Frame));
        }
        Ok(())
    }

    /// Stores reader `slot`'s cursor. Release: the copy-out before it
    /// happens before a writer that sees the cursor reuses the bytes.
    pub(crate) fn advance(&self, slot: u32, seq: u32) {
        self.store(self.reader_off(slot, 1), seq, Release);
    }

    /// Reads one frame for reader `slot` into `buf`, skipping tombstones.
    pub fn read(&self, slot: u32, buf: &mut [u8]) -> Result<Read, RingError> {
        // The stamp alone says whether the next frame is published, so a
        // reader polling an empty ring touches no line the writers write but
        // that one. A cursor scribbled out of the live window also reads as
        // empty here: `validate_cursor`, before a reader parks, tells the two
        // apart.
        let p = self.peek(slot)?;
        if p.len as usize > buf.len() {
            return Err(RingError::TooLarge(p.len));
        }
        self.copy_out(p.seq, p.pos, &mut buf[..p.len as usize]);
        Ok(self.release(slot, p))
    }

    /// Whether reader `slot` has a frame to read (tombstones skipped, the
    /// cursor left where it is): what a wait on several rings looks at.
    /// Reads only stamps, as an empty `read` does.
    pub fn pending(&self, slot: u32) -> Result<bool, RingError> {
        self.reader_attached(slot)?;
        let start = self.load(self.reader_off(slot, 1), Relaxed);
        let mut seq = start;
        while let Some((writer, _, len)) = self.published(seq) {
            self.valid_record(writer, len)?;
            if writer & TOMBSTONE == 0 {
                return Ok(true);
            }
            seq = seq.wrapping_add(1);
            if seq.wrapping_sub(start) >= self.geo.frame_cap {
                break;
            }
        }
        Ok(false)
    }

    /// Checks reader `slot`'s cursor against the head: call before parking
    /// on an empty ring, so a scribbled cursor is reported, not slept on.
    pub fn validate_cursor(&self, slot: u32) -> Result<(), RingError> {
        self.reader_attached(slot)?;
        let seq = self.load(self.reader_off(slot, 1), Relaxed);
        if self.load(H_HEAD, Acquire).wrapping_sub(seq) > self.geo.frame_cap {
            return Err(RingError::Corrupt(Corruption::Cursor));
        }
        Ok(())
    }

    /// Moves reader `slot` past every published frame.
    ///
    /// It stops at the first frame not yet published: a writer may have
    /// reserved it and still be copying its payload. Moving the cursor past
    /// such a frame would let writers reuse its frame slot and bytes while
    /// the late writer still stores into them. Frames are validated as
    /// `read` validates them; a corrupt one leaves the cursor where it was.
    pub fn drain(&self, slot: u32) -> Result<Drained, RingError> {
        self.reader_attached(slot)?;
        let start = self.load(self.reader_off(slot, 1), Relaxed);
        let (mut seq, mut frames) = (start, 0);
        // The cursor bounds the writers, so no frame slot from it onwards is
        // reused during the walk: a stamp of `seq + 1` means frame `seq`.
        while seq.wrapping_sub(start) < self.geo.frame_cap {
            let Some((writer, _, len)) = self.published(seq) else {
                break;
            };
            self.valid_record(writer, len)?;
            frames += u32::from(writer & TOMBSTONE == 0);
            seq = seq.wrapping_add(1);
        }
        if seq == start {
            return Ok(Drained {
                frames: 0,
                wake_writers: false,
            });
        }
        self.advance(slot, seq);
        self.mem.fence(SeqCst);
        Ok(Drained {
            frames,
            wake_writers: self.take_waiters(WAIT_WRITERS),
        })
    }

    /// Announces that a side is about to park. The caller reads the
    /// doorbell *before* this, retries its operation once after it, and
    /// parks only until the doorbell moves past what it read: a wake-up
    /// rung at any point after the read is then never slept through.
    pub fn set_waiting(&self, bits: u32) {
        self.mem.fetch_or(H_WAITERS, bits, SeqCst);
        // The other half of the handshake in `publish` and `read`: the retry
        // that follows sees their progress, or they see this bit.
        self.mem.fence(SeqCst);
    }

    /// Called after a fence that follows a publication (see `publish`).
    pub(crate) fn take_waiters(&self, bits: u32) -> bool {
        self.wake_if(self.load(H_WAITERS, Relaxed), bits)
    }

    /// Stores a publication (a stamp, a cursor) and looks at the waiter
    /// bits with nothing in between (see [`Memory::store_load`]): the
    /// per-frame half of the waiting handshake.
    pub(crate) fn store_and_take_waiters(&self, off: usize, v: u32, bits: u32) -> bool {
        self.wake_if(self.mem.store_load(off, v, H_WAITERS), bits)
    }

    /// Rings the doorbell if `waiters`, as read, has one of `bits`.
    fn wake_if(&self, waiters: u32, bits: u32) -> bool {
        if waiters & bits == 0 {
            return false;
        }
        self.mem.fetch_and(H_WAITERS, !bits, SeqCst);
        self.mem.fetch_add(H_DOORBELL, 1, Release);
        true
    }

    /// Rings the doorbell for both sides and clears the waiter bits: what
    /// the kernel does when it makes progress the ring cannot see (a repair,
    /// a detach, a deletion) before it wakes the processes parked on it.
    pub fn ring_bell(&self) {
        self.mem.fetch_and(H_WAITERS, 0, SeqCst);
        self.mem.fetch_add(H_DOORBELL, 1, Release);
    }

    /// The doorbell's count, read before announcing a wait.
    pub fn doorbell(&self) -> u32 {
        self.load(H_DOORBELL, Acquire)
    }

    /// Whether at least `frames` frames and `bytes` bytes are free, as far
    /// as a look at the head and the readers' cursors without the lock can
    /// tell (a hint: `write` decides). A writer that found the ring full
    /// waits for this before trying again, so it does not take back each
    /// slot the moment a reader frees it: every such look reads the line
    /// the reader is writing its cursor on, and one look per frame slows
    /// both sides to a cache-line round trip per frame.
    pub fn has_room(&self, frames: u32, bytes: u32) -> bool {
        let (head, tail) = (self.load(H_HEAD, Acquire), self.tail_hint());
        let head_pos = self.head_pos(head);
        let used = head.wrapping_sub(tail);
        let frames_free = self.geo.frame_cap.saturating_sub(used);
        let bytes_free = self
            .geo
            .data_cap
            .saturating_sub(head_pos.wrapping_sub(self.pos_of(tail, head, head_pos)));
        used <= self.geo.frame_cap
            && frames_free >= frames.min(self.geo.frame_cap)
            && bytes_free >= bytes.min(self.geo.data_cap)
    }

    /// The slowest live cursor, else the resting one (as read, unlocked).
    pub(crate) fn tail_hint(&self) -> u32 {
        let head = self.load(H_HEAD, Relaxed);
        self.readers()
            .map(|r| r.seq)
            .max_by_key(|s| head.wrapping_sub(*s))
            .unwrap_or_else(|| self.load(H_REST, Relaxed))
    }

    fn copy_in(&self, seq: u32, pos: u32, src: &[u8]) {
        let (a, b) = self.spans(seq, pos, src.len() as u32);
        let (first, rest) = src.split_at(a.len());
        self.mem.write_data(a.start, first);
        if !rest.is_empty() {
            self.mem.write_data(b.start, rest);
        }
    }

    fn copy_out(&self, seq: u32, pos: u32, dst: &mut [u8]) {
        let (a, b) = self.spans(seq, pos, dst.len() as u32);
        let (first, rest) = dst.split_at_mut(a.len());
        self.mem.read_data(a.start, first);
        if !rest.is_empty() {
            self.mem.read_data(b.start, rest);
        }
    }
}

/// Bytes a frame of `len` takes in the data ring: none when it lies inline
/// in its slot.
pub(crate) fn data_len(len: u32) -> u32 {
    if len as usize <= INLINE { 0 } else { len }
}
