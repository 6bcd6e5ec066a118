//! The CPU watchdog: reports a CPU that stops making progress.
//!
//! ```text
//!  every CPU, each turn of its loop     beat: BEATS[cpu] += 1, IDLE[cpu] = no
//!  every CPU, before `sti; hlt`         IDLE[cpu] = yes (a halted CPU with
//!                                       nothing to do is not stuck)
//!  a beat or a timer interrupt on any   check, at most once a period: a CPU
//!  CPU, once a check is due             neither idle nor beating for the
//!                                       threshold is reported, and an NMI
//!                                       asks it for its registers and
//!                                       backtrace (`arch::nmi`)
//!  CPU 0, going idle                    wakes for the next check, so a check
//!                                       runs even when every other CPU halts
//! ```
//!
//! Only CPU 0 wakes for checks: a halt with a deadline costs more than one
//! without (the timer armed, two clock conversions), on the cross-CPU
//! round trips every benchmark makes.  So a stuck CPU 0 is found while
//! some other CPU is busy, not when all the others are idle.
//!
//! A CPU's loop turns at least every time slice (10 ms) while it runs user
//! threads, and a poll does bounded work, so a CPU that has not turned for
//! seconds is spinning (a lock, interrupts off, a loop in a future).  The
//! threshold is generous because under TCG on a loaded host a virtual CPU
//! can be descheduled for a while: `watchdog=SECONDS` (default 10) or
//! `watchdog=off` on the command line.  A report is a `WATCHDOG:` line,
//! which the test harness counts as a failure; the CPU is left running,
//! and a line says so if it moves again.

use crate::arch::percpu::{self, MAX_CPUS};
use crate::arch::serial::write_fmt_unlocked as out;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The default threshold, in seconds of guest time.
pub const DEFAULT_THRESHOLD_SECS: u32 = 10;

/// Turns of each CPU's loop.  Written only by the CPU itself.
static BEATS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Whether the CPU is halted (or about to halt) for want of work.
static IDLE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

