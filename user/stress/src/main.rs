//! `stress [SECONDS|xROUNDS] [PROCESSES] [THREADS] [SEED] [MIX]`: the SMP
//! stress.
//! PROCESSES worker processes (4 by default) of THREADS threads each (4)
//! run for SECONDS (20), or ROUNDS rounds per thread, a random mix of
//! ring I/O (NOPs, pipe traffic between threads, timeouts), demand faults,
//! MUNMAP/MPROTECT/MAP_FIXED of memory other threads read on other CPUs
//! (shootdowns), forks and spawned processes, checking every byte
//! (`worker.rs` has the map).  A warm-up worker runs first, so the kernel's
//! tables reach their working size; then the frames, slab objects, tasks
//! and threads the kernel holds must come back to what they were.
//!
//! MIX (63, all) picks the families of work by bits: 1 pipes, 2 timeouts,
//! 4 private faults, 8 shared chunks, 16 forks, 32 spawns (NOPs always).
//!
//! Prints its parameters, a line per worker, and one summary line
//! `stress: PASS ...` or `stress: FAIL ...`; exits with 0 or 1.
//! `stress worker ...` and `stress leaf CODE` are its own children;
//! `stress regressions` checks, deterministically, the bugs it found.
#![no_std]
#![no_main]

extern crate alloc;
extern crate freestanding;

mod chunks;
mod counts;
mod family;
mod parent;
mod pipes;
mod private;
mod regressions;
mod usage;
mod worker;

rt::entry!(main);

fn number(text: Option<&str>) -> Option<u64> {
    let text = text?;
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn main() -> i32 {
    let mut args = rt::args().skip(1);
    match args.next() {
        Some("worker") => {
            let mut field = || number(args.next());
            match (field(), field(), field(), field(), field()) {
                (Some(id), Some(threads), Some(rounds), Some(seed), Some(mix))
                    if (1..=worker::MAX_THREADS as u64).contains(&threads) =>
                {
                    worker::main(worker::Plan {
                        id,
                        threads: threads as usize,
                        rounds,
                        seed,
                        mix,
                    })
                }
                _ => 2,
            }
        }
        Some("leaf") => family::leaf(number(args.next()).unwrap_or(0) as i32),
        Some("regressions") => regressions::main(),
        first => parent::main(first, args),
    }
}
