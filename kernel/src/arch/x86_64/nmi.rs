//! NMIs that ask a CPU where it is: the watchdog's look at a CPU that
//! stopped making progress (`sched::watchdog`).
//!
//! The watchdog sets the target's request flag and sends it an NMI, which
//! arrives even with interrupts off.  The target's NMI handler prints its
//! registers and kernel backtrace through the crash-report machinery, keeps
//! the first return addresses for the watchdog's own test, and goes on
//! with what it was doing: a report, not a kill.  An NMI nobody asked for
//! stays fatal (`exception::handle`).
//!
//! Reports run on the kernel's own page table ([`on_kernel_table`]): a
//! CPU may be stuck, or have faulted, because its CR3 names tables that
//! are no longer page tables, and then the report's own reads of kernel
//! data would fault again, report after report.

use super::percpu::{self, MAX_CPUS};
use super::serial::write_fmt_unlocked as out;
use super::trap::TrapFrame;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How many return addresses of the latest dump each CPU keeps.
pub const KEPT_FRAMES: usize = 4;

/// The kernel PML4's physical address (no lock: NMIs and exceptions read it).
static KERNEL_TABLE: AtomicU64 = AtomicU64::new(0);

/// Records the kernel's page table, once it is built.
pub fn set_kernel_table(pml4: u64) {
    KERNEL_TABLE.store(pml4, Ordering::Release);
}

/// Runs `report` on the kernel's page table, and puts the interrupted
/// code's table back afterwards.
pub fn on_kernel_table<R>(report: impl FnOnce() -> R) -> R {
    use x86_64::registers::control::Cr3;
    use x86_64::structures::paging::PhysFrame;
    let kernel = KERNEL_TABLE.load(Ordering::Acquire);
    let (current, flags) = Cr3::read();
    if kernel == 0 || current.start_address().as_u64() == kernel {
        return report();
    }
    let switch = |to: u64| {
        // SAFETY: both tables map the kernel half identically (the kernel's
        // own, and the table the interrupted code was running on, which is
        // put back as it was); the report touches only kernel memory.
        unsafe {
            Cr3::write(
                PhysFrame::containing_address(x86_64::PhysAddr::new(to)),
                flags,
            )
        }
    };
    switch(kernel);
    let result = report();
    switch(current.start_address().as_u64());
    result
}

static REQUESTED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Dumps each CPU has printed.
static DUMPS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The latest dump's RIP and return addresses, innermost first (zero past
/// the end of the chain), and its RFLAGS.
static FRAMES: [[AtomicU64; KEPT_FRAMES]; MAX_CPUS] =
    [const { [const { AtomicU64::new(0) }; KEPT_FRAMES] }; MAX_CPUS];
static RFLAGS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// What a CPU's latest dump saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    /// Dumps the CPU has printed in all.
    pub count: u64,
    /// The interrupted RIP, then return addresses along the frame chain.
    pub frames: [u64; KEPT_FRAMES],
    pub rflags: u64,
}

/// Asks CPU `cpu` for a dump.  It prints it from its NMI handler, whatever
/// it is doing; `dump_of(cpu).count` goes up once it has.
pub fn request_dump(cpu: usize) {
    let Some(target) = percpu::get(cpu) else {
        return;
    };
    REQUESTED[cpu].store(true, Ordering::Release);
    super::apic::send(target.apic_id, super::apic::Delivery::Nmi);
}

/// The latest dump CPU `cpu` printed.
pub fn dump_of(cpu: usize) -> Dump {
    let mut frames = [0; KEPT_FRAMES];
    for (slot, kept) in frames.iter_mut().zip(&FRAMES[cpu]) {
        *slot = kept.load(Ordering::Acquire);
    }
    Dump {
        count: DUMPS[cpu].load(Ordering::Acquire),
        frames,
        rflags: RFLAGS[cpu].load(Ordering::Acquire),
    }
}

/// From the NMI handler: prints the dump if one was asked for, and says
/// whether it did (otherwise the NMI is the panic path's, or unexplained).
pub fn take_requested_dump(frame: &TrapFrame) -> bool {
    let cpu = percpu::cpu_index();
    if !REQUESTED[cpu].swap(false, Ordering::AcqRel) {
        return false;
    }
    on_kernel_table(|| dump(cpu, frame));
    true
}

fn dump(cpu: usize, frame: &TrapFrame) {
    let _serialize = crate::panic::enter_report();
    let in_kernel = frame.cs & 3 == 0;
    let interrupts = if frame.rflags & (1 << 9) != 0 {
        "on"
    } else {
        "off"
    };
    let mode = if in_kernel { "kernel" } else { "user" };
    out(format_args!(
        "watchdog: cpu{cpu} was interrupted in {mode} mode, interrupts {interrupts}:\n"
    ));
    super::exception::dump_registers(frame);
    let mut kept = [0; KEPT_FRAMES];
    if in_kernel {
        let mut index = 0;
        super::backtrace::walk(frame.rip, frame.gprs.rbp, |address| {
            if let Some(slot) = kept.get_mut(index) {
                *slot = address;
            }
            index += 1;
        });
        super::backtrace::print(frame.rip, frame.gprs.rbp);
    } else {
        kept[0] = frame.rip;
    }
    for (slot, address) in FRAMES[cpu].iter().zip(kept) {
        slot.store(address, Ordering::Release);
    }
    RFLAGS[cpu].store(frame.rflags, Ordering::Release);
    DUMPS[cpu].fetch_add(1, Ordering::AcqRel);
}