static ENABLED: AtomicBool = AtomicBool::new(false);
// The watchdog keeps time in TSC ticks: the paths every idle entry takes
// compare raw counter values, with no conversion (a 128-bit division).
static THRESHOLD_TICKS: AtomicU64 = AtomicU64::new(0);
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);
/// When the next check is due, in TSC ticks; claimed by compare-and-swap.
static NEXT_CHECK_TSC: AtomicU64 = AtomicU64::new(u64::MAX);
/// The same moment in `time::now_ns`, the clock halt deadlines use.
static NEXT_CHECK_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Held by the CPU running a check, which alone touches `SEEN_*`.
static CHECKING: AtomicBool = AtomicBool::new(false);
/// The beat count each CPU had at the last check, and since when (TSC).
static SEEN_BEATS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static SEEN_SINCE_TSC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Whether the CPU's current stall has been reported.
static REPORTED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Stalls reported, per CPU, since boot.
static REPORTS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The CPU the watchdog's own test stalls on purpose (`usize::MAX`: none);
/// its report is worded so the harness does not count it as a failure.
static EXPECTED_STALL: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Turns the watchdog on with a threshold of `threshold_secs` (`None`:
/// off).  Called once the executors run.
pub fn start(threshold_secs: Option<u32>) {
    let Some(seconds) = threshold_secs else {
        crate::info!("watchdog: off");
        return;
    };
    configure(u64::from(seconds) * 1_000_000_000);
    crate::info!("watchdog: a CPU that makes no progress for {seconds} s is reported");
}

fn configure(threshold_ns: u64) {
    let now = crate::time::tsc();
    for cpu in 0..percpu::online_count() {
        SEEN_BEATS[cpu].store(BEATS[cpu].load(Ordering::Acquire), Ordering::Relaxed);
        SEEN_SINCE_TSC[cpu].store(now, Ordering::Relaxed);
    }
    let ticks = |ns: u64| crate::time::ns_to_tsc(ns) - crate::time::ns_to_tsc(0);
    THRESHOLD_TICKS.store(ticks(threshold_ns), Ordering::Relaxed);
    PERIOD_TICKS.store(ticks((threshold_ns / 4).max(1_000_000)), Ordering::Relaxed);
    NEXT_CHECK_NS.store(crate::time::now_ns(), Ordering::Relaxed);
    NEXT_CHECK_TSC.store(now, Ordering::Release);
    ENABLED.store(true, Ordering::Release);
}

/// A turn of `cpu`'s loop: it is making progress.
pub fn beat(cpu: usize) {
    // Only this CPU writes its count: a plain add, no locked instruction.
    BEATS[cpu].store(
        BEATS[cpu].load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Release,
    );
    IDLE[cpu].store(false, Ordering::Release);
    // A counter read and a compare, while the watchdog is off too (its due
    // time is then never).
    if crate::time::tsc() >= NEXT_CHECK_TSC.load(Ordering::Relaxed) {
        check_if_due();
    }
}

/// `cpu` is about to halt until `deadline` (`None`: until woken).
/// Returns the deadline to halt until: CPU 0 also wakes for the next
/// check.
pub fn going_idle(cpu: usize, deadline: Option<u64>) -> Option<u64> {
    IDLE[cpu].store(true, Ordering::Release);
    if cpu != 0 || !ENABLED.load(Ordering::Acquire) || percpu::online_count() < 2 {
        return deadline;
    }
    if crate::time::tsc() >= NEXT_CHECK_TSC.load(Ordering::Acquire) {
        check_if_due();
    }
    let next = NEXT_CHECK_NS.load(Ordering::Acquire);
    Some(deadline.map_or(next, |deadline| deadline.min(next)))
}

/// From the timer interrupt: runs a check if one is due.
pub fn on_timer() {
    check_if_due();
}

fn check_if_due() {
    if !ENABLED.load(Ordering::Acquire) {
        return;
    }
    let now = crate::time::tsc();
    let due = NEXT_CHECK_TSC.load(Ordering::Acquire);
    if now < due || CHECKING.swap(true, Ordering::Acquire) {
        return;
    }
    let period = PERIOD_TICKS.load(Ordering::Relaxed);
    // The CPU that moves the due time on runs the check; the halt deadline
    // follows it (a watcher that reads it in between wakes once early).
    if NEXT_CHECK_TSC
        .compare_exchange(due, now + period, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        NEXT_CHECK_NS.store(
            crate::time::now_ns() + crate::time::ticks_to_ns(period),
            Ordering::Release,
        );
        check(now);
    }
    CHECKING.store(false, Ordering::Release);
}

fn check(now: u64) {
    if crate::panic::is_panicking() {
        return;
    }
    let me = percpu::cpu_index();
    let threshold = THRESHOLD_TICKS.load(Ordering::Relaxed);
    for cpu in (0..percpu::online_count()).filter(|&cpu| cpu != me) {
        // The idle flag first: a CPU seen busy had beaten before it cleared
        // the flag (release in `beat`, acquire here).
        let idle = IDLE[cpu].load(Ordering::Acquire);
        let beats = BEATS[cpu].load(Ordering::Acquire);
        if idle || beats != SEEN_BEATS[cpu].load(Ordering::Relaxed) {
            SEEN_BEATS[cpu].store(beats, Ordering::Relaxed);
            SEEN_SINCE_TSC[cpu].store(now, Ordering::Relaxed);
            if REPORTED[cpu].swap(false, Ordering::AcqRel) {
                out(format_args!(
                    "\nwatchdog: cpu{cpu} is making progress again\n"
                ));
            }
            continue;
        }
        let stalled = now.saturating_sub(SEEN_SINCE_TSC[cpu].load(Ordering::Relaxed));
        if stalled >= threshold && !REPORTED[cpu].swap(true, Ordering::AcqRel) {
            report(
                cpu,
                crate::time::ticks_to_ns(stalled),
                crate::time::ticks_to_ns(threshold),
            );
        }
    }
}

fn report(cpu: usize, stalled_ns: u64, threshold_ns: u64) {
    let prefix = if EXPECTED_STALL.load(Ordering::Acquire) == cpu {
        "watchdog (the stall its test makes)"
    } else {
        "WATCHDOG"
    };
    // Unlocked: the stuck CPU may hold the console's lock.
    out(format_args!(
        "\n{prefix}: cpu{cpu} made no progress for {} ms (not idle; threshold {} ms), \
         noticed by cpu{}; asking it where it is (NMI)\n",
        stalled_ns / 1_000_000,
        threshold_ns / 1_000_000,
        percpu::cpu_index()
    ));
    REPORTS[cpu].fetch_add(1, Ordering::AcqRel);
    crate::arch::nmi::request_dump(cpu);
}

#[cfg(not(test))]
mod ktests {
    use super::*;
    use crate::arch::nmi;

    /// The watchdog's settings for the length of a test, restored on drop.
    struct TestSettings {
        enabled: bool,
        threshold_ticks: u64,
    }

    impl TestSettings {
        fn apply(threshold_ns: u64, expected_stall: usize) -> Self {
            let saved = Self {
                enabled: ENABLED.load(Ordering::Acquire),
                threshold_ticks: THRESHOLD_TICKS.load(Ordering::Relaxed),
            };
            EXPECTED_STALL.store(expected_stall, Ordering::Release);
            configure(threshold_ns);
            saved
        }
    }

    impl Drop for TestSettings {
        fn drop(&mut self) {
            configure(crate::time::ticks_to_ns(self.threshold_ticks));
            ENABLED.store(self.enabled, Ordering::Release);
            EXPECTED_STALL.store(usize::MAX, Ordering::Release);
        }
    }

    static SPINNING: AtomicBool = AtomicBool::new(false);

    /// Spins with interrupts off until its CPU has been asked where it
    /// is, or `limit_ns` passes.
    #[inline(never)]
    fn spin_with_interrupts_off(cpu: usize, limit_ns: u64) {
        let dumps = nmi::dump_of(cpu).count;
        let give_up = crate::time::now_ns() + limit_ns;
        SPINNING.store(true, Ordering::Release);
        while nmi::dump_of(cpu).count == dumps && crate::time::now_ns() < give_up {
            core::hint::spin_loop();
        }
        SPINNING.store(false, Ordering::Release);
    }

    crate::ktest!(
        async fn watchdog_reports_a_cpu_spinning_with_interrupts_off_and_not_idle_ones() {
            let cpus = percpu::online_count();
            if cpus < 2 {
                // One CPU cannot watch itself while it spins.
                return Ok(());
            }
            let target = cpus - 1;
            let threshold_ns = 200_000_000;
            let reports_before: alloc::vec::Vec<u64> = (0..cpus)
                .map(|cpu| REPORTS[cpu].load(Ordering::Acquire))
                .collect();
            let dumps_before = nmi::dump_of(target).count;
            let settings = TestSettings::apply(threshold_ns, target);
            // Idle CPUs halt through more than a threshold first: they must
            // not be reported.
            executor::sleep(2 * threshold_ns).await;
            crate::arch::smp::call_on(target, move || {
                spin_with_interrupts_off(target, 10 * threshold_ns)
            })
            .map_err(|e| alloc::format!("call_on: {e}"))?;
            let give_up = crate::time::now_ns() + 20 * threshold_ns;
            while (!SPINNING.load(Ordering::Acquire) || nmi::dump_of(target).count == dumps_before)
                && crate::time::now_ns() < give_up
            {
                executor::sleep(10_000_000).await;
            }
            while SPINNING.load(Ordering::Acquire) && crate::time::now_ns() < give_up {
                executor::sleep(10_000_000).await;
            }
            drop(settings);
            let dump = nmi::dump_of(target);
            crate::ensure_eq!(
                REPORTS[target].load(Ordering::Acquire),
                reports_before[target] + 1
            );
            crate::ensure_eq!(dump.count, dumps_before + 1);
            crate::ensure!(
                dump.rflags & (1 << 9) == 0,
                "the dump says interrupts were on: {:#x}",
                dump.rflags
            );
            let spinner = spin_with_interrupts_off as *const () as u64;
            crate::ensure!(
                dump.frames
                    .iter()
                    .any(|&frame| (spinner..spinner + 512).contains(&frame)),
                "the dump's frames {:x?} are not in the spinning function at {spinner:#x}",
                dump.frames
            );
            for cpu in (0..cpus).filter(|&cpu| cpu != target) {
                crate::ensure_eq!(REPORTS[cpu].load(Ordering::Acquire), reports_before[cpu]);
            }
            Ok(())
        }
    );
}
