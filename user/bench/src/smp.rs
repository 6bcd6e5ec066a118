//! The rows that need two CPUs, run without icount: the shootdown cost
//! (the `shootdown` demo with one other thread) and a cross-CPU wake, a
//! futex ping-pong between two threads (the kernel puts them on different
//! CPUs when it has two idle ones).

use crate::{ring, run, say};
use core::sync::atomic::{AtomicU32, Ordering};
use rt::measure::ticks;

const WAKE_ROUNDS: u32 = 2_000;

/// The ball: odd when the partner's turn, even when the main thread's.
static BALL: AtomicU32 = AtomicU32::new(0);

/// Waits (thread `me`) until `BALL` is `want`.
fn wait_for(want: u32, me: u16) {
    loop {
        let now = BALL.load(Ordering::Acquire);
        if now == want {
            return;
        }
        let _ = rt::futex::wait(ring(), &BALL, now, me);
    }
}

fn hit(value: u32, me: u16) {
    BALL.store(value, Ordering::Release);
    let _ = rt::futex::wake(ring(), &BALL, 1, me);
}

extern "C" fn partner(_argument: u64, index: u64) -> ! {
    for round in 0..=WAKE_ROUNDS {
        wait_for(2 * round + 1, index as u16);
        hit(2 * round + 2, index as u16);
    }
    rt::thread::exit()
}

fn cross_cpu_wake() -> bool {
    let Ok(handle) = rt::thread::spawn(&mut ring().lock(), partner, 0) else {
        return false;
    };
    let mut start = 0;
    for round in 0..=WAKE_ROUNDS {
        if round == 1 {
            start = ticks();
        }
        hit(2 * round + 1, 0);
        wait_for(2 * round + 2, 0);
    }
    let elapsed = ticks() - start;
    say(format_args!(
        "bench: cross-CPU wake: {} ticks per futex round trip\n",
        elapsed / u64::from(WAKE_ROUNDS)
    ));
    rt::thread::join_shared(ring(), handle, 0).is_ok()
}

pub fn rows() -> i32 {
    let shootdown = run("bin/shootdown", b"shootdown\x001\x00500\x00");
    let wake = cross_cpu_wake();
    i32::from(!(shootdown && wake))
}
