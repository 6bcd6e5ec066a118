//! What a worker did, counted by kind, and the data patterns it checks.
//!
//! Every byte the stress writes (pipe streams, private pages, shared
//! chunks) is a function of where it is and whose it is, so a reader can
//! tell corruption, a lost or doubled pipe byte, or a stale translation
//! from the data it expects.

use core::sync::atomic::{AtomicU64, Ordering};

/// The kinds of work counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every op the workers asked the kernel for.
    Ops,
    Nops,
    /// Bytes that went through a pipe and were checked on the other side.
    PipeBytes,
    Timeouts,
    /// Fresh pages touched (demand-zero faults).
    Faults,
    /// MUNMAPs and MAP_FIXED replacements of memory other threads read.
    Unmaps,
    Mprotects,
    /// Shared chunks another thread made, read and checked.
    ChunkReads,
    Forks,
    Spawns,
    Failures,
}

pub const KINDS: usize = 11;

impl Kind {
    pub const ALL: [Kind; KINDS] = [
        Kind::Ops,
        Kind::Nops,
        Kind::PipeBytes,
        Kind::Timeouts,
        Kind::Faults,
        Kind::Unmaps,
        Kind::Mprotects,
        Kind::ChunkReads,
        Kind::Forks,
        Kind::Spawns,
        Kind::Failures,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ops => "ops",
            Kind::Nops => "nops",
            Kind::PipeBytes => "pipe bytes",
            Kind::Timeouts => "timeouts",
            Kind::Faults => "faulted pages",
            Kind::Unmaps => "unmaps",
            Kind::Mprotects => "mprotects",
            Kind::ChunkReads => "chunk reads",
            Kind::Forks => "forks",
            Kind::Spawns => "spawns",
            Kind::Failures => "failures",
        }
    }
}

/// Counts, shared by the threads of a process.
pub struct Counts([AtomicU64; KINDS]);

impl Counts {
    pub const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; KINDS])
    }

    pub fn add(&self, kind: Kind, count: u64) {
        self.0[kind as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind as usize].load(Ordering::Relaxed)
    }
}

/// A 64-bit mix (SplitMix64's finalizer): patterns and random choices.
pub fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The word at `index` of the data owned by `tag`.
pub fn word(tag: u64, index: u64) -> u64 {
    mix(tag ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d))
}

/// The byte at `offset` of pipe `pipe`'s stream.
pub fn stream_byte(pipe: u64, offset: u64) -> u8 {
    (word(pipe, offset / 8) >> ((offset % 8) * 8)) as u8
}

/// A worker thread's random choices.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(mix(seed))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0)
    }

    /// A value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}
