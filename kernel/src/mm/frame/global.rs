//! The kernel's frame allocator: one [`BuddyAllocator`] behind a spinlock,
//! with interrupts off while it is held.
//!
//! Per-CPU frame caches (DESIGN.md section 8) will sit in front of it.

use super::buddy::{BuddyAllocator, MAX_ORDER};
use super::list::FrameList;
use super::page_info::{MAX_PIN_DEPTH, PageInfo};
use crate::arch::InterruptGuard;
use crate::mm::{PAGE_SIZE, phys_to_virt};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;
use x86_64::PhysAddr;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};

static FRAMES: Mutex<Option<BuddyAllocator>> = Mutex::new(None);

/// Whether more than [`user_reserve`] frames are free, as of the
/// last change under the lock: what [`user_room`] reads without taking it.
static ABOVE_RESERVE: AtomicBool = AtomicBool::new(false);

fn with<R>(f: impl FnOnce(&mut BuddyAllocator) -> R) -> R {
    let _irq = InterruptGuard::new();
    let mut guard = FRAMES.lock();
    let buddy = guard
        .as_mut()
        .expect("frame allocator used before mm::init");
    let free_before = buddy.free_frames();
    let result = f(buddy);
    // Only a call that changed the free count can move the line (pins,
    // owners and counts, most calls, change nothing).
    if buddy.free_frames() != free_before {
        let above = buddy.free_frames() > reserve_of(buddy);
        ABOVE_RESERVE.store(above, Ordering::Relaxed);
    }
    result
}

/// Installs the allocator over `pages` (one entry per frame, all reserved).
pub fn init(pages: &'static mut [PageInfo]) {
    *FRAMES.lock() = Some(BuddyAllocator::new(pages));
}

/// Hands the physical range `[start, end)` (page-aligned) to the allocator.
pub fn add_free_range(start: u64, end: u64) {
    with(|buddy| buddy.add_free_range((start / PAGE_SIZE) as usize, (end / PAGE_SIZE) as usize));
}

/// A block of `2^order` frames, aligned to its size.
pub fn alloc(order: usize) -> Option<PhysAddr> {
    with(|buddy| buddy.alloc(order)).map(|pfn| PhysAddr::new(pfn as u64 * PAGE_SIZE))
}

/// Frames user memory may never take: the kernel's heap and page tables
/// keep at least this many (and 1/64 of RAM past 64 MiB), so a process
/// that runs the machine out of memory is killed, and the kernel lives.
const USER_RESERVE_MIN: usize = 256;

fn reserve_of(buddy: &BuddyAllocator) -> usize {
    USER_RESERVE_MIN.max(buddy.managed_frames() / 64)
}

/// The frames [`alloc_user`] leaves free.
pub fn user_reserve() -> usize {
    with(|buddy| reserve_of(buddy))
}

/// Whether a process may still make the kernel hold more for it: more
/// than [`user_reserve`] frames are free.  The kernel objects an op
/// leaves behind (a pending op's task, a thread, a pipe, a region) come
/// from the kernel heap, which the reserve is for; ops that would add some
/// are refused with `ENOMEM` past this line (`ops::start_op`), the one
/// user pages stop at.  A snapshot without the
/// lock: CPUs that all see room at once go past the line by an op each.
pub fn user_room() -> bool {
    ABOVE_RESERVE.load(Ordering::Relaxed)
}

/// A frame for user memory (a page a fault maps, a copy-on-write copy, an
/// eager stack page): `None` once only [`user_reserve`] frames are left.
pub fn alloc_user() -> Option<PhysAddr> {
    alloc_user_block(0)
}

/// A block of `2^order` frames that a process's existence costs (its page
/// tables, its ring): like [`alloc_user`], it stops at the reserve, so
/// neither a fork bomb nor page tables spread over the address space can
/// take the frames the kernel's heap needs.
pub fn alloc_user_block(order: usize) -> Option<PhysAddr> {
    with(|buddy| {
        if buddy.free_frames() < reserve_of(buddy) + (1 << order) {
            return None;
        }
        buddy.alloc(order)
    })
    .map(|pfn| PhysAddr::new(pfn as u64 * PAGE_SIZE))
}

