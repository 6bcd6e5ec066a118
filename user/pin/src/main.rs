//! `pin`: what pinning guarantees, shown from user mode.
//!
//! - A READ holds its buffer pinned from its SQE to its CQE.  A MUNMAP of
//!   that buffer is accepted at once (the page leaves the address space)
//!   but completes only after the READ's CQE: the READ's data lands in the
//!   frame, which is freed only afterwards.
//! - A page carries at most 64 pins.  More READs into one page than that
//!   do not fail: the extra ones wait until a pin goes, then run.  A
//!   TIMEOUT or LINK_TIMEOUT whose timespec lies in that page is not held
//!   up by it (its time is only read, never pinned).  A READ waiting for
//!   a pin is raced by its LINK_TIMEOUT like one waiting for data.
//!
//! Prints a line per check and exits with the number that failed.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Cqe, Opcode, Sqe, SqeFlags, Timespec};
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

/// Puts a 1 ms timespec at `at` and runs a TIMEOUT and a NOP under a
/// LINK_TIMEOUT with it: -ETIME, then 0 and -ECANCELED (the NOP wins).
/// Reading the time through a pin once gave the LINK_TIMEOUT the kernel's
/// internal -ERESTARTSYS, and held the TIMEOUT until the pins went.
fn timeouts_read_from(ring: &mut Ring, at: u64) -> bool {
    // SAFETY: `at` lies in a page this process mapped read-write; no READ
    // lands there (they take the page's first bytes).
    let spec = unsafe { &mut *(at as *mut Timespec) };
    *spec = Timespec::from_ns(1_000_000);
    let timeout = Sqe {
        user_data: 2000,
        ..rt::prep::timeout(spec)
    };
    let nop = Sqe {
        flags: SqeFlags::IO_LINK.bits(),
        user_data: 2001,
        ..Sqe::new(Opcode::Nop)
    };
    let link = Sqe {
        user_data: 2002,
        ..rt::prep::link_timeout(spec)
    };
    let queued = [timeout, nop, link]
        .iter()
        .all(|sqe| ring.push(sqe).is_ok());
    let submitted = queued && ring.submit() == Ok(3);
    let res = |ring: &mut Ring, user_data| ring.wait_for(user_data).map(|cqe| cqe.res);
    let ecanceled = abi::Errno::ECANCELED.as_res();
    submitted
        && res(ring, 2000) == Ok(abi::Errno::ETIME.as_res())
        && res(ring, 2001) == Ok(0)
        && res(ring, 2002) == Ok(ecanceled)
}

/// Links a READ into `page`, at the pin depth, to a 1 ms LINK_TIMEOUT:
/// the READ, still waiting for a pin, ends -ECANCELED and the timeout
/// -ETIME.  The wait for a pin was once outside the race: the READ waited
/// for the other READs, and the timeout with it.
fn link_timeout_races_the_wait_for_a_pin(ring: &mut Ring, read_end: i32, page: u64) -> bool {
    let spec = Timespec::from_ns(1_000_000);
    let read = Sqe {
        flags: SqeFlags::IO_LINK.bits(),
        ..read_sqe(read_end, page + 700, 1, 3000)
    };
    let link = Sqe {
        user_data: 3001,
        ..rt::prep::link_timeout(&spec)
    };
    let queued = ring.push(&read).is_ok() && ring.push(&link).is_ok();
    let submitted = queued && ring.submit() == Ok(2);
    let res = |ring: &mut Ring, user_data| ring.wait_for(user_data).map(|cqe| cqe.res);
    submitted
        && res(ring, 3000) == Ok(abi::Errno::ECANCELED.as_res())
        && res(ring, 3001) == Ok(abi::Errno::ETIME.as_res())
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
    checks.check(
        "a TIMEOUT and a LINK_TIMEOUT read their time from a page at the pin depth",
        timeouts_read_from(ring, page + 512),
    );
    checks.check(
        "a LINK_TIMEOUT ends a READ still waiting for a pin (-ECANCELED, -ETIME)",
        link_timeout_races_the_wait_for_a_pin(ring, read_end, page),
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
