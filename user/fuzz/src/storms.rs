//! The `storm` worker: many ops in flight at once, and an exit with half
//! of them still there.
//!
//! 1. `count` hour-long TIMEOUTs, all pending: no CQE may come.
//! 2. A cancel storm: ASYNC_CANCEL of every other one, each answered 0,
//!    each cancelled timeout ending `-ECANCELED` exactly once; a second
//!    cancel of one finds nothing (`-ENOENT`).
//! 3. Long IO_LINK chains (as long as the SQ): NOPs complete in order; a
//!    failure early in the chain cancels every later link, however far.
//! 4. READs of an empty pipe under LINK_TIMEOUTs: the READ ends
//!    `-ECANCELED`, the timeout `-ETIME`.
//! 5. Exit with the other half of the timeouts pending: the ring's
//!    teardown must cancel them and give every frame back (the parent
//!    checks).

use crate::rng::Rng;
use abi::{Errno, Opcode, Sqe, SqeFlags, Timespec};
use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

static HOUR: Timespec = Timespec::from_ns(3_600_000_000_000);
static MILLISECOND: Timespec = Timespec::from_ns(1_000_000);

/// `user_data` of the chains' and pipe reads' SQEs: above every timeout's.
const CHAIN_BASE: u64 = 1 << 40;

struct Storm {
    ring: Ring,
    failures: i32,
}

impl Storm {
    fn fail(&mut self, what: &str, detail: i64) {
        self.failures += 1;
        let _ = writeln!(Writer(&mut self.ring), "fuzz: STORM FAIL {what} ({detail})");
    }

    /// Queues `sqe`, submitting (and handing what is ready to `seen`)
    /// when the SQ is full.
    fn push(&mut self, sqe: &Sqe, seen: &mut impl FnMut(&mut Self, u64, i32)) {
        while self.ring.push(sqe).is_err() {
            let _ = self.ring.submit();
            self.reap(seen);
        }
    }

    fn reap(&mut self, seen: &mut impl FnMut(&mut Self, u64, i32)) {
        while let Some(cqe) = self.ring.pop() {
            seen(self, cqe.user_data, cqe.res);
        }
    }

    /// Waits for `count` CQEs, handing each to `seen`.
    fn collect(&mut self, count: usize, seen: &mut impl FnMut(&mut Self, u64, i32)) {
        for _ in 0..count {
            match self.ring.wait() {
                Ok(cqe) => seen(self, cqe.user_data, cqe.res),
                Err(errno) => return self.fail("waiting for a CQE", errno as i64),
            }
        }
    }
}

pub fn run(seed: u64, count: u64) -> i32 {
    let Ok(ring) = Ring::take() else {
        return 100;
    };
    let mut storm = Storm { ring, failures: 0 };
    let mut rng = Rng::new(seed);
    let count = count.max(2);
    timeouts_and_cancels(&mut storm, count);
    chains(&mut storm, &mut rng);
    linked_timeouts(&mut storm);
    drain_behind_a_timeout(&mut storm);
    // The other half of the timeouts are still pending: exit with them.
    storm.failures.min(99)
}

fn timeouts_and_cancels(storm: &mut Storm, count: u64) {
    let mut early = |storm: &mut Storm, user_data: u64, res: i32| {
        storm.fail(
            "a CQE from a pending timeout",
            (user_data as i64) << 8 | -res as i64,
        );
    };
    for user_data in 1..=count {
        let sqe = Sqe {
            user_data,
            ..rt::prep::timeout(&HOUR)
        };
        storm.push(&sqe, &mut early);
    }
    let _ = storm.ring.submit();
    storm.reap(&mut early);

    // Cancel every odd one; each gives two CQEs.
    let arrived = core::cell::Cell::new(0u64);
    let (mut cancelled, mut wrong) = (0u64, 0u64);
    let mut seen = |_: &mut Storm, user_data: u64, res: i32| {
        let is_cancel = user_data & (1 << 32) != 0;
        let target = user_data & 0xffff_ffff;
        let ok = if is_cancel {
            res == 0
        } else {
            target % 2 == 1 && res == Errno::ECANCELED.as_res()
        };
        arrived.set(arrived.get() + 1);
        cancelled += u64::from(!is_cancel && ok);
        wrong += u64::from(!ok);
    };
    let targets = count.div_ceil(2);
    for target in (1..=count).step_by(2) {
        let sqe = Sqe {
            user_data: 1 << 32 | target,
            ..rt::prep::cancel(target)
        };
        storm.push(&sqe, &mut seen);
    }
    let _ = storm.ring.submit();
    storm.reap(&mut seen);
    while arrived.get() < 2 * targets {
        match storm.ring.wait() {
            Ok(cqe) => seen(storm, cqe.user_data, cqe.res),
            Err(errno) => return storm.fail("waiting for a CQE", errno as i64),
        }
    }
    if wrong != 0 {
        storm.fail("cancel storm: CQEs with the wrong result", wrong as i64);
    }
    if cancelled != targets {
        storm.fail("cancel storm: timeouts cancelled", cancelled as i64);
    }
    // Cancelled already: nothing to find.
    let again = rt::prep::cancel(1);
    let res = crate::run(&mut storm.ring, again);
    if res != Err(Errno::ENOENT) {
        storm.fail(
            "second cancel of a cancelled timeout",
            res.map_or_else(|e| e as i64, i64::from),
        );
    }
}

