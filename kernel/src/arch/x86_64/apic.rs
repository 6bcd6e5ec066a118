//! The local APIC: x2APIC (MSRs) when CPUID offers it, xAPIC (MMIO)
//! otherwise.  IPIs, EOI, and the one-shot timer.
//!
//! Vectors:
//!
//! | vector | use                                             |
//! |--------|-------------------------------------------------|
//! | 0x20   | LAPIC timer                                     |
//! | 0xf0   | wake: a halted CPU has work (the executor's pender) |
//! | 0xf1   | call: run the functions queued by `smp::call_on` |
//! | 0xf2   | test: the all-to-all IPI test                   |
//! | 0xf3   | bench: the IPI round-trip benchmark             |
//! | 0xf4   | sched test: IPI handlers signal a countdown     |
//! | 0xff   | spurious                                        |

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

pub const TIMER_VECTOR: u8 = 0x20;
pub const WAKE_VECTOR: u8 = 0xf0;
pub const CALL_VECTOR: u8 = 0xf1;
pub const TEST_VECTOR: u8 = 0xf2;
pub const BENCH_VECTOR: u8 = 0xf3;
pub const SCHED_TEST_VECTOR: u8 = 0xf4;
pub const SPURIOUS_VECTOR: u8 = 0xff;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

// Register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16).
const ID: u32 = 0x20;
const TPR: u32 = 0x80;
const EOI: u32 = 0xb0;
const SVR: u32 = 0xf0;
const ESR: u32 = 0x280;
const ICR_LOW: u32 = 0x300;
const ICR_HIGH: u32 = 0x310;
const LVT_TIMER: u32 = 0x320;
const LVT_LINT0: u32 = 0x350;
const LVT_ERROR: u32 = 0x370;
const TIMER_INITIAL: u32 = 0x380;
const TIMER_CURRENT: u32 = 0x390;
const TIMER_DIVIDE: u32 = 0x3e0;

const LVT_MASKED: u32 = 1 << 16;
const LVT_TSC_DEADLINE_MODE: u32 = 0b10 << 17;
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const ICR_PENDING: u32 = 1 << 12;
const DIVIDE_BY_16: u32 = 0b0011;

/// Zero: x2APIC; otherwise the virtual address of the xAPIC registers.
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);
/// Whether `timer_at_ns` uses TSC-deadline mode (chosen on the BSP).
static TSC_DEADLINE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// LAPIC timer ticks (at divide-by-16) per millisecond, from calibration.
static TIMER_TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn read(offset: u32) -> u32 {
    match XAPIC_BASE.load(Ordering::Relaxed) {
        // SAFETY: x2APIC mode is on, so this MSR is the register.
        0 => unsafe { Msr::new(0x800 + offset / 16).read() as u32 },
        // SAFETY: the base maps the xAPIC page uncached; offsets are
        // register offsets inside it.
        base => unsafe { ((base + u64::from(offset)) as *const u32).read_volatile() },
    }
}

fn write(offset: u32, value: u32) {
    match XAPIC_BASE.load(Ordering::Relaxed) {
        // SAFETY: as in `read`.
        0 => unsafe { Msr::new(0x800 + offset / 16).write(u64::from(value)) },
        // SAFETY: as in `read`.
        base => unsafe { ((base + u64::from(offset)) as *mut u32).write_volatile(value) },
    }
}

/// Chooses the mode on the BSP and enables this CPU's APIC.
pub fn init_bsp() -> &'static str {
    if super::cpu::features().x2apic {
        XAPIC_BASE.store(0, Ordering::Relaxed);
    } else {
        // SAFETY: reading IA32_APIC_BASE has no side effects.
        let base = unsafe { Msr::new(IA32_APIC_BASE).read() } & 0x000f_ffff_ffff_f000;
        let virt = crate::mm::paging::map_mmio(base, 4096);
        XAPIC_BASE.store(virt.as_u64(), Ordering::Relaxed);
    }
    TSC_DEADLINE.store(super::cpu::features().tsc_deadline, Ordering::Relaxed);
    init_cpu();
    match (
        XAPIC_BASE.load(Ordering::Relaxed),
        super::cpu::features().tsc_deadline,
    ) {
        (0, true) => "x2APIC, TSC-deadline timer",
        (0, false) => "x2APIC, one-shot timer",
        (_, true) => "xAPIC, TSC-deadline timer",
        (_, false) => "xAPIC, one-shot timer",
    }
}

/// Enables the APIC on the calling CPU, in the mode the BSP chose.
pub fn init_cpu() {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: enabling the APIC (and x2APIC mode when chosen, which CPUID
    // offers) is the documented sequence: EN first, then EXTD.
    unsafe {
        let value = msr.read() | APIC_BASE_ENABLE;
        msr.write(value);
        if XAPIC_BASE.load(Ordering::Relaxed) == 0 {
            msr.write(value | APIC_BASE_X2APIC);
        }
    }
    write(TPR, 0);
    write(LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_ERROR, LVT_MASKED);
    write(ESR, 0);
    write(SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    eoi();
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    match XAPIC_BASE.load(Ordering::Relaxed) {
        0 => read(ID),
        _ => read(ID) >> 24,
    }
}

/// Signals the end of the interrupt being handled.
pub fn eoi() {
    write(EOI, 0);
}

/// Delivery modes for [`send`].
#[derive(Clone, Copy)]
pub enum Delivery {
    Fixed(u8),
    Nmi,
    Init,
    Startup(u8),
}

/// Sends a fixed IPI with `vector` to the CPU with index `cpu` (nothing if
/// there is no such CPU).
pub fn send_to_cpu(cpu: usize, vector: u8) {
    if let Some(target) = super::percpu::get(cpu) {
        send(target.apic_id, Delivery::Fixed(vector));
    }
}

/// Sends an IPI to the CPU with APIC id `apic_id`.
pub fn send(apic_id: u32, delivery: Delivery) {
    let low = match delivery {
        Delivery::Fixed(vector) => u32::from(vector),
        Delivery::Nmi => 0b100 << 8,
        Delivery::Init => (0b101 << 8) | (1 << 14),
        Delivery::Startup(page) => (0b110 << 8) | u32::from(page),
    };
    let _irq = super::InterruptGuard::new();
    match XAPIC_BASE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: in x2APIC mode the ICR is one 64-bit MSR, destination
            // in the high half; writing it sends the IPI.
            unsafe { Msr::new(0x830).write((u64::from(apic_id) << 32) | u64::from(low)) };
        }
        _ => {
            write(ICR_HIGH, apic_id << 24);
            write(ICR_LOW, low);
            while read(ICR_LOW) & ICR_PENDING != 0 {
                core::hint::spin_loop();
            }
        }
    }
}

