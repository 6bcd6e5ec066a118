//! [`PageSet`]: a sparse set of page indices, as a bitmap stored only where
//! it has bits.
//!
//! A region's copy-on-write marks are one: the pages, by their index in
//! the region's object, that the region still shares with another space
//! (or with its object) and must copy on the first write.  A region may
//! span 256 GiB (the thread-stack area), so a flat bitmap is out: this
//! keeps one 64-bit word per 64 pages that have a bit, in a `BTreeMap`, and
//! costs nothing for a region that was never cloned (it has no set at all).
#![forbid(unsafe_code)]

use alloc::collections::BTreeMap;
use core::ops::Range;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageSet {
    /// Word `n` holds pages `64 n .. 64 n + 64`; no word is zero.
    words: BTreeMap<u64, u64>,
}

fn split(index: u64) -> (u64, u64) {
    (index / 64, 1 << (index % 64))
}

impl PageSet {
    pub const fn new() -> Self {
        Self {
            words: BTreeMap::new(),
        }
    }

    /// Adds `index`; whether it was absent.
    pub fn insert(&mut self, index: u64) -> bool {
        let (word, bit) = split(index);
        let slot = self.words.entry(word).or_insert(0);
        let absent = *slot & bit == 0;
        *slot |= bit;
        absent
    }

    /// Removes `index`; whether it was present.
    pub fn remove(&mut self, index: u64) -> bool {
        let (word, bit) = split(index);
        let Some(slot) = self.words.get_mut(&word) else {
            return false;
        };
        let present = *slot & bit != 0;
        *slot &= !bit;
        if *slot == 0 {
            self.words.remove(&word);
        }
        present
    }

    pub fn contains(&self, index: u64) -> bool {
        let (word, bit) = split(index);
        self.words.get(&word).is_some_and(|slot| slot & bit != 0)
    }

    /// How many indices in `range` are present.
    pub fn count_in(&self, range: Range<u64>) -> u64 {
        if range.is_empty() {
            return 0;
        }
        self.words
            .range(range.start / 64..=(range.end - 1) / 64)
            .map(|(&word, &bits)| u64::from((bits & mask_within(word, &range)).count_ones()))
            .sum()
    }
}

/// The bits of word `word` whose pages lie in `range`.
fn mask_within(word: u64, range: &Range<u64>) -> u64 {
    let first = word * 64;
    let low = range.start.saturating_sub(first).min(64);
    let high = range.end.saturating_sub(first).min(64);
    let below = |n: u64| if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    below(high) & !below(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn len(set: &PageSet) -> u64 {
        set.words
            .values()
            .map(|bits| u64::from(bits.count_ones()))
            .sum()
    }

    #[test]
    fn insert_remove_and_contains_agree() {
        let mut set = PageSet::new();
        assert_eq!(len(&set), 0);
        assert!(set.insert(5));
        assert!(!set.insert(5), "already there");
        assert!(set.insert(64));
        assert!(set.insert(u64::MAX));
        assert!(set.contains(5) && set.contains(64) && set.contains(u64::MAX));
        assert!(!set.contains(6) && !set.contains(63));
        assert_eq!(len(&set), 3);
        assert!(set.remove(64));
        assert!(!set.remove(64));
        assert_eq!(set.words.len(), 2, "an empty word is dropped");
    }

    /// Against a `BTreeSet` model, with a seeded generator: ranges cross,
    /// start and end on word boundaries, and reach the top index.
    #[test]
    fn matches_a_plain_set_under_random_operations() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let span = if round % 2 == 0 { 300 } else { 5_000 };
            let base = if round % 7 == 0 { u64::MAX - span } else { 0 };
            let mut set = PageSet::new();
            let mut model = BTreeSet::new();
            for _ in 0..400 {
                let a = base + next() % span;
                let b = base + next() % span;
                let range = a.min(b)..a.max(b);
                match next() % 4 {
                    0 | 1 => assert_eq!(set.insert(a), model.insert(a)),
                    2 => assert_eq!(set.remove(a), model.remove(&a)),
                    _ => assert_eq!(
                        set.count_in(range.clone()),
                        model.range(range).count() as u64
                    ),
                }
                assert_eq!(set.contains(a), model.contains(&a));
            }
            assert_eq!(len(&set), model.len() as u64);
            assert!(set.words.values().all(|&bits| bits != 0));
        }
    }
}