/// Chains as long as the SQ: NOPs in order, then one that fails early.
fn chains(storm: &mut Storm, rng: &mut Rng) {
    let length = 60u64;
    for round in 0..4u64 {
        let failing = (round > 0).then(|| 1 + rng.below(length - 2));
        let base = CHAIN_BASE + round * 1000;
        let mut none = |storm: &mut Storm, user_data: u64, res: i32| {
            storm.fail(
                "a CQE before the chain was submitted",
                (user_data as i64) << 8 | -res as i64,
            );
        };
        for i in 0..length {
            let mut sqe = Sqe {
                user_data: base + i,
                ..Sqe::new(Opcode::Nop)
            };
            if i + 1 < length {
                sqe.flags = SqeFlags::IO_LINK.bits();
            }
            if Some(i) == failing {
                sqe.off = 1; // a NOP with an argument is EINVAL
            }
            storm.push(&sqe, &mut none);
        }
        let _ = storm.ring.submit();
        let mut next = 0u64;
        let mut wrong = 0u64;
        let mut in_order = |_: &mut Storm, user_data: u64, res: i32| {
            let i = user_data.wrapping_sub(base);
            let want = match failing {
                Some(f) if i == f => Errno::EINVAL.as_res(),
                Some(f) if i > f => Errno::ECANCELED.as_res(),
                _ => 0,
            };
            wrong += u64::from(i != next || res != want);
            next += 1;
        };
        storm.collect(length as usize, &mut in_order);
        if wrong != 0 {
            let what = if failing.is_some() {
                "a chain with a failure: every later link ECANCELED, in order"
            } else {
                "a chain of NOPs: every link 0, in order"
            };
            storm.fail(what, wrong as i64);
        }
    }
}

/// READs of an empty pipe, each under a 1 ms LINK_TIMEOUT.
fn linked_timeouts(storm: &mut Storm) {
    let Ok((read_end, _write_end)) = rt::process::pipe(&mut storm.ring) else {
        return storm.fail("making a pipe", 0);
    };
    let mut buffer = [0u8; 16];
    let rounds = 20u64;
    let base = CHAIN_BASE + 100_000;
    let mut none = |storm: &mut Storm, user_data: u64, res: i32| {
        storm.fail("an early CQE", (user_data as i64) << 8 | -res as i64);
    };
    for i in 0..rounds {
        let read = Sqe {
            user_data: base + 2 * i,
            flags: SqeFlags::IO_LINK.bits(),
            ..rt::prep::read(read_end, &mut buffer, 0)
        };
        let timeout = Sqe {
            user_data: base + 2 * i + 1,
            ..rt::prep::link_timeout(&MILLISECOND)
        };
        storm.push(&read, &mut none);
        storm.push(&timeout, &mut none);
    }
    let _ = storm.ring.submit();
    let mut wrong = 0u64;
    let mut check = |_: &mut Storm, user_data: u64, res: i32| {
        let is_timeout = user_data.wrapping_sub(base) % 2 == 1;
        let want = if is_timeout {
            Errno::ETIME.as_res()
        } else {
            Errno::ECANCELED.as_res()
        };
        wrong += u64::from(res != want);
    };
    storm.collect(2 * rounds as usize, &mut check);
    if wrong != 0 {
        storm.fail(
            "READs under link timeouts: -ECANCELED and -ETIME",
            wrong as i64,
        );
    }
}

/// An IO_DRAIN barrier held up by an hour-long TIMEOUT: the NOPs queued
/// behind it are charged against the ring's limit, so `ring_enter`
/// answers `EBUSY` before the kernel holds more than that (it once queued
/// them without bound until an allocation failed and the kernel
/// panicked).
fn drain_behind_a_timeout(storm: &mut Storm) {
    const TIMER: u64 = CHAIN_BASE + 200_000;
    const NOPS: u64 = CHAIN_BASE + 300_000;
    let timer = Sqe {
        user_data: TIMER,
        ..rt::prep::timeout(&HOUR)
    };
    let barrier = Sqe {
        user_data: NOPS,
        flags: SqeFlags::IO_DRAIN.bits(),
        ..Sqe::new(Opcode::Nop)
    };
    let mut queued = 0u64;
    let refused = (|| -> Result<bool, Errno> {
        storm.ring.push(&timer)?;
        storm.ring.push(&barrier)?;
        storm.ring.submit()?;
        queued += 1;
        for _ in 0..200 {
            while storm
                .ring
                .push(&Sqe {
                    user_data: NOPS,
                    ..Sqe::new(Opcode::Nop)
                })
                .is_ok()
            {}
            match storm.ring.submit() {
                Ok(taken) => queued += u64::from(taken),
                Err(Errno::EBUSY) => return Ok(true),
                Err(errno) => return Err(errno),
            }
        }
        Ok(false)
    })();
    if refused != Ok(true) {
        storm.fail(
            "SQEs behind a held-up IO_DRAIN barrier: EBUSY past the limit",
            queued as i64,
        );
    }
    // The worker exits here, the barrier still up: the ring's teardown
    // drops what waits behind it (and the parent checks the frames).
    // While the queue is full even an ASYNC_CANCEL is refused, so a
    // program in this state can only wait for the op or exit.
}
