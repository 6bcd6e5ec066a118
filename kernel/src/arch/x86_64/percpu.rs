//! The per-CPU block, reached through the GS base.
//!
//! `gs:0` holds the block's own address and `gs:8` the CPU index, so
//! [`current`] and [`cpu_index`] are one load each.  Blocks are allocated
//! once per CPU at bring-up and live forever; [`get`] finds another CPU's.
//! Until the BSP installs its block, `cpu_index()` reads 0.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use spin::Mutex;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::GsBase;
use x86_64::structures::tss::TaskStateSegment;

/// The most CPUs the kernel brings up.
pub const MAX_CPUS: usize = 64;

/// Work sent to a CPU by `smp::call_on`.
pub type Call = Box<dyn FnOnce() + Send>;

/// The block's head is read by the entry code in asm, at fixed offsets.
#[repr(C)]
pub struct PerCpu {
    /// `gs:0`: this block's address.
    self_ptr: *const PerCpu,
    /// `gs:8`: the dense CPU index (0 is the BSP).
    index: usize,
    /// `gs:16`: the top of this CPU's one kernel stack; every entry from
    /// user mode starts here.
    pub kernel_stack_top: VirtAddr,
    /// `gs:24`: the user RSP, between `syscall` and the push that saves it.
    user_rsp_scratch: core::sync::atomic::AtomicU64,
    /// The local APIC id, as the MADT and the ICR name the CPU.
    pub apic_id: u32,
    pub tss: &'static TaskStateSegment,
    /// Functions other CPUs asked this CPU to run (`smp::call_on`).
    pub calls: Mutex<VecDeque<Call>>,
}

/// Offsets the entry code uses.
pub const KERNEL_STACK_TOP_OFFSET: usize = 16;
pub const USER_RSP_SCRATCH_OFFSET: usize = 24;
const _: () = {
    assert!(core::mem::offset_of!(PerCpu, self_ptr) == 0);
    assert!(core::mem::offset_of!(PerCpu, index) == 8);
    assert!(core::mem::offset_of!(PerCpu, kernel_stack_top) == KERNEL_STACK_TOP_OFFSET);
    assert!(core::mem::offset_of!(PerCpu, user_rsp_scratch) == USER_RSP_SCRATCH_OFFSET);
};

// SAFETY: the raw self pointer is only read as an address; every mutable
// field is behind a lock or atomic.
unsafe impl Sync for PerCpu {}
// SAFETY: as above.
unsafe impl Send for PerCpu {}

impl PerCpu {
    pub fn index(&self) -> usize {
        self.index
    }
}

static READY: AtomicBool = AtomicBool::new(false);
static CPUS: [AtomicPtr<PerCpu>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// Allocates the block for CPU `index`.
pub fn create(
    index: usize,
    apic_id: u32,
    kernel_stack_top: VirtAddr,
    tss: &'static TaskStateSegment,
) -> &'static PerCpu {
    assert!(index < MAX_CPUS);
    let block = Box::leak(Box::new(PerCpu {
        self_ptr: core::ptr::null(),
        index,
        kernel_stack_top,
        user_rsp_scratch: core::sync::atomic::AtomicU64::new(0),
        apic_id,
        tss,
        calls: Mutex::new(VecDeque::new()),
    }));
    block.self_ptr = block;
    CPUS[index].store(block, Ordering::Release);
    block
}

/// Points this CPU's GS base at `block` and counts the CPU online.
pub fn install(block: &'static PerCpu) {
    GsBase::write(VirtAddr::from_ptr(block));
    READY.store(true, Ordering::Release);
    ONLINE.fetch_add(1, Ordering::AcqRel);
}

/// This CPU's block.
pub fn current() -> &'static PerCpu {
    let block: *const PerCpu;
    // SAFETY: after `install`, gs:0 holds this CPU's block address, which
    // stays valid forever.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) block, options(nostack, readonly, preserves_flags));
        &*block
    }
}

/// This CPU's dense index (0 is the BSP, and the answer before set-up).
pub fn cpu_index() -> usize {
    if !READY.load(Ordering::Relaxed) {
        return 0;
    }
    let index: usize;
    // SAFETY: as in `current`; gs:8 is the index field.
    unsafe {
        core::arch::asm!("mov {}, gs:[8]", out(reg) index, options(nostack, readonly, preserves_flags))
    };
    index
}

/// Another CPU's block, once it exists.
pub fn get(index: usize) -> Option<&'static PerCpu> {
    let block = CPUS.get(index)?.load(Ordering::Acquire);
    // SAFETY: blocks are leaked at creation and never freed.
    (!block.is_null()).then(|| unsafe { &*block })
}

/// CPUs that have installed their block.
pub fn online_count() -> usize {
    ONLINE.load(Ordering::Acquire)
}

crate::ktest!(
    fn blocks_name_their_own_cpu() {
        crate::ensure_eq!(current().index(), cpu_index());
        crate::ensure_eq!(current().apic_id, super::apic::id());
        let mut apic_ids = alloc::vec::Vec::new();
        for index in 0..online_count() {
            let block = get(index).ok_or("missing CPU block")?;
            crate::ensure_eq!(block.index(), index);
            crate::ensure!(
                core::ptr::eq(block.self_ptr, block),
                "cpu{index} self pointer is stale"
            );
            crate::ensure!(
                !apic_ids.contains(&block.apic_id),
                "two CPUs share APIC id {}",
                block.apic_id
            );
            apic_ids.push(block.apic_id);
        }
        crate::ensure!(
            get(online_count()).is_none(),
            "a block beyond the online count"
        );
        Ok(())
    }
);
