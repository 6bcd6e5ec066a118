//! Kernel stacks with guard pages.
//!
//! Each CPU's kernel stack and IST stacks are carved from one region,
//! `KSTACK_BASE` upwards, as `[guard page][stack pages]`.  The guard page is
//! never mapped, so an overflow faults (on the exception IST stack) instead
//! of silently corrupting the neighbour.  Stacks live as long as their CPU.

use super::{KSTACK_BASE, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;
use x86_64::structures::paging::PageTableFlags as Flags;

static NEXT: AtomicU64 = AtomicU64::new(KSTACK_BASE);

/// Maps a new stack of `bytes` (rounded up to pages) below a guard page and
/// returns its top (16-byte aligned, the initial RSP).
pub fn alloc(bytes: usize) -> VirtAddr {
    let pages = (bytes as u64).div_ceil(PAGE_SIZE);
    let guard = NEXT.fetch_add((pages + 1) * PAGE_SIZE, Ordering::Relaxed);
    let bottom = guard + PAGE_SIZE;
    let flags = Flags::PRESENT | Flags::WRITABLE | Flags::GLOBAL | Flags::NO_EXECUTE;
    let flags = if crate::arch::cpu::features().nx {
        flags
    } else {
        flags - Flags::NO_EXECUTE
    };
    for page in 0..pages {
        let frame =
            super::frame::global::alloc_zeroed(0).expect("out of memory for a kernel stack");
        super::paging::map_kernel_page(VirtAddr::new(bottom + page * PAGE_SIZE), frame, flags);
    }
    VirtAddr::new(bottom + pages * PAGE_SIZE)
}

/// Whether `addr` is one of the guard pages (every unmapped page of the
/// region handed out so far is one).
pub fn is_guard_page(addr: u64) -> bool {
    (KSTACK_BASE..NEXT.load(Ordering::Relaxed)).contains(&addr) && !super::paging::is_mapped(addr)
}

crate::ktest!(
    fn every_ap_stack_sits_above_a_guard_page() {
        let cpus = crate::arch::percpu::online_count();
        for index in 1..cpus {
            let cpu = crate::arch::percpu::get(index).ok_or("missing CPU block")?;
            let top = cpu.kernel_stack_top.as_u64();
            let bytes = crate::arch::smp::KERNEL_STACK_BYTES as u64;
            crate::ensure!(
                super::paging::is_mapped(top - 8),
                "cpu{index} stack top unmapped"
            );
            crate::ensure!(
                super::paging::is_mapped(top - bytes),
                "cpu{index} stack bottom unmapped"
            );
            crate::ensure!(
                is_guard_page(top - bytes - 1),
                "cpu{index} has no guard page below its stack"
            );
        }
        let fresh = alloc(8192).as_u64();
        crate::ensure!(
            is_guard_page(fresh - 8192 - 8),
            "a fresh stack has no guard page"
        );
        crate::ensure!(
            !is_guard_page(fresh - 8),
            "a stack page counts as a guard page"
        );
        Ok(())
    }
);
