//! Endpoints: attaching and detaching readers and writers, repairing what a
//! stopped writer left, and introspection.
//!
//! Attach and detach are the kernel's (serialised by its lock); only frame
//! traffic runs concurrently with them.

use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::*;

impl<M: Memory> Ring<'_, M> {
    /// Claims a reader slot. It starts at the slowest live reader's cursor,
    /// or, with none, where the last reader left: never at a frame another
    /// reader already consumed and writers may have reused.
    pub fn attach_reader(&self) -> Result<u32, RingError> {
        self.validate_header_fully()?;
        for slot in 0..self.geo.max_readers {
            if self
                .mem
                .compare_exchange(self.reader_off(slot, 0), FREE, CLAIMING, AcqRel, Relaxed)
                .is_err()
            {
                continue;
            }
            // Under the lock no writer is deciding what it may overwrite, so
            // the cursor chosen here is one no writer has passed. A single
            // ring's reader starts at the resting cursor, which its writer
            // treats as the tail until the slot is live: no lock needed.
            let locked = !self.geo.single();
            if locked && let Err(e) = self.lock(reader_tag(slot)) {
                self.store(self.reader_off(slot, 0), FREE, Release);
                return Err(e);
            }
            let unlock = || {
                if locked {
                    self.unlock();
                }
            };
            let head = self.load(H_HEAD, Relaxed);
            let start = self
                .slowest_live(head)
                .unwrap_or_else(|| self.load(H_REST, Relaxed));
            if head.wrapping_sub(start) > self.geo.frame_cap {
                unlock();
                self.store(self.reader_off(slot, 0), FREE, Release);
                return Err(RingError::Corrupt(Corruption::Cursor));
            }
            self.store(self.reader_off(slot, 1), start, Relaxed);
            self.store(self.reader_off(slot, 0), LIVE, Release);
            unlock();
            return Ok(slot);
        }
        Err(RingError::NoSlot)
    }

    fn slowest_live(&self, head: u32) -> Option<u32> {
        (0..self.geo.max_readers)
            .filter(|s| self.load(self.reader_off(*s, 0), Acquire) == LIVE)
            .map(|s| self.load(self.reader_off(s, 1), Acquire))
            .max_by_key(|seq| head.wrapping_sub(*seq))
    }

    /// Releases a reader slot. The last reader to leave stores its cursor
    /// as the resting one, so frames it had not read stay for the next.
    /// Rings the doorbell: a departing reader can free room for everyone.
    pub fn detach_reader(&self, slot: u32) {
        if slot >= self.geo.max_readers || self.load(self.reader_off(slot, 0), Relaxed) != LIVE {
            return;
        }
        let others = (0..self.geo.max_readers)
            .any(|s| s != slot && self.load(self.reader_off(s, 0), Relaxed) == LIVE);
        if !others {
            // Before the slot is freed (Release): a writer that sees it free
            // sees the resting cursor.
            // Acquire: the reader's cursor store follows its look at the
            // frames' stamps, which follow the head stores, so an attach
            // that compares this cursor with the head later sees a head at
            // or past it.
            self.store(
                H_REST,
                self.load(self.reader_off(slot, 1), Acquire),
                Relaxed,
            );
        }
        self.store(self.reader_off(slot, 0), FREE, Release);
        self.ring_bell();
    }

    /// Claims a writer id.
    pub fn attach_writer(&self) -> Result<u32, RingError> {
        self.validate_header_fully()?;
        for id in 0..self.geo.max_writers {
            if self
                .mem
                .compare_exchange(self.writer_off(id, 0), FREE, LIVE, AcqRel, Relaxed)
                .is_ok()
            {
                self.store(self.counter_off(id, 0), 0, Relaxed);
                self.store(self.counter_off(id, 1), 0, Relaxed);
                return Ok(id);
            }
        }
        Err(RingError::NoSlot)
    }

    /// Records which process holds writer `id` (the kernel does, at attach),
    /// so readers running the ring in place can attribute frames. Like every
    /// word in the ring, a hostile writer can overwrite it: it can mislead
    /// only this ring's readers.
    pub fn set_writer_owner(&self, id: u32, owner: u32) {
        if id < self.geo.max_writers {
            self.store(self.writer_off(id, 1), owner, Release);
        }
    }

    /// Releases a writer id, first repairing what it left (see
    /// [`Ring::repair_writer`]): the writer must have stopped.
    pub fn detach_writer(&self, id: u32) -> u32 {
        if id >= self.geo.max_writers {
            return 0;
        }
        let repaired = self.repair_writer(id);
        self.store(self.writer_off(id, 0), FREE, Release);
        repaired
    }

    /// Undoes what writer `id` left mid-operation, once it has provably
    /// stopped (its process ended, its old instance stopped at a reload,
    /// its window was unmapped): releases the lock if it holds it, and
    /// turns each frame it reserved but never published into a tombstone.
    /// Returns the tombstones made; the caller then rings the bell and wakes
    /// both sides.
    ///
    /// Frames are looked at stamp first: a frame whose stamp is not yet
    /// `seq + 1` lies at or past every reader's cursor, so its slot cannot be
    /// reused under the walk, and only its writer (stopped) could change it.
    pub fn repair_writer(&self, id: u32) -> u32 {
        if id >= self.geo.max_writers {
            return 0;
        }
        let _ = self
            .mem
            .compare_exchange(H_LOCK, writer_tag(id), 0, AcqRel, Relaxed);
        let head = self.load(H_HEAD, Acquire);
        let tail = self.load(H_TAIL, Relaxed);
        let behind = head.wrapping_sub(tail).min(self.geo.frame_cap);
        let mut made = 0;
        for seq in (0..behind).map(|k| head.wrapping_sub(behind - k)) {
            if self.load(self.frame_off(seq, 0), Acquire) == seq.wrapping_add(1) {
                continue;
            }
            let word = self.load(self.frame_off(seq, 1), Relaxed);
            if word & (WRITER_ID | TOMBSTONE) != id {
                continue;
            }
            self.store(self.frame_off(seq, 1), word | TOMBSTONE, Relaxed);
            self.store(self.frame_off(seq, 0), seq.wrapping_add(1), Release);
            made += 1;
        }
        if made > 0 {
            self.ring_bell();
        }
        made
    }

    /// Who holds the writer lock (a stuck holder is what holds a channel back).
    pub fn lock_holder(&self) -> Option<Holder> {
        match self.load(H_LOCK, Relaxed) {
            0 => None,
            tag => Some(Holder::from_tag(tag)),
        }
    }

    /// Frames writer `id` has written since it attached (as read).
    pub fn writer_frames(&self, id: u32) -> u32 {
        if id < self.geo.max_writers {
            self.load(self.counter_off(id, 0), Relaxed)
        } else {
            0
        }
    }

    /// The next frame reader `slot` will read (as read).
    pub fn reader_seq(&self, slot: u32) -> u32 {
        if slot < self.geo.max_readers {
            self.load(self.reader_off(slot, 1), Relaxed)
        } else {
            0
        }
    }

    /// Counters for introspection (not validated; reported as read).
    pub fn stats(&self) -> RingStats {
        let head = self.load(H_HEAD, Relaxed);
        let head_pos = self.head_pos(head);
        let tail = self.tail_hint();
        let frames = head.wrapping_sub(tail);
        // Bounded by the frame ring even when the cursors are scribbled.
        let bytes = (0..frames.min(self.geo.frame_cap))
            .map(|i| self.load(self.frame_off(tail.wrapping_add(i), 3), Relaxed))
            .fold(0u32, u32::wrapping_add);
        RingStats {
            head_seq: head,
            tail_seq: tail,
            bytes_in_flight: bytes,
            data_in_flight: head_pos.wrapping_sub(self.pos_of(tail, head, head_pos)),
            frames_in_flight: frames,
            drops: self.load(H_DROPS, Relaxed),
            waiters: self.load(H_WAITERS, Relaxed),
            doorbell: self.load(H_DOORBELL, Relaxed),
            lock: self.lock_holder(),
        }
    }

    /// Live reader cursors.
    pub fn readers(&self) -> impl Iterator<Item = ReaderStat> + '_ {
        let head = self.load(H_HEAD, Relaxed);
        (0..self.geo.max_readers)
            .filter(|s| self.load(self.reader_off(*s, 0), Relaxed) == LIVE)
            .map(move |slot| {
                let seq = self.load(self.reader_off(slot, 1), Relaxed);
                ReaderStat {
                    slot,
                    seq,
                    lag: head.wrapping_sub(seq),
                }
            })
    }

    /// Live writer slots.
    pub fn writers(&self) -> impl Iterator<Item = WriterStat> + '_ {
        (0..self.geo.max_writers)
            .filter(|i| self.load(self.writer_off(*i, 0), Relaxed) == LIVE)
            .map(|id| WriterStat {
                id,
                frames: self.load(self.counter_off(id, 0), Relaxed),
                bytes: self.load(self.counter_off(id, 1), Relaxed),
            })
    }
}
