//! `pin`: what pinning guarantees, shown from user mode.
//!
//! - A READ holds its buffer pinned from its SQE to its CQE.  A MUNMAP of
//!   that buffer is accepted at once (the page leaves the address space)
//!   but completes only after the READ's CQE: the READ's data lands in the
//!   frame, which is freed only afterwards.
//! - A page carries at most 64 pins.  More READs into one page than that
//!   do not fail: the extra ones wait until a pin goes, then run.
//!
//! Prints a line per check and exits with the number that failed.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Cqe, Sqe};
use rt::checks::Checks;
use rt::mm::{PAGE, PRIVATE, RW};
use rt::process;
use rt::ring::Ring;

rt::entry!(main);

/// More READs into one page than a page may carry pins (64).
const READERS: u64 = 100;
const MUNMAP_TAG: u64 = 1 << 40;

fn map(ring: &mut Ring, len: u64) -> Option<u64> {
    rt::mm::map_anonymous(ring, len, RW, PRIVATE).ok()
}

fn read_sqe(fd: i32, addr: u64, len: u32, user_data: u64) -> Sqe {
    Sqe {
        fd,
        addr,
        len,
        off: u64::MAX,
        user_data,
        ..Sqe::new(abi::Opcode::Read)
    }
}

/// Queues `sqe` and hands it to the kernel without waiting.
fn submit(ring: &mut Ring, sqe: &Sqe) -> bool {
    ring.push(sqe).is_ok() && ring.submit().is_ok()
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let ring = &mut ring;
    let mut checks = Checks::new("pin");
    let (Ok((read_end, write_end)), Some(buffer)) = (process::pipe(ring), map(ring, PAGE)) else {
        return 101;
    };

    // 1. MUNMAP while a READ holds the buffer.
    let message = b"landed intact";
    let mut order = [0u64; 2];
    let started = submit(ring, &read_sqe(read_end, buffer, message.len() as u32, 1))
        && submit(
            ring,
            &Sqe {
                user_data: MUNMAP_TAG,
                ..rt::prep::munmap(buffer, PAGE as u32)
            },
        );
    let early = ring.cqes().next();
    checks.check(
        "MUNMAP of a buffer a READ holds does not complete before the READ",
        started && early.is_none(),
    );
    let wrote = rt::io::write_with(ring, write_end, message) == Ok(message.len());
    let mut results = [0i32; 2];
    for slot in 0..2 {
        let Ok(cqe) = ring.wait_cqe() else { break };
        order[slot] = cqe.user_data;
        results[slot] = cqe.res;
    }
    checks.check(
        "the READ completes first, with every byte; then the MUNMAP",
        wrote && order == [1, MUNMAP_TAG] && results == [message.len() as i32, 0],
    );

    // 2. More pins on one page than the depth allows.
    let Some(page) = map(ring, PAGE) else {
        return checks.report(ring) + 1;
    };
    let mut queued = 0;
    for reader in 0..READERS {
        if submit(ring, &read_sqe(read_end, page + reader, 1, 1000 + reader)) {
            queued += 1;
        }
    }
    let early: Option<Cqe> = ring.cqes().next();
    checks.check(
        "READs past the pin depth are taken and wait, none fails",
        queued == READERS && early.is_none(),
    );
    let bytes = [b'x'; READERS as usize];
    let wrote = rt::io::write_with(ring, write_end, &bytes) == Ok(bytes.len());
    let mut completed = 0;
    let mut each_got_its_byte = true;
    for index in 0..READERS {
        // A CQE that came early (a READ refused) is counted, and fails.
        let next = match (index, early) {
            (0, Some(cqe)) => Ok(cqe),
            _ => ring.wait_cqe(),
        };
        let Ok(cqe) = next else { break };
        completed += 1;
        each_got_its_byte &= cqe.res == 1 && (1000..1000 + READERS).contains(&cqe.user_data);
    }
    // SAFETY: the page is mapped and every READ into it has completed.
    let landed = unsafe { core::slice::from_raw_parts(page as *const u8, READERS as usize) };
    checks.check(
        "then every READ runs, as pins go, and gets its byte",
        wrote && completed == READERS && each_got_its_byte && landed.iter().all(|&b| b == b'x'),
    );
    checks.report(ring)
}
