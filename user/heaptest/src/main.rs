//! `heaptest`: checks `rt::heap`, the global allocator.
//!
//! - Eight threads allocate, fill, check and free blocks of many sizes at
//!   once: a block that changes under its owner means the lock failed.
//! - Afterwards most of the arena is one free block again (frees coalesce).
//! - An allocation past the arena is an `Err` for `try_reserve`.
//! - With the argument `oom`, an infallible one ends the process with
//!   status 101 (`handle_alloc_error` panics) instead of handing out memory
//!   that is not there; the main run checks that in a child.
//!
//! Exits with the number of checks that failed.
#![no_std]
#![no_main]

extern crate alloc;
extern crate freestanding;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use rt::heap::ARENA_BYTES;
use rt::io::Writer;
use rt::process::WaitStatus;
use rt::ring::Ring;

rt::entry!(main);

const THREADS: usize = 8;
const ROUNDS: u64 = 300;
/// Blocks each thread holds at once.
const KEPT: usize = 8;
/// Largest block: THREADS * KEPT of them stay well inside the arena.
const MAX_BLOCK: u64 = 1024;

/// Blocks found changed under their owner.
static CORRUPT: AtomicU32 = AtomicU32::new(0);

fn xorshift(mut state: u64) -> u64 {
    state ^= state << 13;
    state ^= state >> 7;
    state ^ state << 17
}

/// Whether `block` still holds only `byte`.
fn intact((byte, block): &(u8, Vec<u8>)) -> bool {
    block.iter().all(|b| b == byte)
}

extern "C" fn churn(seed: u64, _index: u64) -> ! {
    let mut kept: Vec<(u8, Vec<u8>)> = Vec::with_capacity(KEPT + 1);
    let mut state = seed;
    for round in 0..ROUNDS {
        state = xorshift(state);
        let byte = (seed ^ round) as u8;
        kept.push((byte, vec![byte; (state % MAX_BLOCK) as usize + 1]));
        if kept.len() > KEPT {
            let oldest = kept.remove(0);
            if !intact(&oldest) {
                CORRUPT.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let bad = kept.iter().filter(|block| !intact(block)).count();
    CORRUPT.fetch_add(bad as u32, Ordering::Relaxed);
    rt::thread::exit()
}

fn main() -> i32 {
    if rt::args().nth(1) == Some("oom") {
        // Must not return: the allocation fails and the process exits 101.
        let block = vec![1u8; ARENA_BYTES + 1];
        return i32::from(core::hint::black_box(block)[ARENA_BYTES]);
    }
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let mut failures = 0;
    let mut check = |ring: &mut Ring, ok: bool, what: &str| {
        if !ok {
            failures += 1;
            let _ = writeln!(Writer(ring), "heaptest: FAILED: {what}");
        }
    };

    let mut handles = Vec::new();
    for seed in 1..=THREADS as u64 {
        match rt::thread::spawn(&mut ring, churn, seed * 0x9e37_79b9) {
            Ok(handle) => handles.push(handle),
            Err(_) => return 101,
        }
    }
    for handle in handles {
        if rt::thread::join(&mut ring, handle).is_err() {
            return 102;
        }
    }
    let corrupt = CORRUPT.load(Ordering::Relaxed);
    check(&mut ring, corrupt == 0, "no block changed under its owner");

    let mut most = Vec::<u8>::new();
    check(
        &mut ring,
        most.try_reserve_exact(ARENA_BYTES * 3 / 4).is_ok(),
        "3/4 of the arena is one free block after the threads freed theirs",
    );
    drop(most);
    check(
        &mut ring,
        Vec::<u8>::new().try_reserve_exact(ARENA_BYTES + 1).is_err(),
        "try_reserve past the arena is an Err",
    );
    let oom = rt::process::spawn(&mut ring, "bin/heaptest", b"heaptest\0oom\0")
        .and_then(|child| rt::process::wait(&mut ring, child));
    check(
        &mut ring,
        oom == Ok(WaitStatus::Exited(101)),
        "an infallible allocation past the arena exits 101",
    );
    let _ = writeln!(
        Writer(&mut ring),
        "heaptest: {THREADS} threads x {ROUNDS} blocks, {corrupt} corrupted; a {} KiB arena; out of memory: {oom:?}",
        ARENA_BYTES / 1024
    );
    failures
}
