//! Shared chunks: each thread owns one chunk of pages that the other
//! threads of the process read (so their CPUs hold its translations), and
//! changes it under them: MPROTECT to read-only and back, or retires it
//! (MUNMAP, or a MAP_FIXED mapping over it) and makes a new one.  Each of
//! those is a TLB shootdown to the CPUs running the process's threads.
//!
//! A chunk's state word says who may touch it:
//!
//! ```text
//!   bits 32..: generation (the pattern it holds)
//!   bit 31:    published (readers may come)
//!   bits 0..16: readers inside it now
//!
//!   owner:  map, fill  --publish-->  published  --retire (no readers)-->
//!   reader:             join (CAS +1), check every page, leave (-1)
//! ```
//!
//! A reader joins only a published chunk, and the owner retires it only
//! when no reader is inside: so every check must find the generation's
//! pattern, and anything else is corruption or a stale translation.

use crate::counts::{Kind, mix};
use crate::private::{check, fill};
use crate::worker::{COUNTS, MAX_THREADS, Worker};
use abi::MapFlags;
use core::sync::atomic::{AtomicU64, Ordering};
use rt::mm::{PAGE, PRIVATE, R, RW};

const PAGES: u64 = 4;
const LEN: u32 = (PAGES * PAGE) as u32;
const PUBLISHED: u64 = 1 << 31;
const READERS: u64 = 0xffff;

static STATE: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(0) }; MAX_THREADS];
static ADDRESS: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(0) }; MAX_THREADS];

/// The owner's side: the chunk's address (0: none) and generation.
#[derive(Default)]
pub struct Owned {
    addr: u64,
    generation: u64,
}

fn tag(worker: &Worker, slot: usize, generation: u64) -> u64 {
    mix(worker.plan.seed ^ 0xc4 << 56 ^ worker.plan.id << 40 ^ (slot as u64) << 32 ^ generation)
}

/// MMAP (at `fixed`, over what is there, or anywhere), fill, publish.
fn make(worker: &mut Worker, fixed: Option<u64>) {
    let mut addr = 0;
    let (hint, flags) = match fixed {
        Some(at) => (at, PRIVATE | MapFlags::FIXED.bits()),
        None => (0, PRIVATE),
    };
    let result = worker.call(rt::prep::mmap_anonymous(hint, LEN, RW, flags, &mut addr));
    if worker.expect_ok("MMAP of a chunk", result).is_none() {
        worker.chunk.addr = 0;
        return;
    }
    if fixed.is_some_and(|at| at != addr) {
        worker.fail(format_args!("MAP_FIXED at {hint:#x} mapped {addr:#x}"));
    }
    worker.chunk.generation += 1;
    let tag = tag(worker, worker.slot, worker.chunk.generation);
    (0..PAGES).for_each(|page| fill(addr, page, tag));
    COUNTS.add(Kind::Faults, PAGES);
    worker.chunk.addr = addr;
    ADDRESS[worker.slot].store(addr, Ordering::Release);
    STATE[worker.slot].store(worker.chunk.generation << 32 | PUBLISHED, Ordering::Release);
}

/// Takes the chunk from the readers: true once it is unpublished and
/// nobody is inside.
fn retire(worker: &Worker) -> bool {
    let published = worker.chunk.generation << 32 | PUBLISHED;
    STATE[worker.slot]
        .compare_exchange(
            published,
            worker.chunk.generation << 32,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
}

fn check_own(worker: &Worker, what: &str) {
    let tag = tag(worker, worker.slot, worker.chunk.generation);
    for page in 0..PAGES {
        if let Some((index, found)) = check(worker.chunk.addr, page, tag) {
            worker.fail(format_args!(
                "own chunk {what}: page {page} word {index} holds {found:#x}"
            ));
        }
    }
}

/// The owner's turn: make a chunk, or change the one it has.
pub fn own(worker: &mut Worker) {
    if worker.chunk.addr == 0 {
        return make(worker, None);
    }
    let addr = worker.chunk.addr;
    match worker.random.below(4) {
        0 | 1 => {
            // Readers may be inside: they only read.
            let result = worker.call(rt::prep::mprotect(addr, LEN, R));
            if worker
                .expect_ok("MPROTECT of a chunk to read-only", result)
                .is_none()
            {
                return;
            }
            check_own(worker, "read-only");
            let result = worker.call(rt::prep::mprotect(addr, LEN, RW));
            if worker
                .expect_ok("MPROTECT of a chunk back", result)
                .is_some()
            {
                COUNTS.add(Kind::Mprotects, 2);
            }
        }
        2 if retire(worker) => {
            check_own(worker, "retired");
            make(worker, Some(addr));
            COUNTS.add(Kind::Unmaps, 1);
        }
        _ if retire(worker) => unmap(worker),
        _ => {}
    }
}

fn unmap(worker: &mut Worker) {
    let result = worker.call(rt::prep::munmap(worker.chunk.addr, LEN));
    if worker.expect_ok("MUNMAP of a chunk", result).is_some() {
        COUNTS.add(Kind::Unmaps, 1);
    }
    worker.chunk.addr = 0;
}

/// At the end: waits for the readers to leave, then unmaps.
pub fn retire_for_good(worker: &mut Worker) {
    if worker.chunk.addr == 0 {
        return;
    }
    while !retire(worker) {
        rt::sync::yield_now();
    }
    unmap(worker);
}

/// Joins another thread's published chunk, checks every page, leaves.
pub fn read_another(worker: &mut Worker) {
    if worker.plan.threads < 2 {
        return;
    }
    let others = worker.plan.threads as u64 - 1;
    let slot = (worker.slot + 1 + worker.random.below(others) as usize) % worker.plan.threads;
    let state = &STATE[slot];
    let mut seen = state.load(Ordering::Acquire);
    loop {
        if seen & PUBLISHED == 0 || seen & READERS == READERS {
            return;
        }
        match state.compare_exchange(seen, seen + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => seen = now,
        }
    }
    let generation = seen >> 32;
    let addr = ADDRESS[slot].load(Ordering::Acquire);
    let tag = tag(worker, slot, generation);
    let bad = (0..PAGES).find_map(|page| check(addr, page, tag).map(|bad| (page, bad)));
    state.fetch_sub(1, Ordering::AcqRel);
    COUNTS.add(Kind::ChunkReads, 1);
    if let Some((page, (index, found))) = bad {
        worker.fail(format_args!(
            "thread {slot}'s chunk at {addr:#x} (generation {generation}): page {page} word {index} holds {found:#x}"
        ));
    }
}
