//! `threads [N] [exit]`: starts N threads (10,000 by default) that all block on
//! one futex, reports what each blocked thread costs the kernel (MEM_STATS
//! before and after), wakes them all, joins them, and shows the kernel's
//! memory back at its baseline: the kernel heap, and the user memory of
//! the threads' stacks (freed as each thread ends, after a TLB shootdown).
//! It fails (exit status 9) if the process keeps more user memory mapped
//! than before the threads, or (exit status 8) if more than
//! [`RESIDUE_LIMIT`] bytes of kernel heap stay behind: a few kilobytes of
//! tables keep their room, but nothing may grow with the thread count.
//!
//! `threads N exit` instead exits the process while the N threads are
//! still blocked: the kernel must end them all (and a test checks that
//! everything comes back).
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use rt::Mutex;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

const MAX_THREADS: usize = 16_384;
/// Kernel heap bytes the run may leave behind (capacity kept by small
/// tables); anything per thread exceeds it from about 2,000 threads on.
const RESIDUE_LIMIT: i64 = 8 * 1024;
/// The main thread's index.
const MAIN: u16 = 0;

static GATE: AtomicU32 = AtomicU32::new(0);
static HANDLES: Mutex<[i32; MAX_THREADS]> = Mutex::new([0; MAX_THREADS]);

fn ring() -> &'static Mutex<Ring> {
    rt::ring::shared().unwrap_or_else(|_| rt::exit(100))
}

extern "C" fn worker(_argument: u64, index: u64) -> ! {
    while GATE.load(Ordering::Acquire) == 0 {
        let _ = rt::futex::wait(ring(), &GATE, 0, index as u16);
    }
    rt::thread::exit()
}

fn say(args: core::fmt::Arguments<'_>) {
    let _ = Writer(&mut ring().lock()).write_fmt(args);
}

fn main() -> i32 {
    let count = rt::args()
        .nth(1)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(10_000)
        .min(MAX_THREADS);
    let shared = ring();
    let stats = || rt::stats::mem(&mut shared.lock());
    let Ok(before) = stats() else {
        return 2;
    };
    // Each thread needs a 16 KiB stack and a share of page tables from
    // user memory: on a small machine, run as many as half the free memory
    // allows, and say so.
    let affordable = (before.free_frames as usize * 4096 / 2) / (20 * 1024);
    let count = if count > affordable {
        say(format_args!(
            "threads: {} MiB free: running {affordable} threads instead of {count}\n",
            before.free_frames / 256
        ));
        affordable
    } else {
        count
    };
    for index in 0..count {
        let handle = rt::thread::spawn(&mut shared.lock(), worker, 0);
        match handle {
            Ok(handle) => HANDLES.lock()[index] = handle,
            Err(errno) => {
                say(format_args!(
                    "threads: thread {index} could not start: {errno}\n"
                ));
                GATE.store(1, Ordering::Release);
                return 3;
            }
        }
    }
    // Wait until every one of them is parked in the kernel.
    let blocked = loop {
        let Ok(now) = stats() else {
            return 4;
        };
        if now.parked_threads as usize >= count {
            break now;
        }
        rt::thread::sleep(shared, 1_000_000, MAIN);
    };
    if rt::args().nth(2) == Some("exit") {
        say(format_args!(
            "threads: {count} threads blocked; the process exits with them\n"
        ));
        rt::exit(0)
    }
    let heap = blocked
        .heap_bytes_allocated
        .saturating_sub(before.heap_bytes_allocated);
    let frames = before.free_frames.saturating_sub(blocked.free_frames);
    say(format_args!(
        "threads: {count} threads blocked on one futex; kernel heap: {} bytes per blocked thread ({} bytes of Thread control block), no kernel stack\n",
        heap / count as u64,
        blocked.thread_struct_bytes
    ));
    // Which slab classes the bytes come from, and what the slabs holding
    // them take in whole frames (headers and partly filled slabs included).
    let classes = ClassDeltas {
        before: &before,
        after: &blocked,
        count: count as u64,
    };
    let slab_frames = blocked
        .heap_frames_in_use()
        .saturating_sub(before.heap_frames_in_use());
    say(format_args!(
        "threads: per blocked thread, objects by slab class (bytes x count):{}; in whole slab frames {} bytes\n",
        classes,
        slab_frames * 4096 / count as u64
    ));
    say(format_args!(
        "threads: user memory for them (16 KiB stacks and their page tables): {} KiB per thread\n",
        frames * 4 / count as u64
    ));
    GATE.store(1, Ordering::Release);
    if rt::futex::wake(shared, &GATE, u32::MAX, MAIN).is_err() {
        return 5;
    }
    for index in 0..count {
        let handle = HANDLES.lock()[index];
        if rt::thread::join_shared(shared, handle, MAIN).is_err() {
            return 6;
        }
    }
    // The kernel unmaps each ended thread's stack (a TLB shootdown to the
    // CPUs still running threads here) and then frees it, in tasks that
    // may still be finishing: give them a moment.
    let mut after = None;
    for _ in 0..2_000 {
        let Ok(now) = stats() else {
            return 7;
        };
        let settled = now.resident_bytes <= before.resident_bytes
            && now.heap_bytes_allocated as i64 - before.heap_bytes_allocated as i64
                <= RESIDUE_LIMIT;
        after = Some(now);
        if settled {
            break;
        }
        rt::thread::sleep(shared, 1_000_000, MAIN);
    }
    let Some(after) = after else {
        return 7;
    };
    say(format_args!(
        "threads: their stacks are unmapped and freed: {} KiB of user memory mapped now, {} KiB before the threads ({} KiB of page tables kept)\n",
        after.resident_bytes / 1024,
        before.resident_bytes / 1024,
        after
            .page_table_bytes
            .saturating_sub(before.page_table_bytes)
            / 1024,
    ));
    if after.resident_bytes > before.resident_bytes {
        say(format_args!("threads: FAIL: thread stacks stayed mapped\n"));
        return 9;
    }
    let residue = after.heap_bytes_allocated as i64 - before.heap_bytes_allocated as i64;
    say(format_args!(
        "threads: all {count} woken and joined; kernel heap {residue} bytes from its baseline; {} thread(s) alive in all processes\n",
        after.live_threads
    ));
    if residue > RESIDUE_LIMIT {
        let classes = ClassDeltas {
            before: &before,
            after: &after,
            count: 1,
        };
        say(format_args!(
            "threads: FAIL: more than {RESIDUE_LIMIT} bytes stayed behind (objects by class:{classes})\n"
        ));
        return 8;
    }
    0
}

/// The slab objects per thread that each class gained: " 256x1.00 ...".
struct ClassDeltas<'a> {
    before: &'a abi::file::MemStats,
    after: &'a abi::file::MemStats,
    count: u64,
}

impl core::fmt::Display for ClassDeltas<'_> {
    fn fmt(&self, out: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (now, then) in self
            .after
            .slab_classes
            .iter()
            .zip(&self.before.slab_classes)
        {
            let hundredths = now.objects.saturating_sub(then.objects) * 100 / self.count;
            if hundredths >= 10 {
                write!(
                    out,
                    " {}x{}.{:02}",
                    now.object_bytes,
                    hundredths / 100,
                    hundredths % 100
                )?;
            }
        }
        Ok(())
    }
}