/// [`alloc_user_block`], zero-filled.
pub fn alloc_user_zeroed(order: usize) -> Option<PhysAddr> {
    // SAFETY: just allocated, so the block is ours alone.
    alloc_user_block(order).inspect(|&phys| unsafe { zero(phys, order) })
}

/// Like [`alloc`], but zero-filled.
pub fn alloc_zeroed(order: usize) -> Option<PhysAddr> {
    // SAFETY: just allocated, so the block is ours alone.
    alloc(order).inspect(|&phys| unsafe { zero(phys, order) })
}

/// Fills the block of `2^order` frames at `phys` with zeroes.
///
/// # Safety
///
/// The block is RAM that the caller owns alone: nothing else reads or
/// writes it meanwhile.
pub unsafe fn zero(phys: PhysAddr, order: usize) {
    let bytes = (PAGE_SIZE as usize) << order;
    // SAFETY: the caller's block, reachable through the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(phys.as_u64()).as_mut_ptr::<u8>(), 0, bytes) };
}

/// Returns a block from [`alloc`].  A bad free is a kernel bug.  A single
/// frame that is pinned (an op's buffer) is freed when its last pin goes,
/// never while the op may still touch it.
pub fn free(phys: PhysAddr, order: usize) {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    let freed = with(|buddy| match order {
        0 => buddy.free_unless_pinned(pfn).map(|_| ()),
        _ => buddy.free(pfn, order),
    });
    if let Err(error) = freed {
        panic!(
            "freeing frame {:#x} order {order}: {error:?}",
            phys.as_u64()
        );
    }
}

/// Adds an owner to the single frame at `phys` (a copy-on-write page
/// another space maps too, a memory object's page a mapping shows).  Each
/// owner drops it with [`release`].  A frame cannot be shared 2^32 times:
/// that would take more page tables than RAM holds.
pub fn share(phys: PhysAddr) {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    let shared = with(|buddy| buddy.page(pfn).and_then(PageInfo::share));
    assert!(shared.is_some(), "sharing frame {:#x}", phys.as_u64());
}

/// Drops one owner of the single frame at `phys`: the last owner frees it
/// (once its pins are gone, as [`free`] does).
pub fn release(phys: PhysAddr) {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    if let Err(error) = with(|buddy| buddy.release_owner(pfn)) {
        panic!("releasing frame {:#x}: {error:?}", phys.as_u64());
    }
}

/// How many owners the frame at `phys` has (1: only its first).
pub fn owners(phys: PhysAddr) -> u32 {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    with(|buddy| buddy.page(pfn).map_or(1, |page| page.refcount() + 1))
}

/// Frames free right now.
pub fn free_frames() -> usize {
    with(|buddy| buddy.free_frames())
}

/// Frames the allocator manages (free or allocated).
pub fn managed_frames() -> usize {
    with(|buddy| buddy.managed_frames())
}

/// Pins the frame at `phys` (its `PageInfo` pin count goes up) so it is
/// not freed or remapped while an operation uses it.  `None` when the frame
/// is not managed RAM or its pin count is saturated.
pub fn pin(phys: PhysAddr) -> Option<u32> {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    with(|buddy| buddy.page(pfn).and_then(|page| page.pin()))
}

/// Drops a pin taken with [`pin`].
pub fn unpin(phys: PhysAddr) {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    let unpinned = with(|buddy| buddy.unpin(pfn));
    assert!(
        unpinned.is_some(),
        "unpinning frame {:#x}, which is not pinned",
        phys.as_u64()
    );
    // A fence and a load when nobody waits (`Event::wake_all`).
    if unpinned == Some(0) {
        UNPINNED.wake_all();
    }
    if unpinned == Some(MAX_PIN_DEPTH - 1) {
        PIN_ROOM_GENERATION.fetch_add(1, Ordering::AcqRel);
        PIN_ROOM.wake_all();
    }
}

