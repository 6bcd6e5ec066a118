//! `threadtest`: 16 threads count into a shared counter and are joined;
//! with the argument `spin`, four threads spin forever and the main thread
//! ends the process with status 7, which must stop them.
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
