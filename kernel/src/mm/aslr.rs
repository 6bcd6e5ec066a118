//! User address-space randomization.
//!
//! One seed per boot, drawn from RDRAND where the CPU has it, else from
//! the jitter of TSC reads across short waits, and printed, so that a run
//! can be repeated with `aslr=SEED` (or turned off with `aslr=off`).  Each
//! program started gets its layout from the seed and how many programs
//! started before it, through SplitMix64:
//!
//! ```text
//!   main stack top   STACK_TOP - up to 2^16 pages (256 MiB), page-aligned
//!   mmap top         the top of the mmap area - up to 2^28 pages (1 TiB):
//!                    MMAP without a hint places mappings top-down from it
//! ```
//!
//! Not randomized yet: program load addresses (the programs are linked at
//! a fixed address, not position-independent), the ring and the
//! thread-stack area (fixed addresses a `SPACE_CLONE` child shares), and
//! the kernel (KASLR needs a relocatable kernel image and a boot stub that
//! applies its relocations).

use crate::boot::cmdline::Aslr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static SEED: AtomicU64 = AtomicU64::new(0);
static ENABLED: AtomicBool = AtomicBool::new(false);

/// How far a process's layout moves from the fixed one, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub stack_shift: u64,
    pub mmap_shift: u64,
}

/// Pages the main stack's top moves down by, at most.
const STACK_PAGES: u64 = 1 << 16;
/// Pages the mmap area's top moves down by, at most.
const MMAP_PAGES: u64 = 1 << 28;

/// Picks the boot's seed and says where it came from.
pub fn init(option: Aslr) {
    let (seed, source) = match option {
        Aslr::Off => {
            crate::info!("off (aslr=off): every process gets the fixed layout");
            return;
        }
        Aslr::Seed(seed) => (seed, "aslr= on the command line"),
        Aslr::Random => match rdrand() {
            Some(seed) => (seed, "RDRAND"),
            None => (tsc_jitter(), "TSC jitter"),
        },
    };
    SEED.store(seed, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Release);
    crate::info!("seed {seed:#018x} from {source}; boot with aslr={seed:#x} to repeat");
}

/// The layout for the next program started (the `n`th gets
/// `layout(n)`): zero shifts when randomization is off.
pub fn next_layout() -> Layout {
    static STARTED: AtomicU64 = AtomicU64::new(1);
    layout(STARTED.fetch_add(1, Ordering::Relaxed))
}

/// The layout of the `n`th program started.
fn layout(n: u64) -> Layout {
    if !ENABLED.load(Ordering::Acquire) {
        return Layout::default();
    }
    let mut state = SEED.load(Ordering::Relaxed) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let stack = splitmix64(&mut state) % STACK_PAGES;
    let mmap = splitmix64(&mut state) % MMAP_PAGES;
    Layout {
        stack_shift: stack * super::PAGE_SIZE,
        mmap_shift: mmap * super::PAGE_SIZE,
    }
}

/// SplitMix64's step: a well-mixed 64-bit value from each state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64 random bits from RDRAND, if the CPU has it and it delivers.
fn rdrand() -> Option<u64> {
    if core::arch::x86_64::__cpuid(1).ecx & (1 << 30) == 0 {
        return None;
    }
    #[target_feature(enable = "rdrand")]
    fn draw() -> Option<u64> {
        let mut value = 0;
        // Intel's guidance: retry a few times on a transient failure.
        (0..10)
            .find(|_| core::arch::x86_64::_rdrand64_step(&mut value) == 1)
            .map(|_| value)
    }
    // SAFETY: CPUID said the CPU has RDRAND.
    unsafe { draw() }
}

/// Bits from how long short busy waits take, read through the TSC: the
/// low bits vary with caches, interrupts and the emulator.
fn tsc_jitter() -> u64 {
    let mut state = crate::time::tsc();
    for _ in 0..64 {
        let before = crate::time::tsc();
        for _ in 0..(before & 0xff) {
            core::hint::spin_loop();
        }
        state ^= crate::time::tsc().wrapping_sub(before);
        splitmix64(&mut state);
    }
    splitmix64(&mut state)
}

crate::ktest!(
    fn layouts_differ_between_processes_and_stay_in_bounds() {
        if !ENABLED.load(Ordering::Acquire) {
            return Ok(()); // booted with aslr=off
        }
        let layouts: alloc::vec::Vec<Layout> = (1..=16).map(layout).collect();
        for (index, one) in layouts.iter().enumerate() {
            crate::ensure!(one.stack_shift < STACK_PAGES * super::PAGE_SIZE);
            crate::ensure!(one.mmap_shift < MMAP_PAGES * super::PAGE_SIZE);
            crate::ensure!(one.stack_shift % super::PAGE_SIZE == 0);
            crate::ensure!(one.mmap_shift % super::PAGE_SIZE == 0);
            crate::ensure!(
                layouts[index + 1..].iter().all(|other| other != one),
                "two processes got the same layout"
            );
        }
        crate::ensure_eq!(layout(3), layout(3));
        Ok(())
    }
);
