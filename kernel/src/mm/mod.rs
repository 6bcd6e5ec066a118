//! Memory management.
//!
//! ```text
//! virtual address space
//! 0x0000_0000_0000_0000 ..= 0x0000_7fff_ffff_ffff  user (per process)
//! 0xffff_8000_0000_0000 ..                         direct map of all RAM (+ MMIO, uncached)
//! 0xffff_c000_0000_0000 ..                         kernel stacks, with guard pages
//! 0xffff_ffff_8000_0000 ..                         kernel image (text RX, rodata R, data RW)
//! ```
//!
//! - `aslr`: user address-space randomization (the per-boot seed, each
//!   process's layout);
//! - `frame`: physical frames (buddy allocator over a `PageInfo` array);
//! - `paging`: the kernel page tables;
//! - `heap`: the global allocator, on `slab`: size classes of objects in
//!   slabs that go back to the frame allocator when they empty (host-tested);
//! - `kstack`: guarded kernel stacks;
//! - `region`: what each range of a user space is (the region tree and the
//!   `MMAP`/`MUNMAP`/`MPROTECT` rules; host-tested);
//! - `object`: memory objects (an initfs file's page cache, shared
//!   anonymous memory) that mappings show;
//! - `page_set`: sparse page sets (a region's copy-on-write marks);
//! - `space`: a user page table, which maps what the regions describe, and
//!   resolves faults (demand-zero, object pages, copy-on-write);
//!   `shootdown`: TLB invalidation on every CPU that has a space loaded, as
//!   a completion event;
//! - `pin`: pinned user buffers;
//! - `memcheck`: the leak checks around test processes;
//! - `usercopy`: reading a process's memory for the kernel's reports.

#[cfg(not(test))]
pub mod aslr;
pub mod frame;
#[cfg(not(test))]
pub mod heap;
#[cfg(not(test))]
pub mod init;
#[cfg(not(test))]
pub mod kstack;
#[cfg(not(test))]
pub mod memcheck;
#[cfg(not(test))]
pub mod object;
pub mod page_set;
#[cfg(not(test))]
pub mod paging;
#[cfg(not(test))]
pub mod pin;
pub mod region;
#[cfg(not(test))]
pub mod shootdown;
pub mod slab;
#[cfg(not(test))]
pub mod space;
#[cfg(not(test))]
pub mod usercopy;

use x86_64::{PhysAddr, VirtAddr};

/// Where the direct map of physical memory starts.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// Where the kernel image is linked (plus its physical load address).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Where guarded kernel stacks are mapped.
pub const KSTACK_BASE: u64 = 0xffff_c000_0000_0000;

pub use crate::boot::memmap::PAGE_SIZE;

/// The direct-map address of a physical address.
pub fn phys_to_virt(phys: u64) -> VirtAddr {
    VirtAddr::new(DIRECT_MAP_BASE + phys)
}

/// The physical address behind a direct-map or kernel-image address.
pub fn virt_to_phys(virt: VirtAddr) -> Option<PhysAddr> {
    let addr = virt.as_u64();
    if addr >= KERNEL_BASE {
        Some(PhysAddr::new(addr - KERNEL_BASE))
    } else if (DIRECT_MAP_BASE..KSTACK_BASE).contains(&addr) {
        Some(PhysAddr::new(addr - DIRECT_MAP_BASE))
    } else {
        None
    }
}
