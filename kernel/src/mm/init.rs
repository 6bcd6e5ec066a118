//! Bringing up memory management on the BSP.
//!
//! 1. Carve the free frames out of the memory map, minus low memory, the
//!    kernel image and the initrd.
//! 2. Place the `PageInfo` array (one entry per frame up to the end of RAM)
//!    below 4 GiB, where the early direct map reaches.
//! 3. Give the buddy allocator the frames below 4 GiB, build the final page
//!    tables with them and switch to those tables.
//! 4. Give it the frames above 4 GiB, now that the direct map covers them.

use super::frame::{global, page_info::PageInfo};
use super::{KERNEL_BASE, PAGE_SIZE, phys_to_virt};
use crate::boot::BootInfo;
use crate::boot::memmap::BootFrames;

const FOUR_GIB: u64 = 4 << 30;
/// Real-mode memory, the BIOS area and the SMP trampoline page.
const LOW_MEMORY_END: u64 = 0x10_0000;

unsafe extern "C" {
    static __boot_start: u8;
    static __kernel_end: u8;
}

/// The initrd's physical range, reserved by `init`.
static INITRD: spin::Once<(u64, u64)> = spin::Once::new();

/// The initrd's bytes, if the boot protocol passed one.
pub fn initrd_bytes() -> Option<&'static [u8]> {
    let &(start, end) = INITRD.get()?;
    let len = (end - start) as usize;
    // SAFETY: `init` removed the range from the free frames before the
    // frame allocator existed, so no frame of it is ever handed out and
    // nothing writes to it; the direct map covers it; it lives forever.
    Some(unsafe { core::slice::from_raw_parts(phys_to_virt(start).as_ptr::<u8>(), len) })
}

/// What `init` found, for the boot log.
pub struct MemorySummary {
    pub usable_bytes: u64,
    pub managed_frames: usize,
    pub page_info_bytes: u64,
}

pub fn init(boot: &BootInfo) -> MemorySummary {
    let map = &boot.memory_map;
    let mut free = BootFrames::from_map(map);
    free.reserve(0, LOW_MEMORY_END);
    let image_start = (&raw const __boot_start) as u64;
    let image_end = (&raw const __kernel_end) as u64 - KERNEL_BASE;
    free.reserve(image_start, image_end);
    if let Some(initrd) = boot.initrd {
        free.reserve(initrd.start, initrd.end);
        INITRD.call_once(|| (initrd.start, initrd.end));
    }

    let frame_count = map.end_of_usable().div_ceil(PAGE_SIZE) as usize;
    let page_info_bytes = (frame_count * core::mem::size_of::<PageInfo>()) as u64;
    let array_phys = free
        .take(page_info_bytes, PAGE_SIZE, FOUR_GIB)
        .expect("no room below 4 GiB for the PageInfo array");
    let array = phys_to_virt(array_phys).as_mut_ptr::<PageInfo>();
    for index in 0..frame_count {
        // SAFETY: the carved range holds `frame_count` entries and nothing
        // else uses it; every entry is initialized before the slice exists.
        unsafe { array.add(index).write(PageInfo::new_reserved()) };
    }
    // SAFETY: initialized above; the memory is never given back.
    global::init(unsafe { core::slice::from_raw_parts_mut(array, frame_count) });

    for range in free.ranges() {
        if range.start < FOUR_GIB {
            global::add_free_range(range.start, range.end.min(FOUR_GIB));
        }
    }
    super::paging::init(map);
    for range in free.ranges() {
        if range.end > FOUR_GIB {
            global::add_free_range(range.start.max(FOUR_GIB), range.end);
        }
    }

    MemorySummary {
        usable_bytes: map.usable_bytes(),
        managed_frames: global::managed_frames(),
        page_info_bytes,
    }
}
