//! The monitor transmitter's policy: never wait for the host.
//!
//! A board's transmitter takes a few bytes at a time (the C6's
//! USB-Serial-JTAG FIFO holds 64) and nothing at all while no host reads.
//! Waiting for room would stall every guest behind a host that went away,
//! so output is queued here, up to a bound, and handed to the hardware as
//! it takes it. What does not fit is dropped whole, a frame at a time, and
//! counted; events are never queued past the room there is (they stay in
//! the kernel's event log, which reports what it lets go of as `Lost`).
//! When the host stops taking bytes for [`STALL_NS`] the link is stalled;
//! a hello after that is a host come back: frames queued for the host that
//! left are dropped (counted), the one cut short is finished first so the
//! stream stays parseable, and the new host gets fresh answers.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use tidemark_kernel::protocol::LinkStats;

/// No byte taken for this long while some are queued: the host is gone.
pub const STALL_NS: u64 = 200_000_000;

/// A bounded queue of whole frames in front of a transmitter that never waits.
pub struct Tx {
    /// Batches of whole frames, oldest first.
    batches: VecDeque<Vec<u8>>,
    /// Bytes of the first batch already written.
    offset: usize,
    /// Bytes queued and not yet written.
    queued: usize,
    bound: usize,
    stats: LinkStats,
    stalled: bool,
    /// When the transmitter last took a byte (or the queue became non-empty).
    progress_ns: u64,
}

impl Tx {
    /// The rest of a batch the transmitter has started on: bytes that
    /// must go before anything else, or the host's decoder would read what
    /// follows as part of the frame it is in.
    pub fn unfinished(&self) -> &[u8] {
        match self.batches.front() {
            Some(front) if self.offset > 0 => &front[self.offset..],
            _ => &[],
        }
    }

    /// A queue of at most `bound` bytes.
    pub fn new(bound: usize) -> Tx {
        Tx {
            batches: VecDeque::new(),
            offset: 0,
            queued: 0,
            bound,
            stats: LinkStats {
                queue_bytes: bound as u64,
                ..LinkStats::default()
            },
            stalled: false,
            progress_ns: 0,
        }
    }

    /// Bytes that can still be queued.
    pub fn room(&self) -> usize {
        self.bound - self.queued
    }

    /// Whether the host has stopped taking bytes.
    pub fn stalled(&self) -> bool {
        self.stalled
    }

    /// Queues `frames` (whole frames) if they fit; otherwise drops them and
    /// counts them. Returns whether they were queued.
    pub fn send(&mut self, frames: Vec<u8>, now_ns: u64) -> bool {
        if frames.is_empty() {
            return true;
        }
        if frames.len() > self.room() {
            self.stats.dropped_frames += frame_count(&frames);
            self.stats.dropped_bytes += frames.len() as u64;
            return false;
        }
        if self.queued == 0 {
            self.progress_ns = now_ns;
        }
        self.queued += frames.len();
        self.batches.push_back(frames);
        true
    }

    /// Hands the transmitter what it takes now; `write` returns how many
    /// bytes it took, 0 when it has no room.
    pub fn pump(&mut self, mut write: impl FnMut(&[u8]) -> usize, now_ns: u64) {
        while let Some(front) = self.batches.front() {
            let n = write(&front[self.offset..]).min(front.len() - self.offset);
            if n == 0 {
                break;
            }
            self.offset += n;
            self.queued -= n;
            self.stats.sent_bytes += n as u64;
            self.progress_ns = now_ns;
            self.stalled = false;
            if self.offset == front.len() {
                self.batches.pop_front();
                self.offset = 0;
            }
        }
        if self.queued > 0 && !self.stalled && now_ns.saturating_sub(self.progress_ns) >= STALL_NS {
            self.stalled = true;
            self.stats.stalls += 1;
        }
    }

    /// A host said hello. After a stall, it is a host come back: what was
    /// queued for the one that left is dropped (counted), except the rest
    /// of a batch already cut short, which is finished so the new host's
    /// decoder sees whole frames after it.
    pub fn hello(&mut self) {
        if !self.stalled {
            return;
        }
        self.stalled = false;
        self.stats.reattaches += 1;
        let keep = usize::from(self.offset > 0);
        while self.batches.len() > keep {
            let b = self.batches.pop_back().expect("len > keep");
            self.queued -= b.len();
            self.stats.dropped_bytes += b.len() as u64;
            self.stats.dropped_frames += frame_count(&b);
        }
    }

