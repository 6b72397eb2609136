//! Per-process capability tables: `{index, generation}` handles, rights,
//! and the delegation tree that revocation walks.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use tidemark_abi::{Error, Handle, Rights};

use crate::Pid;

/// Most entries one process may hold.
pub const MAX_CAPS: usize = 1024;

pub use tidemark_protocol::Object;

/// Names one entry of one process's table at one generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRef {
    /// Holder.
    pub pid: Pid,
    /// Handle within the holder's table.
    pub handle: Handle,
}

/// A live capability.
#[derive(Clone, Debug)]
pub struct CapEntry {
    /// What it names.
    pub object: Object,
    /// What it allows.
    pub rights: Rights,
    /// Name the holder looks it up by.
    pub name: String,
    /// The capability it was delegated from, if any.
    pub parent: Option<CapRef>,
    /// Capabilities delegated from it.
    pub children: Vec<CapRef>,
}

#[derive(Clone, Debug)]
struct Slot {
    /// Generation of the slot's live entry, or of the next one it gets.
    /// Only ever grows: [`RETIRED`] once the generations are spent.
    generation: u32,
    entry: Option<CapEntry>,
}

/// Generation of a slot whose every generation has been minted: it is never
/// reused, so no stale handle for it can ever name a live entry again.
const RETIRED: u32 = Handle::MAX_GENERATION as u32 + 1;

/// One process's capability table.
#[derive(Clone, Debug, Default)]
pub struct CapTable {
    slots: Vec<Slot>,
    /// Bumped by every change, readable without the kernel lock: an engine
    /// answers read-only hostcalls from a copy of the table while this has
    /// not moved (see [`crate::hostcall::answer_local`]). Clones share it.
    version: Arc<AtomicU32>,
}

impl CapTable {
    /// The table's change counter (shared with every clone of the table).
    pub fn version(&self) -> Arc<AtomicU32> {
        self.version.clone()
    }

    /// Marks a change: copies held by engines are stale from now on.
    fn changed(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// Inserts an entry into a free slot under a generation no handle for
    /// the slot has carried yet. Retired slots count against [`MAX_CAPS`].
    pub fn insert(&mut self, entry: CapEntry) -> Result<Handle, Error> {
        let index = match self
            .slots
            .iter()
            .position(|s| s.entry.is_none() && s.generation < RETIRED)
        {
            Some(i) => i,
            None if self.slots.len() < MAX_CAPS => {
                self.slots.push(Slot {
                    generation: 1,
                    entry: None,
                });
                self.slots.len() - 1
            }
            None => return Err(Error::NoMemory),
        };
        let slot = &mut self.slots[index];
        slot.entry = Some(entry);
        let generation = slot.generation as u16;
        self.changed();
        Ok(Handle {
            index: index as u16,
            generation,
        })
    }

    /// Resolves a raw guest handle. Forged values fail closed.
    #[inline]
    pub fn get_raw(&self, raw: i64) -> Result<(Handle, &CapEntry), Error> {
        let raw = i32::try_from(raw).map_err(|_| Error::InvalidHandle)?;
        let h = Handle::from_raw(raw).ok_or(Error::InvalidHandle)?;
        self.get(h).map(|e| (h, e))
    }

    /// Resolves a handle.
    #[inline]
    pub fn get(&self, h: Handle) -> Result<&CapEntry, Error> {
        let slot = self
            .slots
            .get(h.index as usize)
            .ok_or(Error::InvalidHandle)?;
        match &slot.entry {
            Some(e) if slot.generation == u32::from(h.generation) => Ok(e),
            // A handle this table once minted for the slot: it was revoked.
            _ if h.generation != 0 && u32::from(h.generation) < slot.generation => {
                Err(Error::Revoked)
            }
            _ => Err(Error::InvalidHandle),
        }
    }

    /// Mutable access to a live entry.
    pub fn get_mut(&mut self, h: Handle) -> Result<&mut CapEntry, Error> {
        self.get(h)?;
        self.changed();
        Ok(self.slots[h.index as usize]
            .entry
            .as_mut()
            .expect("checked"))
    }

    /// Removes a live entry and bumps the slot's generation, so every copy
    /// of the handle is stale from now on. Generations never wrap: after
    /// [`Handle::MAX_GENERATION`] the slot is retired for good.
    pub fn remove(&mut self, h: Handle) -> Option<CapEntry> {
        self.get(h).ok()?;
        let slot = &mut self.slots[h.index as usize];
        slot.generation += 1;
        let e = slot.entry.take();
        self.changed();
        e
    }

    /// Finds a live entry by name.
    pub fn lookup(&self, name: &str) -> Option<Handle> {
        self.iter().find(|(_, e)| e.name == name).map(|(h, _)| h)
    }

    /// Live entries.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &CapEntry)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|e| {
                (
                    Handle {
                        index: i as u16,
                        generation: s.generation as u16,
                    },
                    e,
                )
            })
        })
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CapEntry {
        CapEntry {
            object: Object::Channel(1),
            rights: Rights::ALL,
            name: "c".into(),
            parent: None,
            children: Vec::new(),
        }
    }

    #[test]
    fn removed_slots_reject_stale_handles_even_after_reuse() {
        let mut t = CapTable::default();
        let h = t.insert(entry()).unwrap();
        assert!(t.get(h).is_ok());
        t.remove(h).unwrap();
        assert_eq!(t.get(h).unwrap_err(), Error::Revoked);
        let h2 = t.insert(entry()).unwrap();
        assert_eq!(h2.index, h.index);
        assert_ne!(h2.generation, h.generation);
        assert_eq!(t.get(h).unwrap_err(), Error::Revoked);
        assert!(t.get(h2).is_ok());
    }

    #[test]
    fn stale_handles_stay_dead_past_the_generation_space() {
        let mut t = CapTable::default();
        let first = t.insert(entry()).unwrap();
        t.remove(first).unwrap();
        let mut seen = alloc::collections::BTreeSet::new();
        seen.insert(first.to_raw());
        // Well past the 15-bit generation space of one slot (and of the next).
        for i in 0..3 * u32::from(Handle::MAX_GENERATION) {
            let h = t.insert(entry()).unwrap();
            assert!(
                seen.insert(h.to_raw()),
                "cycle {i}: handle {h:?} minted twice"
            );
            assert_eq!(t.get(first).unwrap_err(), Error::Revoked, "cycle {i}");
            assert_eq!(
                t.get_raw(i64::from(first.to_raw())).unwrap_err(),
                Error::Revoked
            );
            t.remove(h).unwrap();
        }
        assert_eq!(t.get(first).unwrap_err(), Error::Revoked);
        assert!(t.is_empty());
    }

    #[test]
    fn forged_handles_fail_closed() {
        let mut t = CapTable::default();
        let h = t.insert(entry()).unwrap();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if x as i32 == h.to_raw() {
                continue;
            }
            assert!(t.get_raw(x as i32 as i64).is_err());
        }
        assert!(t.get_raw(i64::from(u32::MAX) + 5).is_err());
    }
}
