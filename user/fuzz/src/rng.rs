//! The fuzzer's one source of randomness: xorshift64*, seeded from the
//! command line (or the TSC), so a run is reproduced from its printed seed.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Xorshift's state must not be zero; splitmix the seed so nearby
        // seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `bound` (not 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A 64-bit value biased toward the edges: 0, 1, powers of two and
    /// their neighbours, all ones, or anything.
    pub fn boundary64(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => self.pick(&[1, 2, 3, 7, 8, 15, 16, 4095, 4096, 4097]),
            2 => {
                let bit = 1u64 << self.below(64);
                bit.wrapping_add(self.pick(&[0, 1, u64::MAX]))
            }
            3 => u64::MAX - self.below(16),
            4 => (i32::MAX as u64).wrapping_add(self.below(3)),
            5 => u64::from(u32::MAX) - self.below(3),
            _ => self.next(),
        }
    }

    pub fn boundary32(&mut self) -> u32 {
        self.boundary64() as u32
    }
}

/// A seed from the time-stamp counter, for runs that name none.
pub fn seed_from_tsc() -> u64 {
    // SAFETY: RDTSC reads a counter; CR4.TSD is clear, so user mode may.
    unsafe { core::arch::x86_64::_rdtsc() }
}
