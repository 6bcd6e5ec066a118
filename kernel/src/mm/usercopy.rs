//! Reading a process's memory outside any op, for the kernel's own
//! reports: [`read_u64`] follows the space's page tables and reads through
//! the direct map, so a bad address is `None`, never a fault.  Ops reach
//! user memory through pinned buffers (`pin`) instead.

use super::phys_to_virt;
use super::space::Space;
use x86_64::structures::paging::PageTableFlags as Flags;

/// The 8 bytes at `virt` in `space`, if `virt` is 8-aligned and its page
/// is mapped and user-accessible (a `PROT_NONE` page is not).
pub fn read_u64(space: &Space, virt: u64) -> Option<u64> {
    if !virt.is_multiple_of(8) {
        return None;
    }
    let (phys, flags) = space.translate(virt)?;
    if !flags.contains(Flags::PRESENT | Flags::USER_ACCESSIBLE) {
        return None;
    }
    // SAFETY: `phys` is RAM mapped in the space (translated above), which
    // the direct map covers; an aligned u64 stays within its page.  The
    // user may change it concurrently: a volatile read of a plain integer
    // tolerates that.
    Some(unsafe { phys_to_virt(phys.as_u64()).as_ptr::<u64>().read_volatile() })
}
