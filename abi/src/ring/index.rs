//! Arithmetic on free-running ring indices.
//!
//! Heads and tails are `u32` counters that only ever increase, wrapping at
//! `u32::MAX`; a slot is `index & mask`.  Because the entry counts are powers
//! of two that divide 2^32, `tail - head` (wrapping) is the number of
//! entries in flight no matter where the counters are, so nothing here
//! needs to special-case the wrap.
//!
//! A value read from the other side is untrusted: [`checked_pending`] is how
//! a reader finds out that a peer's index is impossible.
#![forbid(unsafe_code)]

/// Entries published but not yet consumed: `tail - head`, wrapping.
pub const fn pending(head: u32, tail: u32) -> u32 {
    tail.wrapping_sub(head)
}

/// [`pending`], or `None` if it claims more than `entries`: the peer's index
/// is malformed (ahead by more than the ring, or behind the other index).
pub const fn checked_pending(head: u32, tail: u32, entries: u32) -> Option<u32> {
    let count = pending(head, tail);
    if count <= entries { Some(count) } else { None }
}

/// Free slots a producer may fill.  Zero, not a wrapped huge value, when the
/// indices are malformed.
pub const fn space(head: u32, tail: u32, entries: u32) -> u32 {
    entries.saturating_sub(pending(head, tail))
}

/// The slot a free-running index lands in.
pub const fn slot(index: u32, mask: u32) -> usize {
    (index & mask) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_the_wrap() {
        let entries = 8;
        let start = u32::MAX - 3;
        for advance in 0..=entries {
            let tail = start.wrapping_add(advance);
            assert_eq!(pending(start, tail), advance);
            assert_eq!(checked_pending(start, tail, entries), Some(advance));
            assert_eq!(space(start, tail, entries), entries - advance);
        }
        assert_eq!(pending(u32::MAX, 0), 1);
        assert_eq!(pending(u32::MAX - 100, 100), 201);
        assert_eq!(space(u32::MAX, 6, 8), 1);
    }

    #[test]
    fn slots_wrap_with_the_mask() {
        let mask = 7;
        assert_eq!(slot(u32::MAX, mask), 7);
        assert_eq!(slot(u32::MAX.wrapping_add(1), mask), 0);
        assert_eq!(slot(u32::MAX - 100, mask), ((u32::MAX - 100) % 8) as usize);
        // Consecutive indices visit every slot once per lap, across the wrap.
        let mut seen = [0u32; 8];
        for i in 0..64u32 {
            seen[slot((u32::MAX - 20).wrapping_add(i), mask)] += 1;
        }
        assert_eq!(seen, [8; 8]);
    }

    #[test]
    fn malformed_indices_are_detected() {
        let entries = 8;
        // Ahead by more than the ring.
        assert_eq!(checked_pending(10, 19, entries), None);
        assert_eq!(checked_pending(u32::MAX - 2, 6, entries), None);
        // Behind the head: wraps to a huge count.
        assert_eq!(checked_pending(10, 9, entries), None);
        assert_eq!(space(10, 9, entries), 0);
        assert_eq!(space(0, 1000, entries), 0);
        assert_eq!(checked_pending(0, u32::MAX, u32::MAX), Some(u32::MAX));
    }
}