/// Sends an NMI to every other online CPU (the panic path).
pub fn nmi_others() {
    let me = super::percpu::cpu_index();
    for index in 0..super::percpu::MAX_CPUS {
        if index != me
            && let Some(cpu) = super::percpu::get(index)
        {
            send(cpu.apic_id, Delivery::Nmi);
        }
    }
}

/// Starts the timer counting down (divide-by-16) from its maximum, for
/// calibration.
pub fn timer_start_free_running() {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(TIMER_INITIAL, u32::MAX);
}

/// Ticks elapsed since [`timer_start_free_running`].
pub fn timer_elapsed() -> u32 {
    u32::MAX - read(TIMER_CURRENT)
}

pub fn set_timer_ticks_per_ms(ticks: u64) {
    TIMER_TICKS_PER_MS.store(ticks, Ordering::Relaxed);
}

pub fn timer_ticks_per_ms() -> u64 {
    TIMER_TICKS_PER_MS.load(Ordering::Relaxed)
}

/// Arms a one-shot interrupt on [`TIMER_VECTOR`] after `us` microseconds.
pub fn timer_oneshot_us(us: u64) {
    let ticks = (us * timer_ticks_per_ms())
        .div_ceil(1000)
        .clamp(1, u64::from(u32::MAX));
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, u32::from(TIMER_VECTOR));
    write(TIMER_INITIAL, ticks as u32);
}

/// Arms the timer interrupt for the moment the clock reads `deadline_ns`
/// (`time::now_ns`).  In TSC-deadline mode (where CPUID offers it) the
/// hardware compares the TSC itself, with no rounding; otherwise a one-shot
/// countdown, rounded up to whole microseconds.
pub fn timer_at_ns(deadline_ns: u64) {
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        write(LVT_TIMER, LVT_TSC_DEADLINE_MODE | u32::from(TIMER_VECTOR));
        // Serialize the LVT write before the MSR write (SDM 10.5.4.1: in
        // x2APIC mode the LVT write is an MSR write that may be reordered).
        core::sync::atomic::fence(Ordering::SeqCst);
        // SAFETY: IA32_TSC_DEADLINE exists (CPUID.01H:ECX[24]); writing a
        // TSC value arms the timer, zero disarms it.
        unsafe { Msr::new(IA32_TSC_DEADLINE).write(crate::time::ns_to_tsc(deadline_ns).max(1)) };
    } else {
        let now = crate::time::now_ns();
        timer_oneshot_us(deadline_ns.saturating_sub(now).div_ceil(1000));
    }
}

/// Cancels the timer.
pub fn timer_stop() {
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        // SAFETY: as in `timer_at_ns`; zero disarms.
        unsafe { Msr::new(IA32_TSC_DEADLINE).write(0) };
    }
    write(LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(TIMER_INITIAL, 0);
}

/// TSC at the latest timer interrupt, per CPU (zero: none yet).
static TIMER_FIRED_TSC: [AtomicU64; super::percpu::MAX_CPUS] =
    [const { AtomicU64::new(0) }; super::percpu::MAX_CPUS];

/// The timer handler records the time (the executor turns it into timer
/// wake-ups) and lets the watchdog look at the other CPUs when due.
fn on_timer(_frame: &mut super::trap::TrapFrame) {
    TIMER_FIRED_TSC[super::percpu::cpu_index()].store(crate::time::tsc(), Ordering::Release);
    crate::sched::watchdog::on_timer();
}

/// Installs the handlers this module owns.
pub fn register_handlers() {
    super::trap::register(TIMER_VECTOR, on_timer);
}

crate::ktest!(
    fn timer_oneshot_fires_and_not_early() {
        let me = super::percpu::cpu_index();
        for requested_us in [50u64, 2_000, 10_000] {
            TIMER_FIRED_TSC[me].store(0, Ordering::Release);
            let start = crate::time::tsc();
            timer_oneshot_us(requested_us);
            let give_up = start + crate::time::tsc_hz(); // one second
            while TIMER_FIRED_TSC[me].load(Ordering::Acquire) == 0 && crate::time::tsc() < give_up {
                super::wait_for_interrupt();
            }
            let fired = TIMER_FIRED_TSC[me].load(Ordering::Acquire);
            crate::ensure!(
                fired != 0,
                "no timer interrupt within a second of a {requested_us} us request"
            );
            let elapsed_ns = crate::time::ticks_to_ns(fired - start);
            // Calibration rounds down by under 0.1%; anything earlier is a bug.
            crate::ensure!(
                elapsed_ns * 1000 >= requested_us * 1000 * 999,
                "fired after {elapsed_ns} ns for a {requested_us} us request"
            );
        }
        Ok(())
    }
);
