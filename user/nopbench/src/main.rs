//! `nopbench`: what a NOP costs through the ring, in TSC ticks (guest
//! instructions under QEMU's `-icount shift=0`): batches of 32 submitted
//! with one `ring_enter`, and single NOPs with one `ring_enter` each.
//! `nopbench ROUNDS` measures ROUNDS rounds of each (200 by default).
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

const BATCH: u32 = 32;
/// Rounds measured, unless the first argument says otherwise (a long run
/// is what a sampling profiler needs).
const ROUNDS: u64 = 200;

fn ticks() -> u64 {
    // SAFETY: RDTSC has no side effects and is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Submits `batch` NOPs with one `ring_enter` and reaps them; `false` if
/// anything went wrong.
fn round(ring: &mut Ring, batch: u32) -> bool {
    for i in 0..batch {
        let Ok(mut sqe) = ring.get_sqe() else {
            return false;
        };
        *sqe = rt::prep::nop();
        sqe.user_data = u64::from(i);
    }
    if ring.submit_and_wait(batch) != Ok(batch) {
        return false;
    }
    let mut reaped = 0;
    for cqe in ring.cqes() {
        if cqe.res != 0 || cqe.user_data != u64::from(reaped) {
            return false;
        }
        reaped += 1;
    }
    reaped == batch
}

/// Mean ticks per NOP over `ROUNDS` rounds of `batch`, after a warm-up.
fn measure(ring: &mut Ring, batch: u32, rounds: u64) -> Option<u64> {
    for _ in 0..10 {
        if !round(ring, batch) {
            return None;
        }
    }
    let start = ticks();
    for _ in 0..rounds {
        if !round(ring, batch) {
            return None;
        }
    }
    Some((ticks() - start) / (rounds * u64::from(batch)))
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let rounds = rt::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .filter(|&rounds| rounds > 0)
        .unwrap_or(ROUNDS);
    let (Some(batched), Some(single)) = (
        measure(&mut ring, BATCH, rounds),
        measure(&mut ring, 1, rounds),
    ) else {
        let _ = writeln!(Writer(&mut ring), "nopbench: a NOP failed");
        return 1;
    };
    let _ = writeln!(
        Writer(&mut ring),
        "nopbench: {batched} ticks per NOP in batches of {BATCH}, {single} ticks per NOP one at a time"
    );
    0
}
