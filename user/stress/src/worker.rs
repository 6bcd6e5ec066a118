//! A worker process: `stress worker ID THREADS ROUNDS SEED`.  Its threads
//! (the main one included) loop over a random mix of work until ROUNDS
//! are done, or, with ROUNDS 0, until the parent's STOP message arrives;
//! then it sends its counts to the parent's ring (MSG_RING), prints a
//! line, and exits with 0, or 1 if any check failed.
//!
//! ```text
//!   thread s:  NOPs | pipe: WRITE into pipe s+1, READ pipe s (checked)
//!              | TIMEOUT | touch fresh private pages (demand faults)
//!              | its shared chunk: map and publish, MPROTECT it R and
//!                back, or retire it (MUNMAP, or MAP_FIXED over it)
//!              | read another thread's chunk (checked)
//!              | fork: the child checks its copy | spawn a leaf process
//! ```

use crate::counts::{Counts, Kind, Random};
use crate::{chunks, family, pipes, private};
use abi::{Errno, Sqe};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use rt::Mutex;
use rt::io::Writer;
use rt::ring::Ring;

/// The most threads a worker runs.
pub const MAX_THREADS: usize = 16;
/// The user data of the parent's STOP message.
pub const STOP: u64 = 0x5709;
/// The user data of a count message: `COUNT_TAG | worker << 8 | kind`.
pub const COUNT_TAG: u64 = 0xc0_0000;

pub static COUNTS: Counts = Counts::new();
static THREAD_OPS: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(0) }; MAX_THREADS];
static STOPPED: AtomicBool = AtomicBool::new(false);

/// What every thread of the worker knows.
#[derive(Clone, Copy)]
pub struct Plan {
    pub id: u64,
    pub threads: usize,
    pub rounds: u64,
    pub seed: u64,
    /// The families of work it does (`mix`).
    pub mix: u64,
}

static PLAN: Mutex<Option<Plan>> = Mutex::new(None);

pub fn ring() -> &'static Mutex<Ring> {
    rt::ring::shared().unwrap_or_else(|_| rt::exit(102))
}

/// One thread's state.
pub struct Worker {
    pub plan: Plan,
    /// This thread's place among the worker's threads (its pipe, its chunk).
    pub slot: usize,
    /// The thread index results are delivered to.
    me: u16,
    pub random: Random,
    pub private: private::Private,
    pub pipes: pipes::Streams,
    pub chunk: chunks::Owned,
}

impl Worker {
    /// Runs `sqe` and waits for its result.
    pub fn call(&mut self, sqe: Sqe) -> Result<u32, Errno> {
        COUNTS.add(Kind::Ops, 1);
        THREAD_OPS[self.slot].fetch_add(1, Ordering::Relaxed);
        rt::ring::call(ring(), &sqe, self.me)
    }

    /// Records a failed check and says what it was.
    pub fn fail(&self, what: core::fmt::Arguments<'_>) {
        COUNTS.add(Kind::Failures, 1);
        let _ = writeln!(
            Writer(&mut ring().lock()),
            "stress: FAIL worker {} thread {}: {what}",
            self.plan.id,
            self.slot
        );
    }

    /// Checks that an op answered `Ok`, else records the failure.
    pub fn expect_ok(&self, what: &str, result: Result<u32, Errno>) -> Option<u32> {
        match result {
            Ok(value) => Some(value),
            Err(errno) => {
                self.fail(format_args!("{what}: {errno:?}"));
                None
            }
        }
    }
}

/// The families of work, as bits of the `MIX` argument (a family left
/// out is replaced by NOPs): to narrow down what a failure needs.
pub mod mix {
    pub const PIPES: u64 = 1;
    pub const TIMEOUTS: u64 = 2;
    pub const FAULTS: u64 = 4;
    pub const CHUNKS: u64 = 8;
    pub const FORKS: u64 = 16;
    pub const SPAWNS: u64 = 32;
    pub const ALL: u64 = 63;
}

fn nops(worker: &mut Worker) {
    for _ in 0..1 + worker.random.below(4) {
        let result = worker.call(rt::prep::nop());
        if worker.expect_ok("NOP", result) == Some(0) {
            COUNTS.add(Kind::Nops, 1);
        }
    }
}