    /// The counters `info` reports.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            queued_bytes: self.queued as u64,
            ..self.stats
        }
    }
}

/// Frames in a batch of whole frames (the monitor's own encoding: the
/// payload length is the header's last word). Bytes that are not frames
/// count as one.
fn frame_count(mut bytes: &[u8]) -> u64 {
    use tidemark_kernel::protocol::frame::{HEADER, MAGIC};
    let mut n = 0;
    while bytes.len() >= HEADER && bytes[..2] == MAGIC {
        let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        bytes = bytes.get(HEADER + len..).unwrap_or_default();
        n += 1;
    }
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A 64-byte FIFO the test drains by hand, as a host would.
    struct Fifo {
        held: Vec<u8>,
        cap: usize,
    }

    impl Fifo {
        fn write(&mut self, b: &[u8]) -> usize {
            let n = b.len().min(self.cap - self.held.len());
            self.held.extend_from_slice(&b[..n]);
            n
        }
    }

    #[test]
    fn a_full_fifo_is_never_waited_on_and_overflow_is_counted() {
        let mut fifo = Fifo {
            held: Vec::new(),
            cap: 64,
        };
        let mut tx = Tx::new(256);
        assert!(tx.send(vec![1; 100], 0));
        tx.pump(|b| fifo.write(b), 0);
        assert_eq!((fifo.held.len(), tx.stats().queued_bytes), (64, 36));
        // Nobody reads: the queue fills, then frames are dropped whole.
        assert!(tx.send(vec![2; 200], 1));
        assert!(!tx.send(vec![3; 50], 2));
        tx.pump(|b| fifo.write(b), 3);
        let s = tx.stats();
        assert_eq!(
            (s.dropped_frames, s.dropped_bytes, s.queued_bytes),
            (1, 50, 236)
        );
        assert!(!tx.stalled(), "not yet: {STALL_NS} ns have not passed");
        tx.pump(|b| fifo.write(b), STALL_NS + 3);
        assert!(tx.stalled());
        assert_eq!(tx.stats().stalls, 1);
        // The host comes back and drains: everything queued arrives, in order.
        let mut got = core::mem::take(&mut fifo.held);
        while tx.stats().queued_bytes > 0 {
            tx.pump(|b| fifo.write(b), STALL_NS + 4);
            got.append(&mut fifo.held);
        }
        assert!(!tx.stalled());
        assert_eq!(got, [vec![1; 100], vec![2; 200]].concat());
        assert_eq!(tx.stats().sent_bytes, 300);
    }

    #[test]
    fn a_host_come_back_gets_whole_frames_and_fresh_answers() {
        let mut fifo = Fifo {
            held: Vec::new(),
            cap: 64,
        };
        let mut tx = Tx::new(1024);
        tx.send(vec![1; 100], 0);
        tx.send(vec![2; 100], 0);
        tx.pump(|b| fifo.write(b), 0);
        tx.pump(|b| fifo.write(b), STALL_NS);
        assert!(tx.stalled());
        // A hello without a stall changes nothing.
        let mut other = Tx::new(1024);
        other.send(vec![9; 10], 0);
        other.hello();
        assert_eq!(other.stats().queued_bytes, 10);
        // The new host: the batch cut short is finished, the rest dropped.
        tx.hello();
        let s = tx.stats();
        assert_eq!(
            (
                s.reattaches,
                s.dropped_frames,
                s.dropped_bytes,
                s.queued_bytes
            ),
            (1, 1, 100, 36)
        );
        tx.send(vec![7; 10], STALL_NS);
        let mut got = core::mem::take(&mut fifo.held);
        for _ in 0..4 {
            tx.pump(|b| fifo.write(b), STALL_NS);
            got.append(&mut fifo.held);
        }
        assert_eq!(got, [vec![1; 100], vec![7; 10]].concat());
    }
}
