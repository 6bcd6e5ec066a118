//! [`Slots`]: values under generation-tagged keys.  The executor keeps its
//! tasks here, and the reactor its in-flight ops, whose key is the SQE's
//! `user_data`.
//!
//! ```text
//! key (u64):  63  62                 32 31                       0
//!            +---+---------------------+--------------------------+
//!            | 0 | generation (1..2^31)|  index into `entries`    |
//!            +---+---------------------+--------------------------+
//! ```
//!
//! A key names one insertion.  Removing a value bumps its entry's
//! generation, so a late CQE (or a stale waker) carrying the old key finds
//! nothing rather than whoever reused the entry.  Keys are never 0 and stay
//! below 2^63, clear of the `user_data` values the synchronous helpers use
//! (`u64::MAX - n`) and of the reactor's own 0.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

/// Generations run 1..=MAX_GENERATION, then wrap to 1.
const MAX_GENERATION: u32 = u32::MAX >> 1;

pub struct Slots<T> {
    entries: Vec<Entry<T>>,
    /// Indices of empty entries, reused last-freed first.
    free: Vec<u32>,
    len: usize,
}

struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

fn key(index: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(index)
}

impl<T> Slots<T> {
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Stores the value `make` builds from its key, and returns the key.
    pub fn insert_with(&mut self, make: impl FnOnce(u64) -> T) -> u64 {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len()).expect("2^32 live entries");
                self.entries.push(Entry {
                    generation: 1,
                    value: None,
                });
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        let key = key(index, entry.generation);
        entry.value = Some(make(key));
        self.len += 1;
        key
    }

    pub fn insert(&mut self, value: T) -> u64 {
        self.insert_with(|_| value)
    }

    fn entry(&self, key: u64) -> Option<&Entry<T>> {
        let entry = self.entries.get((key & u64::from(u32::MAX)) as usize)?;
        (u64::from(entry.generation) == key >> 32).then_some(entry)
    }

    pub fn get(&self, key: u64) -> Option<&T> {
        self.entry(key)?.value.as_ref()
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        self.entry(key)?;
        self.entries[(key & u64::from(u32::MAX)) as usize]
            .value
            .as_mut()
    }

    /// Takes the value out; its key is dead from now on.
    pub fn remove(&mut self, key: u64) -> Option<T> {
        self.entry(key)?;
        let index = (key & u64::from(u32::MAX)) as u32;
        let entry = &mut self.entries[index as usize];
        let value = entry.value.take()?;
        entry.generation = if entry.generation == MAX_GENERATION {
            1
        } else {
            entry.generation + 1
        };
        self.free.push(index);
        self.len -= 1;
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|entry| entry.value.as_ref())
    }

    /// Removes every value, for whoever must decide their fate.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.len = 0;
        self.free.clear();
        self.entries.drain(..).filter_map(|entry| entry.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_find_their_own_value_only() {
        let mut slots = Slots::new();
        let a = slots.insert("a");
        let b = slots.insert("b");
        assert_ne!(a, b);
        assert_eq!(slots.get(a), Some(&"a"));
        assert_eq!(slots.get(b), Some(&"b"));
        assert_eq!(slots.len(), 2);
        assert_eq!(slots.remove(a), Some("a"));
        assert_eq!(slots.remove(a), None);
        assert_eq!(slots.get(a), None);
        assert_eq!(slots.len(), 1);
    }

    #[test]
    fn a_reused_entry_ignores_the_old_key() {
        let mut slots = Slots::new();
        let old = slots.insert(1);
        slots.remove(old);
        let new = slots.insert(2);
        // Same entry, new generation: the late CQE for `old` finds nothing.
        assert_eq!(old & 0xffff_ffff, new & 0xffff_ffff);
        assert_ne!(old, new);
        assert_eq!(slots.get(old), None);
        assert_eq!(slots.get_mut(old), None);
        assert_eq!(slots.remove(old), None);
        assert_eq!(slots.get(new), Some(&2));
    }

    #[test]
    fn generations_wrap_past_zero_and_below_bit_63() {
        let mut slots = Slots::new();
        let first = slots.insert(0);
        assert_ne!(first, 0);
        slots.remove(first);
        slots.entries[0].generation = MAX_GENERATION;
        let last = slots.insert(0);
        assert_eq!(last >> 32, u64::from(MAX_GENERATION));
        assert!(last < 1 << 63);
        slots.remove(last);
        let wrapped = slots.insert(0);
        assert_eq!(wrapped >> 32, 1);
        assert_ne!(wrapped, 0);
    }

    #[test]
    fn insert_with_sees_the_key_it_will_get() {
        let mut slots = Slots::new();
        for _ in 0..5 {
            let key = slots.insert_with(|key| key);
            assert_eq!(slots.get(key), Some(&key));
        }
        let values: Vec<u64> = slots.values().copied().collect();
        assert_eq!(values.len(), 5);
        assert_eq!(slots.drain().count(), 5);
        assert!(slots.is_empty());
    }
}