fn one_round(worker: &mut Worker) {
    let choice = worker.random.below(16);
    let family = match choice {
        0..=2 => 0,
        3..=5 => mix::PIPES,
        6 => mix::TIMEOUTS,
        7..=9 => mix::FAULTS,
        10..=14 => mix::CHUNKS,
        _ => match worker.random.below(8) {
            0 => mix::FORKS,
            1 => mix::SPAWNS,
            _ => mix::CHUNKS,
        },
    };
    if family & worker.plan.mix != family {
        return nops(worker);
    }
    match family {
        0 => nops(worker),
        mix::PIPES => pipes::exchange(worker),
        mix::TIMEOUTS => {
            let spec = abi::Timespec::from_ns(worker.random.below(200_000));
            match worker.call(rt::prep::timeout(&spec)) {
                Err(Errno::ETIME) => COUNTS.add(Kind::Timeouts, 1),
                other => worker.fail(format_args!("TIMEOUT answered {other:?}, not ETIME")),
            }
        }
        mix::FAULTS => private::touch(worker),
        mix::CHUNKS if choice <= 11 => chunks::own(worker),
        mix::CHUNKS => chunks::read_another(worker),
        mix::FORKS => family::fork(worker),
        _ => family::spawn_leaf(worker),
    }
}

fn run_thread(slot: usize, me: u16) {
    let Some(plan) = *PLAN.lock() else {
        return;
    };
    let mut worker = Worker {
        plan,
        slot,
        me,
        random: Random::new(plan.seed ^ (plan.id << 32) ^ slot as u64),
        private: private::Private::default(),
        pipes: pipes::Streams::default(),
        chunk: chunks::Owned::default(),
    };
    let mut round = 0;
    while !STOPPED.load(Ordering::Acquire) && (plan.rounds == 0 || round < plan.rounds) {
        if slot == 0 && plan.rounds == 0 {
            look_for_stop();
        }
        one_round(&mut worker);
        round += 1;
    }
    chunks::retire_for_good(&mut worker);
    private::release(&mut worker);
}

/// The main thread reads the CQ for the parent's STOP.
fn look_for_stop() {
    let mut ring = ring().lock();
    while let Some(cqe) = ring.pop() {
        if cqe.user_data == STOP {
            STOPPED.store(true, Ordering::Release);
        }
    }
}

extern "C" fn thread_entry(slot: u64, index: u64) -> ! {
    run_thread(slot as usize, index as u16);
    rt::thread::exit()
}

pub fn main(plan: Plan) -> i32 {
    *PLAN.lock() = Some(plan);
    if let Err(errno) = pipes::make(plan.threads) {
        let _ = writeln!(
            Writer(&mut ring().lock()),
            "stress: worker {}: PIPE failed: {errno:?}",
            plan.id
        );
        return 1;
    }
    let mut handles = [0i32; MAX_THREADS];
    for (slot, handle) in handles.iter_mut().enumerate().take(plan.threads).skip(1) {
        match rt::thread::spawn(&mut ring().lock(), thread_entry, slot as u64) {
            Ok(h) => *handle = h,
            Err(errno) => {
                let _ = writeln!(
                    Writer(&mut ring().lock()),
                    "stress: worker {}: THREAD_SPAWN failed: {errno:?}",
                    plan.id
                );
                COUNTS.add(Kind::Failures, 1);
            }
        }
    }
    run_thread(0, 0);
    for &handle in handles
        .iter()
        .take(plan.threads)
        .skip(1)
        .filter(|&&h| h > 0)
    {
        if let Err(errno) = rt::thread::join_shared(ring(), handle, 0) {
            let _ = writeln!(
                Writer(&mut ring().lock()),
                "stress: worker {}: join failed: {errno:?}",
                plan.id
            );
            COUNTS.add(Kind::Failures, 1);
        }
    }
    pipes::close(plan.threads);
    report(plan)
}

/// Sends the counts to the parent and prints this worker's line.
fn report(plan: Plan) -> i32 {
    let mut ring = ring().lock();
    for kind in Kind::ALL {
        let value = u32::try_from(COUNTS.get(kind)).unwrap_or(u32::MAX);
        let user_data = COUNT_TAG | plan.id << 8 | kind as u64;
        let _ = rt::process::msg_ring(&mut ring, rt::process::PARENT_RING, user_data, value);
    }
    let mut line = alloc::format!(
        "stress: worker {}: {} ops by {} threads (",
        plan.id,
        COUNTS.get(Kind::Ops),
        plan.threads
    );
    for (slot, ops) in THREAD_OPS.iter().enumerate().take(plan.threads) {
        let gap = if slot == 0 { "" } else { " " };
        let _ = write!(line, "{gap}{}", ops.load(Ordering::Relaxed));
    }
    let failures = COUNTS.get(Kind::Failures);
    let _ = writeln!(Writer(&mut ring), "{line}), {failures} failures");
    i32::from(failures > 0)
}
