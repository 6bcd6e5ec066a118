//! What the kernel holds (MEM_STATS), before the stress and after it: the
//! frames in use (a spare slab counted free, the parent's own pages not
//! counted), the slab objects of every class, live tasks and threads.

use abi::file::{MAX_SLAB_CLASSES, MemStats};
use core::sync::atomic::{AtomicU64, Ordering};
use rt::mm::PAGE;
use rt::ring::Ring;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub frames: u64,
    pub slab_objects: u64,
    pub tasks: u64,
    pub threads: u64,
    /// Objects per slab class, and the classes' object sizes.
    pub class_objects: [u64; MAX_SLAB_CLASSES],
    pub class_bytes: [u64; MAX_SLAB_CLASSES],
}

impl Usage {
    fn of(stats: &MemStats) -> Self {
        let spare: u64 = stats
            .slab_classes
            .iter()
            .map(|class| class.spare_frames)
            .sum();
        let own = (stats.resident_bytes + stats.page_table_bytes) / PAGE;
        Usage {
            frames: stats.managed_frames - stats.free_frames - spare - own,
            slab_objects: stats.slab_classes.iter().map(|class| class.objects).sum(),
            tasks: stats.live_tasks,
            threads: stats.live_threads,
            class_objects: stats.slab_classes.map(|class| class.objects),
            class_bytes: stats.slab_classes.map(|class| class.object_bytes),
        }
    }

    /// The figures that grew past `before`, with their names.
    pub fn growth(&self, before: &Usage) -> [(&'static str, i64); 4] {
        let grown = |after: u64, before: u64| after as i64 - before as i64;
        [
            ("frames", grown(self.frames, before.frames)),
            (
                "slab objects",
                grown(self.slab_objects, before.slab_objects),
            ),
            ("tasks", grown(self.tasks, before.tasks)),
            ("threads", grown(self.threads, before.threads)),
        ]
    }
}

/// TSC ticks in 10 ms, measured by [`calibrate`].
static TICKS_PER_10MS: AtomicU64 = AtomicU64::new(0);

fn spin(ticks: u64) {
    let until = rt::measure::ticks() + ticks;
    while rt::measure::ticks() < until {
        core::hint::spin_loop();
    }
}

/// What the kernel holds now.  After a sleep, this thread was made
/// runnable by its park task, which may still be finishing on another CPU
/// when the thread runs again, and would count as a live task (a 512-byte
/// slab object): a short spin in user mode first lets it go.  (Counted,
/// it looked like a task leaked by forks.)
fn now(ring: &mut Ring) -> Usage {
    spin(TICKS_PER_10MS.load(Ordering::Relaxed) / 5);
    Usage::of(&rt::stats::mem(ring).unwrap_or_default())
}

/// The usage once the kernel has finished tearing down what the workers
/// left (ops cancelled at exit end a little later, on other CPUs): polled
/// every 10 ms until it matches `target`, or, with no target, holds still
/// for five polls; at most three seconds.
pub fn settled(ring: &mut Ring, target: Option<&Usage>) -> Usage {
    let mut last = now(ring);
    let mut still = 0;
    for _ in 0..300 {
        sleep(ring, 10_000_000);
        let usage = now(ring);
        if Some(&usage) == target {
            return usage;
        }
        still = if usage == last { still + 1 } else { 0 };
        if still >= 5 && target.is_none() {
            break;
        }
        last = usage;
    }
    last
}

const SLEEP: u64 = 0x51ee9;

pub fn sleep(ring: &mut Ring, ns: u64) {
    let spec = abi::Timespec::from_ns(ns);
    let sqe = abi::Sqe {
        user_data: SLEEP,
        ..rt::prep::timeout(&spec)
    };
    if ring.push(&sqe).and_then(|()| ring.submit()).is_ok() {
        let _ = ring.wait_for(SLEEP);
    }
}

/// Measures how many TSC ticks 10 ms is, for [`now`]'s spin.  (The
/// parent once also spun through a few time slices here, so that the FPU
/// area a preempted thread kept was in the baseline; a syscall frees that
/// area now, so MEM_STATS never counts the caller's.)
pub fn calibrate(ring: &mut Ring) {
    let start = rt::measure::ticks();
    sleep(ring, 10_000_000);
    let ticks_per_10ms = rt::measure::ticks() - start;
    TICKS_PER_10MS.store(ticks_per_10ms, Ordering::Relaxed);
}