/// Signalled when a frame loses its last pin.
static UNPINNED: executor::Event = executor::Event::new();
/// Signalled when a frame at the pin depth loses a pin; the generation
/// counts those moments.
static PIN_ROOM: executor::Event = executor::Event::new();
static PIN_ROOM_GENERATION: AtomicU64 = AtomicU64::new(0);

/// A mark to wait from with [`pin_room_since`]: take it before an attempt
/// to pin, so a pin dropped during the attempt is not missed.
pub fn pin_room_mark() -> u64 {
    PIN_ROOM_GENERATION.load(Ordering::Acquire)
}

/// Waits until a frame at the pin depth has lost a pin since `mark`.
pub async fn pin_room_since(mark: u64) {
    PIN_ROOM
        .wait_until(|| PIN_ROOM_GENERATION.load(Ordering::Acquire) != mark)
        .await;
}

/// Releases `frames`, unmapped from a space whose shootdown is done.  A
/// frame another space still maps (shared, or copy-on-write after a fork)
/// goes at once: its last owner frees it after its last pin, and waiting
/// on those pins would let another process's ops hold this `MUNMAP` for as
/// long as they run.  A frame only this space had goes once its last pin
/// has (an op of the process still using the page, a READ into it), so
/// `MUNMAP` completes only after those ops have.  No new pin can come to
/// such a frame: no space maps it any more.  One wait per frame still
/// pinned, each checking only its frame: a wake costs nothing per frame
/// already gone, however many the unmap took.
pub async fn release_once_unpinned(frames: FrameList) {
    let mut pinned = FrameList::new();
    for frame in frames {
        if owners(frame) == 1 && pin_count(frame) > 0 {
            pinned.push(frame);
        } else {
            release(frame);
        }
    }
    for frame in pinned {
        UNPINNED.wait_until(|| pin_count(frame) == 0).await;
        release(frame);
    }
}

/// The pin count of the frame at `phys` (0 for unmanaged frames).
pub fn pin_count(phys: PhysAddr) -> u32 {
    let pfn = (phys.as_u64() / PAGE_SIZE) as usize;
    with(|buddy| buddy.page(pfn).map_or(0, |page| page.pin_count()))
}

/// The largest order [`alloc`] accepts.
pub const fn max_order() -> usize {
    MAX_ORDER
}

/// Hands zeroed 4 KiB frames to the `x86_64` crate's page-table code.
pub struct PageTableFrames;

/// The same for the tables of a user address space, which are user memory
/// ([`alloc_user_zeroed`]).
pub struct UserTableFrames;

// SAFETY: every frame returned is freshly allocated, unused and zeroed.
unsafe impl FrameAllocator<Size4KiB> for UserTableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        alloc_user_zeroed(0).map(PhysFrame::containing_address)
    }
}

// SAFETY: every frame returned is freshly allocated, unused and zeroed.
unsafe impl FrameAllocator<Size4KiB> for PageTableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        alloc_zeroed(0).map(PhysFrame::containing_address)
    }
}

crate::ktest!(
    fn frames_are_aligned_usable_and_returned() {
        let before = free_frames();
        let mut blocks = alloc::vec::Vec::new();
        for order in 0..=4 {
            let phys = alloc_zeroed(order).ok_or("out of frames")?;
            let bytes = (PAGE_SIZE as usize) << order;
            crate::ensure!(
                phys.as_u64() % bytes as u64 == 0,
                "order {order} block {phys:?} misaligned"
            );
            let virt = phys_to_virt(phys.as_u64()).as_mut_ptr::<u64>();
            // SAFETY: the block is ours and mapped through the direct map.
            unsafe {
                crate::ensure_eq!(virt.read(), 0);
                virt.add(bytes / 8 - 1).write(0xfeed_f00d);
                crate::ensure_eq!(virt.add(bytes / 8 - 1).read(), 0xfeed_f00d);
            }
            blocks.push((phys, order));
        }
        crate::ensure_eq!(free_frames(), before - (1 + 2 + 4 + 8 + 16));
        for (phys, order) in blocks {
            free(phys, order);
        }
        crate::ensure_eq!(free_frames(), before);
        Ok(())
    }
);
