//! User address-space randomization.
//!
//! One seed per boot, drawn from RDRAND where the CPU has it, else from
//! the jitter of TSC reads across short waits, and printed, so that a run
//! can be repeated with `aslr=SEED` (or turned off with `aslr=off`).  Each
//! program started gets its layout from the seed and how many programs
//! started before it, through SplitMix64:
//!
//! ```text
//!   load bias        LOAD_BASE (4 MiB) + up to 2^28 pages (1 TiB), page-
//!                    aligned: where a position-independent program's
//!                    link-time address 0 goes; the image stays far below
//!                    the mmap area (16 TiB)
//!   main stack top   STACK_TOP - up to 2^16 pages (256 MiB), page-aligned
//!   mmap top         the top of the mmap area - up to 2^28 pages (1 TiB):
//!                    MMAP without a hint places mappings top-down from it
//! ```
//!
//! With randomization off every program loads at `LOAD_BASE`, where the
//! programs ran when they were linked there.  An `ET_EXEC` program loads
//! where it was linked, whatever the layout says.
//!
//! Not randomized: the ring and the thread-stack area (fixed addresses a
//! `SPACE_CLONE` child shares), and the kernel.
//!
//! KASLR, not built, and what it would take.  The kernel is already
//! compiled position-independent (`pic` is the target's default; the
//! linker turns its GOT loads into direct RIP-relative ones), but it is
//! linked `-no-pie` at `KERNEL_BASE` (-2 GiB), its pages are mapped by the
//! PVH 32-bit stub's fixed early tables (`kernel.ld`: physical address +
//! `KERNEL_BASE`), and `KERNEL_BASE`, `DIRECT_MAP_BASE` and `KSTACK_BASE`
//! are constants.  Moving it needs (1) the image linked as a static PIE,
//! as the user programs are, so that its absolute pointers (vtables,
//! statics holding addresses, the ktest table) become `R_X86_64_RELATIVE`
//! entries; (2) the 32-bit stub, which has no Rust and no allocator,
//! drawing a slide (RDRAND, else the TSC), applying those entries to the
//! image in physical memory before paging is on, and building the
//! higher-half tables at the slid address (staying inside the top 2 GiB
//! keeps every RIP-relative reach in range); (3) the direct map's base
//! randomized too, or KASLR hides little (a fixed direct map places every
//! physical page, the kernel's own included); (4) `KERNEL_BASE` users
//! (`virt_to_phys`, the paging setup) and both symbolizers (this kernel's
//! panic backtraces and the harness's) learning the slide, printed at
//! boot.  The cost: a relocation pass each boot (a few thousand entries:
//! microseconds), a larger image, little run-time cost (the code is `pic`
//! already), and 32-bit boot code that only a boot test exercises.  Its
//! worth is bounded by leaks: the ring ABI hands out no kernel addresses,
//! but one leaked pointer or a timing side channel undoes it.

use crate::boot::cmdline::Aslr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static SEED: AtomicU64 = AtomicU64::new(0);
static ENABLED: AtomicBool = AtomicBool::new(false);

/// How far a process's layout moves from the fixed one, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Added to [`LOAD_BASE`]: see [`Layout::load_bias`].
    pub load_shift: u64,
    pub stack_shift: u64,
    pub mmap_shift: u64,
}

impl Layout {
    /// Where a position-independent program's link-time address 0 goes.
    pub fn load_bias(&self) -> u64 {
        LOAD_BASE + self.load_shift
    }
}

/// The load bias without randomization: 4 MiB, where the programs were
/// linked when they were not position-independent.
pub const LOAD_BASE: u64 = 0x40_0000;
/// Pages the load bias moves up by, at most (1 TiB: the top stays far
/// below `space::MMAP_AREA`, at 16 TiB).
pub const LOAD_PAGES: u64 = 1 << 28;

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
    let load = splitmix64(&mut state) % LOAD_PAGES;
    Layout {
        load_shift: load * super::PAGE_SIZE,
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
            crate::ensure_eq!(layout(3).load_bias(), LOAD_BASE);
            return Ok(()); // booted with aslr=off
        }
        let layouts: alloc::vec::Vec<Layout> = (1..=16).map(layout).collect();
        // The highest byte a program may reach: below the mmap area.
        let image_limit =
            super::space::MMAP_AREA.start() - (LOAD_BASE + LOAD_PAGES * super::PAGE_SIZE);
        crate::ensure!(image_limit >= 1 << 40, "less than 1 TiB left for an image");
        for (index, one) in layouts.iter().enumerate() {
            crate::ensure!(one.stack_shift < STACK_PAGES * super::PAGE_SIZE);
            crate::ensure!(one.mmap_shift < MMAP_PAGES * super::PAGE_SIZE);
            crate::ensure!(one.load_shift < LOAD_PAGES * super::PAGE_SIZE);
            crate::ensure!(one.load_bias() >= LOAD_BASE);
            crate::ensure!(one.stack_shift % super::PAGE_SIZE == 0);
            crate::ensure!(one.mmap_shift % super::PAGE_SIZE == 0);
            crate::ensure!(one.load_bias() % super::PAGE_SIZE == 0);
            crate::ensure!(
                layouts[index + 1..].iter().all(|other| other != one),
                "two processes got the same layout"
            );
            crate::ensure!(
                layouts[index + 1..]
                    .iter()
                    .all(|other| other.load_bias() != one.load_bias()),
                "two processes got the same load bias"
            );
        }
        crate::ensure_eq!(layout(3), layout(3));
        Ok(())
    }
);
