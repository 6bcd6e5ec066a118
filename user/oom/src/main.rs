//! `oom`: runs the machine out of memory, twice, in `fork` children, and
//! checks that each time the child is killed with the out-of-memory status
//! (SIGKILL), the parent's memory is intact, the frames come back, and
//! programs still start.  Meant for a small guest (the harness boots it
//! with 128 MiB).  Prints a line per check and exits with the number that
//! failed.
//!
//! 1. Demand-zero: a child touches anonymous memory until it is killed.
//! 2. Copy-on-write: the parent fills half of the free memory, and a child
//!    writes every page of its copy: the copies run out.
#![no_std]
#![no_main]

extern crate freestanding;

use rt::checks::Checks;
use rt::mm::{PAGE, PRIVATE, RW};
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

/// What a process killed for running out of memory ends with.
const SIGKILL: i32 = 9;

fn map(ring: &mut Ring, len: u64) -> Option<u64> {
    rt::mm::map_anonymous(ring, len, RW, PRIVATE).ok()
}

fn free_pages(ring: &mut Ring) -> u64 {
    rt::stats::mem(ring).map_or(0, |stats| stats.free_frames)
}

/// Writes a byte into each page of `[addr, addr + pages * PAGE)`.
fn touch(addr: u64, pages: u64, value: u8) {
    for page in 0..pages {
        // SAFETY: inside a writable mapping of this process.
        unsafe { ((addr + page * PAGE) as *mut u8).write_volatile(value) };
    }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let ring = &mut ring;
    let mut checks = Checks::new("oom");
    let free_at_start = free_pages(ring);

    // 1. More anonymous memory than there is, touched page by page.
    let hog = process::in_child(ring, |ring| {
        let pages = free_pages(ring) * 2;
        if let Some(addr) = map(ring, pages * PAGE) {
            touch(addr, pages, 1);
        }
        0
    });
    checks.check(
        "a child touching more memory than there is is killed (SIGKILL)",
        hog == Ok(WaitStatus::Signaled(SIGKILL)),
    );
    checks.check(
        "and its frames come back",
        free_pages(ring) + 64 >= free_at_start,
    );

    // 2. Copy-on-write copies that cannot all be had.
    let pages = free_pages(ring) * 11 / 20;
    let Some(shared) = map(ring, pages * PAGE) else {
        return checks.report(ring) + 1;
    };
    touch(shared, pages, b'p');
    let copier = process::in_child(ring, |_| {
        touch(shared, pages, b'c');
        0
    });
    checks.check(
        "a child whose copy-on-write copies run out is killed (SIGKILL)",
        copier == Ok(WaitStatus::Signaled(SIGKILL)),
    );
    let intact = (0..pages).all(|page| {
        // SAFETY: inside the mapping this process filled.
        unsafe { ((shared + page * PAGE) as *const u8).read_volatile() == b'p' }
    });
    checks.check("the parent's pages are intact", intact);
    let unmapped = rt::mm::unmap(ring, shared, pages * PAGE).is_ok();
    checks.check(
        "every frame comes back",
        unmapped && free_pages(ring) + 64 >= free_at_start,
    );
    let spawned =
        process::spawn(ring, "bin/true", b"").and_then(|child| process::wait(ring, child));
    checks.check(
        "programs still start and run",
        spawned == Ok(WaitStatus::Exited(0)),
    );
    checks.report(ring)
}
