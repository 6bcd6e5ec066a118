//! The panic report, and stopping the machine after a fatal error.
//!
//! A report is printed without the console lock (the failing CPU may hold
//! it), but reports from different CPUs are serialized.  After the report
//! the other CPUs get an NMI and halt, and QEMU exits with the panic status.

use crate::arch::{self, backtrace, qemu};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);
/// The CPU printing a report, plus one (zero: nobody).
static REPORTER: AtomicUsize = AtomicUsize::new(0);

/// Whether some CPU is going down.
pub fn is_panicking() -> bool {
    PANICKING.load(Ordering::Acquire)
}

/// Held while a report prints.
pub struct ReportGuard {
    owned: bool,
}

impl Drop for ReportGuard {
    fn drop(&mut self) {
        if self.owned {
            REPORTER.store(0, Ordering::Release);
        }
    }
}

/// Waits for any other CPU's report to finish (a nested report on the same
/// CPU goes straight through).
pub fn enter_report() -> ReportGuard {
    let me = arch::percpu::cpu_index() + 1;
    loop {
        match REPORTER.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return ReportGuard { owned: true },
            Err(owner) if owner == me => return ReportGuard { owned: false },
            Err(_) => core::hint::spin_loop(),
        }
    }
}

/// Stops the other CPUs and ends the machine.
pub fn die() -> ! {
    if !PANICKING.swap(true, Ordering::AcqRel) && arch::percpu::online_count() > 1 {
        arch::apic::nmi_others();
    }
    qemu::exit(qemu::ExitCode::Panic)
}

/// The `#[panic_handler]` body.
pub fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    let guard = enter_report();
    arch::serial::write_fmt_unlocked(format_args!(
        "\nPANIC on cpu{}: {}\n",
        arch::percpu::cpu_index(),
        info.message()
    ));
    if let Some(location) = info.location() {
        arch::serial::write_fmt_unlocked(format_args!("  at {location}\n"));
    }
    if guard.owned {
        backtrace::print_here();
    }
    die()
}
