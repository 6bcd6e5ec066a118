//! The per-CPU GDT and TSS.
//!
//! ```text
//! selector  descriptor
//! 0x00      null
//! 0x08      kernel code (64-bit)
//! 0x10      kernel data
//! 0x18|3    user data     } this order is what SYSRET expects:
//! 0x20|3    user code     } SS = base + 8, CS = base + 16
//! 0x28      TSS (two slots)
//! ```
//!
//! Every IDT vector runs on an IST stack (DESIGN.md section 3: the prebuilt
//! `core` uses the red zone, so an interrupt must never push below the
//! interrupted RSP).  The TSS of each CPU holds five of them:
//! [`Ist::Exception`] for faults, [`Ist::Irq`] for device interrupts and
//! IPIs, and one each for NMI, #DF and #MC, so a fault inside an interrupt
//! handler, or an NMI at any moment, never lands on a stack in use.

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

pub const KERNEL_CODE: u16 = 0x08;
pub const KERNEL_DATA: u16 = 0x10;
pub const USER_DATA: u16 = 0x18 | 3;
pub const USER_CODE: u16 = 0x20 | 3;
pub const TSS: u16 = 0x28;

/// The IST slots, numbered as the IDT's 1-based IST field counts them.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ist {
    Exception = 1,
    Nmi = 2,
    DoubleFault = 3,
    MachineCheck = 4,
    Irq = 5,
}

impl Ist {
    pub const ALL: [Ist; 5] = [
        Ist::Exception,
        Ist::Nmi,
        Ist::DoubleFault,
        Ist::MachineCheck,
        Ist::Irq,
    ];
}

/// Bytes of each IST stack.
pub const IST_STACK_BYTES: usize = 16 * 1024;

/// One CPU's descriptor tables.
pub struct CpuTables {
    gdt: GlobalDescriptorTable,
    tss: TaskStateSegment,
}

impl CpuTables {
    pub const fn new() -> Self {
        Self {
            gdt: GlobalDescriptorTable::new(),
            tss: TaskStateSegment::new(),
        }
    }
}

impl Default for CpuTables {
    fn default() -> Self {
        Self::new()
    }
}

/// The BSP's tables and IST stacks are static, so exceptions are reported
/// from the first lines of `kmain`, before the heap exists.  (APs get heap
/// tables and guarded stacks.)
struct BspStorage {
    tables: CpuTables,
    ist_stacks: [[u8; IST_STACK_BYTES]; 5],
}

#[repr(align(16))]
struct Aligned<T>(T);

static mut BSP: Aligned<BspStorage> = Aligned(BspStorage {
    tables: CpuTables::new(),
    ist_stacks: [[0; IST_STACK_BYTES]; 5],
});

/// Loads the BSP's tables.  Call once, on the BSP.
pub fn load_bsp() -> &'static TaskStateSegment {
    static DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(
        !DONE.swap(true, core::sync::atomic::Ordering::AcqRel),
        "gdt::load_bsp called twice"
    );
    // The flag above makes this the only reference ever made to the BSP
    // storage.
    let bsp = &raw mut BSP;
    // SAFETY: as above.
    let storage = unsafe { &mut (*bsp).0 };
    let tops =
        core::array::from_fn(|i| VirtAddr::from_ptr(storage.ist_stacks[i].as_ptr_range().end));
    load(&mut storage.tables, tops)
}

/// Builds and loads a CPU's GDT and TSS in `tables`.  `ist_tops[i]` is the
/// top of the stack for `Ist::ALL[i]`.
pub fn load(tables: &'static mut CpuTables, ist_tops: [VirtAddr; 5]) -> &'static TaskStateSegment {
    let CpuTables { gdt, tss } = tables;
    for (slot, top) in Ist::ALL.iter().zip(ist_tops) {
        tss.interrupt_stack_table[*slot as usize - 1] = top;
    }
    let tss: &'static TaskStateSegment = tss;
    let selectors = [
        gdt.append(Descriptor::kernel_code_segment()),
        gdt.append(Descriptor::kernel_data_segment()),
        gdt.append(Descriptor::user_data_segment()),
        gdt.append(Descriptor::user_code_segment()),
        gdt.append(Descriptor::tss_segment(tss)),
    ];
    let expected = [KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, TSS];
    assert_eq!(selectors.map(|s| s.0), expected, "GDT layout");
    let gdt: &'static GlobalDescriptorTable = gdt;
    gdt.load();

    // SAFETY: the selectors name the descriptors just loaded; the kernel
    // code and data segments are the flat 64-bit ones the CPU runs on.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CODE));
        SS::set_reg(SegmentSelector(KERNEL_DATA));
        DS::set_reg(SegmentSelector(KERNEL_DATA));
        ES::set_reg(SegmentSelector(KERNEL_DATA));
        load_tss(SegmentSelector(TSS));
    }
    tss
}
