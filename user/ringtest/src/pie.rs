//! Position-independent loading as the program sees it.  `ringtest where`
//! (a child) tells its parent, in two MSG_RING CQEs, the page numbers of
//! its load address (`__image_base`, link-time address 0 in `user.ld`)
//! and of a static; the parent checks that two children were loaded at
//! different, page-aligned, in-bounds addresses (the same fixed one with
//! `aslr=off`), that the static moved with the code, and that VM_QUERY
//! shows its own code where the program says it runs.

use abi::Errno;
use abi::file::{VM_MMAPPED, VM_USER_ACCESSIBLE, VmRegion};
use core::sync::atomic::{AtomicU64, Ordering};
use rt::process::{PARENT_RING, WaitStatus, msg_ring, spawn, wait};
use rt::ring::Ring;

/// The argument that makes `ringtest` a child that reports where it is.
pub const WHERE: &str = "where";

const BASE_TAG: u64 = 0x91e_0001;
const STATIC_TAG: u64 = 0x91e_0002;
/// The load address without randomization (`mm::aslr::LOAD_BASE`).
const FIXED_BASE: u64 = 0x40_0000;
/// The highest load address randomization gives, plus one.
const BASE_LIMIT: u64 = FIXED_BASE + (1 << 40);
const PAGE: u64 = 4096;

unsafe extern "C" {
    /// Defined by `user.ld` at link-time address 0.
    static __image_base: u8;
}

/// A static in `.data`, whose address must move with the code.
static MARKER: AtomicU64 = AtomicU64::new(0x5eed);

/// Where a program was loaded, and where its static is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Where {
    pub base: u64,
    pub marker: u64,
}

/// This process's [`Where`].
pub fn here() -> Where {
    MARKER.fetch_add(1, Ordering::Relaxed); // keeps it in .data
    Where {
        base: &raw const __image_base as u64,
        marker: &raw const MARKER as u64,
    }
}

/// In a `ringtest where` child: reports [`here`] to the parent.
pub fn report(ring: &mut Ring) -> i32 {
    let at = here();
    let sent = [(BASE_TAG, at.base), (STATIC_TAG, at.marker)]
        .into_iter()
        .all(|(tag, address)| {
            let page = u32::try_from(address / PAGE).unwrap_or(u32::MAX);
            msg_ring(ring, PARENT_RING, tag, page).is_ok()
        });
    if sent { 0 } else { 1 }
}

/// Starts a `ringtest where` child and returns where it was loaded.  Its
/// addresses are page numbers: the static's offset in its page is ours.
pub fn child(ring: &mut Ring) -> Result<Where, Errno> {
    let handle = spawn(ring, "bin/ringtest", b"ringtest\0where\0")?;
    if wait(ring, handle)? != WaitStatus::Exited(0) {
        return Err(Errno::EIO);
    }
    let mut page = |tag| -> Result<u64, Errno> {
        let cqe = ring.wait_for(tag)?;
        Ok(u64::from(cqe.res as u32) * PAGE)
    };
    Ok(Where {
        base: page(BASE_TAG)?,
        marker: page(STATIC_TAG)? + here().marker % PAGE,
    })
}

/// Whether two children and this process were loaded consistently:
/// apart (or all at the fixed base), aligned, in bounds, the static at
/// the same offset from the base in each.
pub fn apart_and_consistent(own: Where, first: Where, second: Where) -> bool {
    let all = [own, first, second];
    let fixed = all.iter().all(|at| at.base == FIXED_BASE);
    let apart = first.base != second.base;
    let sound = all
        .iter()
        .all(|at| at.base % PAGE == 0 && (FIXED_BASE..BASE_LIMIT).contains(&at.base));
    let same_offset = all
        .iter()
        .all(|at| at.marker.wrapping_sub(at.base) == own.marker - own.base);
    (fixed || apart) && sound && same_offset
}

/// Whether VM_QUERY shows this program's code (and only it) in a program
/// image region starting at the load address.
pub fn code_is_where_vm_query_says(ring: &mut Ring) -> bool {
    let mut records = [VmRegion::default(); 32];
    let Ok(count) = rt::mm::regions(ring, &mut records) else {
        return false;
    };
    let code = here as fn() -> Where as usize as u64;
    let base = here().base;
    records[..count].iter().any(|r| {
        let image = r.flags & VM_USER_ACCESSIBLE != 0 && r.flags & VM_MMAPPED == 0;
        let executable = r.prot & abi::ProtFlags::EXEC.bits() != 0;
        image && executable && r.start == base && (r.start..r.end).contains(&code)
    })
}
