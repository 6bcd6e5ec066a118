//! The host tests' random generator: xorshift64 (Marsaglia's 13/7/17),
//! seeded by each test with a fixed value, so a random model test draws the
//! same inputs on every run and a failure reproduces from its seed and step.
//!
//! Not for anything that needs good randomness: it only has to reach the
//! corners of the code under test, and be the same everywhere.

/// The generator.  Its whole state is the last value it gave.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// Starts from `seed`; 0 (xorshift's one fixed point) becomes 1.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// An index in `0..len` (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True `chance` times in 100.
    pub fn percent(&mut self, chance: u64) -> bool {
        self.below(100) < chance
    }

    /// True once in `times`.
    pub fn one_in(&mut self, times: u64) -> bool {
        self.below(times) == 0
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
