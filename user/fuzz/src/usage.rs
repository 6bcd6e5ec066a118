//! What the kernel holds, before and after a run (MEM_STATS): the leak
//! check.  Frames are compared exactly, counting the parent's own pages
//! (its stack or page tables may grow while it waits) and the pages the
//! kernel heap holds (its slabs keep pages for reuse) as in use; the
//! heap's live slab objects, its bytes, tasks and threads are compared
//! too.

use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Free frames plus the parent's own pages: constant unless the
    /// kernel keeps frames it should have freed.
    pub free_frames: u64,
    pub heap_bytes: u64,
    pub live_tasks: u64,
    pub live_threads: u64,
    /// Objects live in the kernel's slab caches.
    pub slab_objects: u64,
}

pub fn now(ring: &mut Ring) -> Option<Usage> {
    let stats = rt::stats::mem(ring).ok()?;
    Some(Usage {
        free_frames: stats.available_frames(),
        heap_bytes: stats.heap_bytes_requested,
        live_tasks: stats.live_tasks,
        live_threads: stats.live_threads,
        slab_objects: stats.slab_objects(),
    })
}

/// The usage once the kernel has finished tearing down what workers left
/// (ops cancelled at exit end on other CPUs, a little later): polled until
/// it matches `target`, or holds still for a few polls, for at most about
/// two seconds.
pub fn settled(ring: &mut Ring, target: Option<&Usage>) -> Usage {
    let mut last = now(ring);
    let mut still = 0;
    for _ in 0..200 {
        pause(20_000_000);
        let usage = now(ring);
        if usage.is_some() && usage.as_ref() == target {
            return usage.unwrap_or(EMPTY);
        }
        still = if usage == last { still + 1 } else { 0 };
        if still >= 5 && target.is_none() {
            break;
        }
        last = usage;
    }
    last.unwrap_or(EMPTY)
}

const EMPTY: Usage = Usage {
    free_frames: 0,
    heap_bytes: 0,
    live_tasks: 0,
    live_threads: 0,
    slab_objects: 0,
};

/// Waits by spinning on the time-stamp counter, not on a TIMEOUT: a
/// TIMEOUT's own task posts its CQE a moment before it is freed, so
/// MEM_STATS right after could count it.  (That was the "stray task"
/// earlier runs found at 4 CPUs: never more than this one.)  About 8 ms
/// of TCG time; `ticks` instructions under `-icount`.
fn pause(ticks: u64) {
    let start = rt::measure::ticks();
    while rt::measure::ticks().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Kernel heap bytes that may stay past the run: the capacity of the
/// kernel's long-lived queues and tables moves with the peak.
pub const HEAP_SLACK_BYTES: u64 = 8 * 1024;

/// Prints each figure that got worse by more than its slack (fewer free
/// frames; more heap bytes, tasks, threads or slab objects); returns how
/// many did.
pub fn compare(ring: &mut Ring, before: &Usage, after: &Usage) -> u32 {
    let lost = [
        (
            "free frames",
            before.free_frames.saturating_sub(after.free_frames),
            0,
        ),
        (
            "kernel heap bytes",
            after.heap_bytes.saturating_sub(before.heap_bytes),
            HEAP_SLACK_BYTES,
        ),
        (
            "live tasks",
            after.live_tasks.saturating_sub(before.live_tasks),
            0,
        ),
        (
            "live threads",
            after.live_threads.saturating_sub(before.live_threads),
            0,
        ),
        (
            "slab objects",
            after.slab_objects.saturating_sub(before.slab_objects),
            0,
        ),
    ];
    let mut leaks = 0;
    for (name, lost, slack) in lost {
        if lost > slack {
            let _ = writeln!(
                Writer(ring),
                "fuzz: LEAK {name}: {lost} more held after the run (slack {slack})"
            );
            leaks += 1;
        }
    }
    leaks
}
