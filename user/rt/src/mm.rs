//! Memory calls, waited for one at a time: MMAP, MUNMAP and VM_QUERY, with
//! the protection and flag words programs use most.

use crate::process::run_one;
use crate::ring::Ring;
use abi::file::VmRegion;
use abi::{Errno, MapFlags, ProtFlags};

pub const PAGE: u64 = 4096;
pub const R: u32 = ProtFlags::READ.bits();
pub const RW: u32 = ProtFlags::READ.bits() | ProtFlags::WRITE.bits();
pub const PRIVATE: u32 = MapFlags::PRIVATE.bits();
pub const SHARED: u32 = MapFlags::SHARED.bits();

/// MMAP of `len` bytes of anonymous memory, anywhere; its address.
pub fn map_anonymous(ring: &mut Ring, len: u64, prot: u32, flags: u32) -> Result<u64, Errno> {
    let len = u32::try_from(len).map_err(|_| Errno::ENOMEM)?;
    let mut addr = 0;
    let sqe = crate::prep::mmap_anonymous(0, len, prot, flags, &mut addr);
    run_one(ring, sqe, u64::MAX - 14)?;
    Ok(addr)
}

/// MMAP of `len` bytes of private anonymous memory at exactly `addr`
/// (`MAP_FIXED`: whatever was mapped there goes); its address.
pub fn map_fixed(ring: &mut Ring, addr: u64, len: u64, prot: u32) -> Result<u64, Errno> {
    let len = u32::try_from(len).map_err(|_| Errno::ENOMEM)?;
    let mut out = 0;
    let flags = PRIVATE | MapFlags::FIXED.bits();
    let sqe = crate::prep::mmap_anonymous(addr, len, prot, flags, &mut out);
    run_one(ring, sqe, u64::MAX - 17)?;
    Ok(out)
}

/// MUNMAP of `[addr, addr + len)`.
pub fn unmap(ring: &mut Ring, addr: u64, len: u64) -> Result<(), Errno> {
    let len = u32::try_from(len).map_err(|_| Errno::EINVAL)?;
    run_one(ring, crate::prep::munmap(addr, len), u64::MAX - 15).map(|_| ())
}

/// The caller's regions into `out`; how many there are.
pub fn regions(ring: &mut Ring, out: &mut [VmRegion]) -> Result<usize, Errno> {
    let bytes = run_one(ring, crate::prep::vm_query(out), u64::MAX - 16)?;
    Ok(bytes as usize / VmRegion::BYTES)
}
