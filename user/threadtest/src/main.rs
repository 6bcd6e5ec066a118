//! `threadtest`: 16 threads count into a shared counter and are joined;
//! with the argument `spin`, four threads spin forever and the main thread
//! ends the process with status 7, which must stop them.  First, a forked
//! child (a fresh thread, with no FPU area yet) spins long enough to be
//! preempted (the kernel saves its FPU state in a 512-byte area) and makes
//! a syscall: the area must be gone, or every thread blocked after a
//! preemption would keep one.
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

static COUNTER: AtomicU64 = AtomicU64::new(0);

extern "C" fn count(argument: u64, _index: u64) -> ! {
    COUNTER.fetch_add(argument, Ordering::AcqRel);
    rt::thread::exit()
}

extern "C" fn spin(_argument: u64, _index: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

static WORD: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

extern "C" fn block(_argument: u64, index: u64) -> ! {
    if let Ok(ring) = rt::ring::shared() {
        let _ = rt::futex::wait(ring, &WORD, 0, index as u16);
    }
    rt::thread::exit()
}

/// Threads blocked on a futex when the process exits must not keep it
/// alive: 64 block, then the process exits with 9.
fn exit_with_blocked_threads() -> i32 {
    let Ok(shared) = rt::ring::shared() else {
        return 102;
    };
    for _ in 0..64 {
        if rt::thread::spawn(&mut shared.lock(), block, 0).is_err() {
            return 103;
        }
    }
    9
}

/// Threads holding a saved FPU area (MEM_STATS).
fn fpu_areas(ring: &mut Ring) -> Option<u64> {
    rt::stats::mem(ring).ok().map(|stats| stats.fpu_areas)
}

/// In a forked child: spins through several 10 ms time slices (200 M TSC
/// ticks: 77 ms at 2.6 GHz, 200 ms at icount's 1 GHz), then asks
/// MEM_STATS, a syscall: the FPU area the preemptions saved (and the one
/// its first copy-on-write faults saved) must be freed by then.  No other
/// thread of any process may hold one either: the parent waits in a
/// syscall, and nothing else runs (the test runs alone).
fn preempted_thread_keeps_no_fpu_area(ring: &mut Ring) -> bool {
    let child = rt::process::in_child(ring, |ring| i32::from(!spin_then_count(ring)));
    child == Ok(rt::process::WaitStatus::Exited(0))
}

fn spin_then_count(ring: &mut Ring) -> bool {
    let ticks = || {
        // SAFETY: RDTSC has no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    };
    let start = ticks();
    while ticks() - start < 200_000_000 {
        core::hint::spin_loop();
    }
    let after = fpu_areas(ring);
    let _ = writeln!(
        Writer(ring),
        "threadtest: saved FPU areas after a preempted spin and a syscall: {after:?}"
    );
    after == Some(0)
}

fn main() -> i32 {
    if rt::args().nth(1) == Some("futex") {
        return exit_with_blocked_threads();
    }
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    if rt::args().nth(1) == Some("spin") {
        for _ in 0..4 {
            if rt::thread::spawn(&mut ring, spin, 0).is_err() {
                return 101;
            }
        }
        // Exiting the process must stop the spinning threads.
        return 7;
    }
    // First, while no other thread of this test exists.
    if !preempted_thread_keeps_no_fpu_area(&mut ring) {
        return 5;
    }
    let mut handles = [0i32; 16];
    for (i, handle) in handles.iter_mut().enumerate() {
        match rt::thread::spawn(&mut ring, count, i as u64 + 1) {
            Ok(h) => *handle = h,
            Err(_) => return 1,
        }
    }
    for handle in handles {
        if rt::thread::join(&mut ring, handle).is_err() {
            return 2;
        }
    }
    let total = COUNTER.load(Ordering::Acquire);
    if total != (1..=16).sum::<u64>() {
        let _ = writeln!(Writer(&mut ring), "threadtest: counter {total}");
        return 3;
    }
    let spinner = rt::process::spawn(&mut ring, "bin/threadtest", b"threadtest\0spin\0")
        .and_then(|child| rt::process::wait(&mut ring, child));
    if spinner != Ok(rt::process::WaitStatus::Exited(7)) {
        let _ = writeln!(
            Writer(&mut ring),
            "threadtest: spinning child ended {spinner:?}"
        );
        return 4;
    }
    let _ = writeln!(
        Writer(&mut ring),
        "threadtest: 16 threads joined, spinning threads stopped by exit"
    );
    0
}
