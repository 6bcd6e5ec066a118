//! `timeouts`: a LINK_TIMEOUT cutting a slow operation short, and an
//! ASYNC_CANCEL stopping a running one, with the CQEs each produces.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Opcode, Sqe, SqeFlags, Timespec};
use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

fn timeout(spec: &Timespec, user_data: u64) -> Sqe {
    Sqe {
        addr: spec as *const Timespec as u64,
        len: 1,
        user_data,
        ..Sqe::new(Opcode::Timeout)
    }
}

fn name(user_data: u64) -> &'static str {
    match user_data {
        1 => "a 10 s TIMEOUT, linked",
        2 => "its 20 ms LINK_TIMEOUT",
        3 => "a 10 s TIMEOUT",
        4 => "the ASYNC_CANCEL aimed at it",
        _ => "?",
    }
}

/// Submits `sqes` and prints `count` CQEs with what each one is.
fn show(ring: &mut Ring, sqes: &[Sqe], count: usize) -> bool {
    let start = unsafe_free_ticks();
    if sqes.iter().any(|sqe| ring.push(sqe).is_err()) || ring.submit().is_err() {
        return false;
    }
    for _ in 0..count {
        let Ok(cqe) = ring.wait() else {
            return false;
        };
        let result = match cqe.result() {
            Ok(value) => value as i64,
            Err(errno) => -i64::from(errno.get()),
        };
        let outcome = cqe
            .result()
            .map_or_else(|errno| errno.known().map_or("?", |e| e.name()), |_| "ok");
        let _ = writeln!(
            Writer(ring),
            "timeouts:   {:<30} -> res {result} ({outcome}) after about {} ms",
            name(cqe.user_data),
            (unsafe_free_ticks() - start) / 1_000_000
        );
    }
    true
}

/// The TSC; good enough to show milliseconds on QEMU's default clock.
fn unsafe_free_ticks() -> u64 {
    // SAFETY: RDTSC has no side effects and is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let long = Timespec::from_ns(10_000_000_000);
    let short = Timespec::from_ns(20_000_000);
    let _ = writeln!(
        Writer(&mut ring),
        "timeouts: a slow op with a LINK_TIMEOUT: the timeout wins"
    );
    let linked = Sqe {
        flags: SqeFlags::IO_LINK.bits(),
        ..timeout(&long, 1)
    };
    let link_timeout = Sqe {
        user_data: 2,
        ..Sqe {
            addr: &short as *const Timespec as u64,
            len: 1,
            ..Sqe::new(Opcode::LinkTimeout)
        }
    };
    let first = show(&mut ring, &[linked, link_timeout], 2);
    let _ = writeln!(
        Writer(&mut ring),
        "timeouts: an ASYNC_CANCEL stops a running op at once"
    );
    let cancel = Sqe {
        addr: 3,
        user_data: 4,
        ..Sqe::new(Opcode::AsyncCancel)
    };
    let second = show(&mut ring, &[timeout(&long, 3), cancel], 2);
    i32::from(!(first && second))
}
