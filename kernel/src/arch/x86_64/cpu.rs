//! CPU feature detection and the control-register policy every CPU applies.
//!
//! The stub already turned on PAE, SSE, long mode and NX (where offered).
//! [`enable_protections`] adds, where CPUID offers them:
//! - SMEP: the kernel never executes user pages;
//! - SMAP: the kernel never touches user pages by accident.  The design
//!   never needs to lift it: user buffers are pinned and reached through the
//!   direct map;
//! - UMIP: user mode cannot read the descriptor-table registers;
//! - PGE: kernel mappings are global and survive CR3 switches.

use core::arch::x86_64::{__cpuid, __cpuid_count};
use core::sync::atomic::{AtomicU32, Ordering};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// The features the kernel cares about, read once on the BSP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub nx: bool,
    pub smep: bool,
    pub smap: bool,
    pub umip: bool,
    pub pge: bool,
    pub x2apic: bool,
    pub tsc_deadline: bool,
    pub invariant_tsc: bool,
    pub fsgsbase: bool,
    pub xsave: bool,
    pub pcid: bool,
    pub huge_1g: bool,
}

static FEATURE_BITS: AtomicU32 = AtomicU32::new(0);

macro_rules! feature_bits {
    ($($name:ident = $bit:literal),* $(,)?) => {
        impl Features {
            fn to_bits(self) -> u32 {
                0 $(| (u32::from(self.$name) << $bit))*
            }

            fn from_bits(bits: u32) -> Self {
                Self { $($name: bits & (1 << $bit) != 0,)* }
            }

            /// `name+` or `name-` for each feature, for the boot log.
            pub fn describe(self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
                $(write!(out, " {}{}", stringify!($name), if self.$name { '+' } else { '-' })?;)*
                Ok(())
            }
        }
    };
}

feature_bits!(
    nx = 0,
    smep = 1,
    smap = 2,
    umip = 3,
    pge = 4,
    x2apic = 5,
    tsc_deadline = 6,
    invariant_tsc = 7,
    fsgsbase = 8,
    xsave = 9,
    pcid = 10,
    huge_1g = 11,
);

/// Reads CPUID on this CPU.
pub fn detect() -> Features {
    let basic = __cpuid(0);
    let leaf1 = __cpuid(1);
    let leaf7 = if basic.eax >= 7 {
        __cpuid_count(7, 0)
    } else {
        __cpuid_count(0, 0)
    };
    let max_extended = __cpuid(0x8000_0000).eax;
    let ext1_edx = if max_extended >= 0x8000_0001 {
        __cpuid(0x8000_0001).edx
    } else {
        0
    };
    let ext7_edx = if max_extended >= 0x8000_0007 {
        __cpuid(0x8000_0007).edx
    } else {
        0
    };
    let leaf7_valid = basic.eax >= 7;
    Features {
        nx: ext1_edx & (1 << 20) != 0,
        huge_1g: ext1_edx & (1 << 26) != 0,
        smep: leaf7_valid && leaf7.ebx & (1 << 7) != 0,
        smap: leaf7_valid && leaf7.ebx & (1 << 20) != 0,
        fsgsbase: leaf7_valid && leaf7.ebx & 1 != 0,
        umip: leaf7_valid && leaf7.ecx & (1 << 2) != 0,
        pge: leaf1.edx & (1 << 13) != 0,
        pcid: leaf1.ecx & (1 << 17) != 0,
        x2apic: leaf1.ecx & (1 << 21) != 0,
        tsc_deadline: leaf1.ecx & (1 << 24) != 0,
        xsave: leaf1.ecx & (1 << 26) != 0,
        invariant_tsc: ext7_edx & (1 << 8) != 0,
    }
}

/// Records the BSP's features for every later `features()` call.
pub fn init_bsp() -> Features {
    let features = detect();
    FEATURE_BITS.store(features.to_bits(), Ordering::Relaxed);
    features
}

/// The features recorded by `init_bsp`.
pub fn features() -> Features {
    Features::from_bits(FEATURE_BITS.load(Ordering::Relaxed))
}

/// Applies the control-register policy on this CPU.
pub fn enable_protections() {
    let features = features();
    let mut cr4 = Cr4::read();
    cr4.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
    for (offered, flag) in [
        (
            features.smep,
            Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION,
        ),
        (features.smap, Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
        (features.umip, Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
        (features.pge, Cr4Flags::PAGE_GLOBAL),
    ] {
        if offered {
            cr4.insert(flag);
        }
    }
    // SAFETY: every flag set is offered by this CPU (per CPUID); the kernel
    // never executes or touches user pages, so SMEP/SMAP cannot fault it.
    unsafe { Cr4::write(cr4) };

    let mut cr0 = Cr0::read();
    cr0.insert(Cr0Flags::WRITE_PROTECT | Cr0Flags::NUMERIC_ERROR | Cr0Flags::MONITOR_COPROCESSOR);
    cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
    // SAFETY: paging and protection stay on; these bits only tighten write
    // protection and keep SSE usable.
    unsafe { Cr0::write(cr0) };

    if features.nx {
        // SAFETY: NX is offered, so setting EFER.NXE is valid.
        unsafe { Efer::update(|efer| efer.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    }
}

crate::ktest!(
    fn protections_match_the_cpu() {
        use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
        let features = features();
        let cr4 = Cr4::read();
        crate::ensure_eq!(
            cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
            features.smep
        );
        crate::ensure_eq!(
            cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
            features.smap
        );
        crate::ensure_eq!(
            cr4.contains(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
            features.umip
        );
        crate::ensure!(
            cr4.contains(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE),
            "SSE not enabled: {cr4:?}"
        );
        crate::ensure!(Cr0::read().contains(Cr0Flags::WRITE_PROTECT), "CR0.WP off");
        crate::ensure_eq!(
            Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE),
            features.nx
        );
        Ok(())
    }
);

crate::ktest!(
    fn sse_works() {
        // The prebuilt `core` formats floats with SSE; a wrong CR0/CR4 would #UD.
        let value = core::hint::black_box(1.5f64) * core::hint::black_box(3.0f64);
        crate::ensure_eq!(alloc::format!("{value:.2}"), "4.50");
        Ok(())
    }
);
