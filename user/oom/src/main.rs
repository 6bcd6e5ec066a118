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
//! 3. Kernel objects: a child submits TIMEOUTs that never fire until the
//!    kernel refuses more with `ENOMEM` (each pending op is kernel heap
//!    memory; without the limit the kernel heap ran dry and panicked), and
//!    exits holding them; a second child cancels them all first.
//! 4. A thread's stack: a child fills memory to one or two frames above
//!    the user reserve and starts a thread; the kernel maps part of the
//!    stack, runs out, and gives those pages back (after a shootdown)
//!    before the spawn ends `ENOMEM`.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::Errno;
use core::fmt::Write;
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

/// Submits hour-long TIMEOUTs, a full SQ at a time, until some complete
/// at once with an error (or ten million are pending); the first error and
/// how many are pending.
fn hold_pending_timeouts(ring: &mut Ring) -> (Result<u32, Errno>, u64) {
    static HOUR: abi::Timespec = abi::Timespec {
        tv_sec: 3600,
        tv_nsec: 0,
    };
    let mut held = 0u64;
    while held < 10_000_000 {
        while ring.push(&rt::prep::timeout(&HOUR)).is_ok() {}
        match ring.submit() {
            Ok(taken) => held += u64::from(taken),
            Err(errno) => return (Err(errno), held),
        }
        // Pending TIMEOUTs post nothing: a CQE here is one that failed.
        let (mut failed, mut first) = (0, None);
        for cqe in ring.cqes() {
            failed += 1;
            first = first.or(Some(rt::ring::result(&cqe)));
        }
        if let Some(result) = first {
            return (result, held - failed);
        }
    }
    (Ok(0), held)
}

/// `MemStats::available_frames` (a slab page for an op's task, or a table
/// for the stack area, is not memory lost), and the frames free above the
/// user reserve.
fn available(ring: &mut Ring) -> (u64, u64) {
    rt::stats::mem(ring).map_or((0, 0), |stats| {
        (
            stats.available_frames(),
            stats.free_frames.saturating_sub(stats.user_reserve_frames),
        )
    })
}

extern "C" fn ends_at_once(_: u64, _: u64) -> ! {
    rt::thread::exit()
}

/// Check 4, in a child: starts and joins a thread (so the page tables of
/// the thread-stack area exist), touches memory until one or two frames
/// are left above the reserve, then starts a thread whose stack needs
/// four: the kernel maps one or two of them and runs out.  0 when the
/// spawn ends `ENOMEM` and every frame it took is back.
fn spawn_a_thread_short_of_memory(ring: &mut Ring) -> i32 {
    let first = rt::thread::spawn(ring, ends_at_once, 0);
    if first
        .and_then(|handle| rt::thread::join(ring, handle))
        .is_err()
    {
        return 11;
    }
    let (_, room) = available(ring);
    let Some(addr) = map(ring, room * PAGE) else {
        return 10;
    };
    // Most of it at once (page tables come out of the room too), the
    // rest a page at a time.
    let mut touched = room.saturating_sub(256);
    touch(addr, touched, 4);
    while available(ring).1 > 2 && touched < room {
        touch(addr + touched * PAGE, 1, 4);
        touched += 1;
    }
    let (before, room) = available(ring);
    let spawned = rt::thread::spawn(ring, ends_at_once, 0);
    let (after, _) = available(ring);
    let _ = writeln!(
        rt::io::Writer(ring),
        "oom: a thread spawn {room} frames above the reserve: {spawned:?}, \
         {before} frames available before and {after} after"
    );
    // A touch that needed a page table too may have left one frame.
    let short = (1..=2).contains(&room);
    i32::from(!(short && spawned == Err(Errno::ENOMEM) && after == before))
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

    // 3. Pending ops until the kernel will hold no more: once the child
    //    exits holding them, once it cancels them first.
    let exits_holding = process::in_child(ring, |ring| {
        i32::from(hold_pending_timeouts(ring).0 != Err(Errno::ENOMEM))
    });
    checks.check(
        "pending ops stop at ENOMEM, and a child exits holding them",
        exits_holding == Ok(WaitStatus::Exited(0)),
    );
    checks.check(
        "and every frame comes back",
        free_pages(ring) + 64 >= free_at_start,
    );
    let cancels = process::in_child(ring, |ring| {
        let (result, held) = hold_pending_timeouts(ring);
        // ASYNC_CANCEL runs when memory is short: it gives memory back.
        let cancelled = ring.push(&rt::prep::cancel(0)).and_then(|()| ring.submit());
        // Every TIMEOUT ends -ECANCELED; the cancel's own CQE says 0.
        let (mut ended, mut other) = (0u64, 0u64);
        while ended + other < held + 1 {
            match ring.wait() {
                Ok(cqe) if cqe.res == Errno::ECANCELED.as_res() => ended += 1,
                Ok(_) => other += 1,
                Err(_) => break,
            }
        }
        // Printed once memory is back: a WRITE is refused while it is short.
        let _ = writeln!(
            rt::io::Writer(ring),
            "oom: {held} TIMEOUTs pending, then {result:?}; \
             {ended} cancelled ({cancelled:?}), {other} other CQEs"
        );
        let ok = result == Err(Errno::ENOMEM) && held > 1000 && ended == held && other == 1;
        i32::from(!ok)
    });
    checks.check(
        "ASYNC_CANCEL runs at ENOMEM and ends every pending op",
        cancels == Ok(WaitStatus::Exited(0)),
    );
    checks.check(
        "and every frame comes back",
        free_pages(ring) + 64 >= free_at_start,
    );

    // 4. A thread spawn that runs out of memory midway.
    let short = process::in_child(ring, spawn_a_thread_short_of_memory);
    checks.check(
        "a thread spawn that runs out midway gives the stack's pages back (ENOMEM)",
        short == Ok(WaitStatus::Exited(0)),
    );

    let spawned =
        process::spawn(ring, "bin/true", b"").and_then(|child| process::wait(ring, child));
    checks.check(
        "programs still start and run",
        spawned == Ok(WaitStatus::Exited(0)),
    );
    checks.report(ring)
}
