//! Each thread's private pages: a region it maps, touches a few fresh
//! pages of at a time (each first touch a demand-zero fault), fills with
//! its own pattern and checks, and unmaps once full (a shootdown to every
//! CPU running a thread of the process).  A fork child checks its copy.

use crate::counts::{Kind, mix, word};
use crate::worker::{COUNTS, Worker};
use rt::mm::{PAGE, PRIVATE, RW};

/// Pages in a region.
pub const PAGES: u64 = 32;
const WORDS: u64 = PAGE / 8;
/// Words checked per page: spread over it.
const SAMPLES: u64 = 16;

/// The current region: its address (0: none), generation, and the pages
/// touched so far.
#[derive(Default, Clone, Copy)]
pub struct Private {
    pub addr: u64,
    generation: u64,
    pub touched: u64,
}

/// The pattern of a region's generation.
pub fn tag(worker: &Worker) -> u64 {
    mix(worker.plan.seed ^ 0x9a9e << 48 ^ worker.plan.id << 32 ^ (worker.slot as u64) << 24)
        ^ worker.private.generation
}

/// Fills page `page` of the region at `addr` with `tag`'s words.
pub fn fill(addr: u64, page: u64, tag: u64) {
    let base = (addr + page * PAGE) as *mut u64;
    for index in 0..WORDS {
        // SAFETY: the caller mapped the page read-write in this process,
        // and only its owner writes it.
        unsafe {
            base.add(index as usize)
                .write_volatile(word(tag, page * WORDS + index))
        };
    }
}

/// The first word of page `page` that does not hold `tag`'s pattern
/// (sampled), as (index, found).
pub fn check(addr: u64, page: u64, tag: u64) -> Option<(u64, u64)> {
    let base = (addr + page * PAGE) as *const u64;
    (0..SAMPLES)
        .map(|sample| {
            sample * (WORDS / SAMPLES) + tag.wrapping_add(page + sample) % (WORDS / SAMPLES)
        })
        .find_map(|index| {
            // SAFETY: the caller knows the page mapped and readable.
            let found = unsafe { base.add(index as usize).read_volatile() };
            (found != word(tag, page * WORDS + index)).then_some((index, found))
        })
}

/// Whether every page touched so far holds its pattern (for a fork child,
/// which cannot report through the ring).
pub fn intact(worker: &Worker) -> bool {
    let tag = tag(worker);
    (0..worker.private.touched).all(|page| check(worker.private.addr, page, tag).is_none())
}

fn verify(worker: &Worker, page: u64) {
    if let Some((index, found)) = check(worker.private.addr, page, tag(worker)) {
        worker.fail(format_args!(
            "private page {page} word {index} at {:#x} holds {found:#x}",
            worker.private.addr
        ));
    }
}

/// Touches the next pages, checks one touched before, and starts a new
/// region when this one is full.
pub fn touch(worker: &mut Worker) {
    if worker.private.addr == 0 {
        let mut addr = 0;
        let sqe = rt::prep::mmap_anonymous(0, (PAGES * PAGE) as u32, RW, PRIVATE, &mut addr);
        let result = worker.call(sqe);
        if worker.expect_ok("MMAP of private pages", result).is_none() {
            return;
        }
        worker.private.addr = addr;
        worker.private.touched = 0;
    }
    let tag = tag(worker);
    for _ in 0..2 {
        fill(worker.private.addr, worker.private.touched, tag);
        worker.private.touched += 1;
        COUNTS.add(Kind::Faults, 1);
    }
    let page = worker.random.below(worker.private.touched);
    verify(worker, page);
    if worker.private.touched == PAGES {
        (0..PAGES).for_each(|page| verify(worker, page));
        release(worker);
    }
}

/// Unmaps the region.
pub fn release(worker: &mut Worker) {
    if worker.private.addr == 0 {
        return;
    }
    let result = worker.call(rt::prep::munmap(worker.private.addr, (PAGES * PAGE) as u32));
    if worker
        .expect_ok("MUNMAP of private pages", result)
        .is_some()
    {
        COUNTS.add(Kind::Unmaps, 1);
    }
    worker.private = Private {
        addr: 0,
        generation: worker.private.generation + 1,
        touched: 0,
    };
}
