//! `pingpong`: two processes bounce a message through each other's rings
//! (MSG_RING) and the parent prints the round-trip time in TSC ticks.  The
//! kernel places the two on different CPUs when it has them.
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::Writer;
use rt::process::{self, PARENT_RING};
use rt::ring::Ring;

rt::entry!(main);

const ROUNDS: u64 = 500;
/// The message that tells the child to stop.
const QUIT: u64 = u64::MAX - 100;

fn ticks() -> u64 {
    // SAFETY: RDTSC has no side effects and is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The child: answer every message until told to stop.
fn echo(ring: &mut Ring) -> i32 {
    loop {
        let Ok(cqe) = ring.wait() else {
            return 1;
        };
        if cqe.user_data == QUIT {
            return 0;
        }
        if process::msg_ring(ring, PARENT_RING, cqe.user_data, 0).is_err() {
            return 2;
        }
    }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    if rt::args().nth(1) == Some("child") {
        return echo(&mut ring);
    }
    let Ok(child) = process::spawn(&mut ring, "bin/pingpong", b"pingpong\0child\0") else {
        let _ = writeln!(Writer(&mut ring), "pingpong: cannot start the child");
        return 1;
    };
    let round_trip = |ring: &mut Ring, round: u64| {
        process::msg_ring(ring, child, round, 0).is_ok() && ring.wait_for(round).is_ok()
    };
    let warm = (0..20).all(|round| round_trip(&mut ring, round));
    let start = ticks();
    let measured = (20..20 + ROUNDS).all(|round| round_trip(&mut ring, round));
    let elapsed = ticks() - start;
    let stopped = process::msg_ring(&mut ring, child, QUIT, 0).is_ok();
    let status = process::wait(&mut ring, child);
    if !(warm && measured && stopped && status == Ok(process::WaitStatus::Exited(0))) {
        let _ = writeln!(
            Writer(&mut ring),
            "pingpong: a message was lost ({status:?})"
        );
        return 1;
    }
    let _ = writeln!(
        Writer(&mut ring),
        "pingpong: {} ticks per round trip between two processes ({ROUNDS} rounds)",
        elapsed / ROUNDS
    );
    0
}
