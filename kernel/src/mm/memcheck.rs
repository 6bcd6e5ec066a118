//! Leak checks around test processes: the frames in use and the slab
//! objects of every class must come back exactly to where they were.
//!
//! ```text
//! memcheck: begin LABEL frames=N slab=A,B,...     before the process starts
//! memcheck: end LABEL frames=N slab=A,B,...       after it is gone
//! ```
//!
//! The kernel only measures and prints; the host harness pairs each `end`
//! with its `begin` and fails the run on any difference (`init` prints the
//! same lines around each demo it runs).  Teardown finishes in tasks that
//! may still run on other CPUs after `WAIT` returns (a thread's stack is
//! unmapped and shot down, a finished op's task is freed), so [`Watch::end`]
//! waits up to [`SETTLE_NS`] for the numbers to come back before printing
//! what it sees.
//!
//! `leak=frame` or `leak=slab` on the command line makes every check leak
//! one frame or one slab object between its two lines: the harness's test
//! of the checker boots with it and must see the report.

use crate::boot::cmdline::LeakKind;
use abi::file::Footprint;
use spin::Once;

/// How long [`Watch::end`] gives teardown to finish.
pub const SETTLE_NS: u64 = 1_000_000_000;

static INJECTED_LEAK: Once<Option<LeakKind>> = Once::new();

/// Makes every check leak one `kind` (from the command line, at boot).
pub fn inject_leak(kind: Option<LeakKind>) {
    INJECTED_LEAK.call_once(|| kind);
}

/// The numbers the checks compare.
pub fn footprint() -> Footprint {
    crate::ops::stats::snapshot().footprint()
}

/// A check in progress: what `label` started from.
pub struct Watch<'a> {
    label: &'a str,
    baseline: Footprint,
}

/// Starts a check; call before the process is spawned.  What an earlier
/// process left to tasks may still be going, so the baseline is the first
/// reading that holds for [`STEADY_READINGS`] readings a millisecond apart
/// (or the last one after [`SETTLE_NS`]).
pub async fn begin(label: &str) -> Watch<'_> {
    let deadline = crate::time::now_ns().saturating_add(SETTLE_NS);
    let mut baseline = footprint();
    let mut steady = 0;
    while steady < STEADY_READINGS && crate::time::now_ns() < deadline {
        executor::sleep(1_000_000).await;
        let now = footprint();
        steady = if now == baseline { steady + 1 } else { 0 };
        baseline = now;
    }
    crate::kprintln!("memcheck: begin {label} {baseline}");
    Watch { label, baseline }
}

/// How many equal readings in a row make a baseline.
const STEADY_READINGS: u32 = 20;

impl Watch<'_> {
    /// Ends the check once everything of the process is dropped: waits
    /// until the numbers are back (or [`SETTLE_NS`] passes), prints them,
    /// and says whether they came back.
    pub async fn end(self) -> bool {
        match INJECTED_LEAK.get().copied().flatten() {
            Some(LeakKind::Frame) => {
                // Taken and never freed: the frame is lost to the allocator.
                let _ = crate::mm::frame::global::alloc(0);
            }
            Some(LeakKind::Slab) => {
                core::mem::forget(alloc::boxed::Box::new([0u64; 4]));
            }
            None => {}
        }
        let deadline = crate::time::now_ns().saturating_add(SETTLE_NS);
        let mut now = footprint();
        while now != self.baseline && crate::time::now_ns() < deadline {
            executor::sleep(1_000_000).await;
            now = footprint();
        }
        crate::kprintln!("memcheck: end {} {now}", self.label);
        now == self.baseline
    }
}
