//! `racetest`: races between threads on different CPUs, through the ring.
//! Prints a line per check and exits with the number that failed.
//!
//! - MUNMAP from another thread while a READ of an empty pipe holds the
//!   buffer: the READ gets the bytes, and the MUNMAP's CQE comes after the
//!   READ's (the unmap waits for the pin).  The unmapping thread exits
//!   with its MUNMAP in flight.
//! - MPROTECT to `PROT_NONE` from another thread under the same READ: the
//!   bytes land intact (the page is kept, only user access goes).
//! - A thread's READ outlives the thread: its CQE still comes.
//! - FUTEX_WAKE storms: threads waiting on a generation word while others
//!   wake it from every CPU; no wake-up is lost (a bounded wait, so a lost
//!   one fails the check instead of hanging).
//! - A process exiting with ops in flight (hour-long timeouts, READs of
//!   an empty pipe into pinned pages, threads blocked on a futex, touched
//!   pages): after it, the kernel's free frames are back to exactly what
//!   they were.
//! - A thread refills the SQ while another's `ring_enter` asks for
//!   `u32::MAX` SQEs: the call takes at most a full SQ (before, it went on
//!   for as long as the SQ was refilled, past every limit).
//!
//! `racetest inflight` is that last child.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, Opcode, Sqe, SqeFlags};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use rt::Mutex;
use rt::checks::Checks;
use rt::io::Writer;
use rt::mm::{PAGE, PRIVATE, RW};
use rt::ring::Ring;

rt::entry!(main);

const MAIN: u16 = 0;
const ROUNDS: u32 = 12;

fn ring() -> &'static Mutex<Ring> {
    rt::ring::shared().expect("the ring is taken only here")
}

/// Runs `sqe` as thread `me` and waits for its result.
fn call(sqe: Sqe, me: u16) -> Result<u32, Errno> {
    rt::ring::call(ring(), &sqe, me)
}

fn mmap(pages: u64) -> Result<u64, Errno> {
    let mut out = 0u64;
    let sqe = rt::prep::mmap_anonymous(0, (pages * PAGE) as u32, RW, PRIVATE, &mut out);
    call(sqe, MAIN)?;
    Ok(out)
}

/// Queues `sqe` for a CQE (no delivery) and submits it.
fn submit(sqe: Sqe) -> Result<(), Errno> {
    let mut ring = ring().lock();
    ring.push(&sqe)?;
    ring.submit().map(|_| ())
}

/// Waits for the CQEs with `first` and `second` as `user_data`; returns
/// their results in the order they came.
fn two_cqes(first: u64, second: u64) -> Result<[(u64, i32); 2], Errno> {
    let mut got = [(0, 0); 2];
    let mut ring = ring().lock();
    for slot in &mut got {
        loop {
            let cqe = ring.wait()?;
            if cqe.user_data == first || cqe.user_data == second {
                *slot = (cqe.user_data, cqe.res);
                break;
            }
        }
    }
    Ok(got)
}

fn sleep_ms(ms: u64) {
    rt::thread::sleep(ring(), ms * 1_000_000, MAIN);
}

/// What the second thread of a round does to the buffer.
static TARGET: AtomicU64 = AtomicU64::new(0);
static READY: AtomicU32 = AtomicU32::new(0);

const READ_DATA: u64 = 0x5ead;
const RACER_DATA: u64 = 0x0dd;

/// Submits MUNMAP (argument 0) or MPROTECT to PROT_NONE (1) of the two
/// pages at `TARGET` for a CQE, and exits with it in flight.
extern "C" fn racer(argument: u64, _index: u64) -> ! {
    let addr = TARGET.load(Ordering::Acquire);
    let sqe = if argument == 0 {
        rt::prep::munmap(addr, (2 * PAGE) as u32)
    } else {
        rt::prep::mprotect(addr, (2 * PAGE) as u32, 0)
    };
    let _ = submit(Sqe {
        user_data: RACER_DATA,
        ..sqe
    });
    READY.store(1, Ordering::Release);
    rt::thread::exit()
}

/// One round: a READ of an empty pipe into two fresh pages, the racer's
/// op from another thread, then the write that ends the READ.  Returns
/// whether the READ got every byte, the racer's op succeeded, and (for
/// MUNMAP) its CQE came after the READ's; for MPROTECT, whether the bytes
/// are intact once the pages are readable again.
fn round(unmap: bool, seed: u8) -> Result<bool, Errno> {
    let buffer = mmap(2)?;
    let (read_end, write_end) = rt::process::pipe(&mut ring().lock())?;
    let len = (PAGE + 100) as usize;
    // SAFETY: `buffer` is two pages this program just mapped read-write;
    // nothing else uses them until the READ is done.
    let target = unsafe { core::slice::from_raw_parts_mut(buffer as *mut u8, len) };
    submit(Sqe {
        user_data: READ_DATA,
        ..rt::prep::read(read_end, target, 0)
    })?;
    TARGET.store(buffer, Ordering::Release);
    READY.store(0, Ordering::Release);
    let thread = rt::thread::spawn(&mut ring().lock(), racer, u64::from(!unmap))?;
    while READY.load(Ordering::Acquire) == 0 {
        sleep_ms(1);
    }
    // The racer's op has reached the kernel: let it get to the pages.
    sleep_ms(2);
    let mut pattern = [0u8; 4196];
    for (i, byte) in pattern.iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8);
    }
    let written = call(rt::prep::write(write_end, &pattern[..len], 0), MAIN)?;
    let cqes = two_cqes(READ_DATA, RACER_DATA)?;
    rt::thread::join_shared(ring(), thread, MAIN)?;
    let read = cqes.iter().find(|c| c.0 == READ_DATA).map_or(-1, |c| c.1);
    let raced = cqes.iter().find(|c| c.0 == RACER_DATA).map_or(-1, |c| c.1);
    let mut ok = written as usize == len && read == len as i32 && raced == 0;
    if unmap {
        ok &= cqes[0].0 == READ_DATA;
    } else {
        call(rt::prep::mprotect(buffer, (2 * PAGE) as u32, RW), MAIN)?;
        // SAFETY: readable again (the MPROTECT just above).
        let landed = unsafe { core::slice::from_raw_parts(buffer as *const u8, len) };
        ok &= landed == &pattern[..len];
        call(rt::prep::munmap(buffer, (2 * PAGE) as u32), MAIN)?;
    }
    call(rt::prep::close(read_end), MAIN)?;
    call(rt::prep::close(write_end), MAIN)?;
    Ok(ok)
}

fn rounds(unmap: bool) -> bool {
    (0..ROUNDS).all(|i| round(unmap, i as u8) == Ok(true))
}

static PIPE_READ: AtomicU32 = AtomicU32::new(0);
static mut ORPHAN_BUFFER: [u8; 64] = [0; 64];
const ORPHAN_DATA: u64 = 0x0bad;

extern "C" fn orphan_reader(_argument: u64, _index: u64) -> ! {
    let fd = PIPE_READ.load(Ordering::Acquire) as i32;
    // SAFETY: only this READ uses the buffer until its CQE, which the
    // main thread waits for before reading it.
    let buffer = unsafe { &mut *core::ptr::addr_of_mut!(ORPHAN_BUFFER) };
    let _ = submit(Sqe {
        user_data: ORPHAN_DATA,
        ..rt::prep::read(fd, buffer, 0)
    });
    READY.store(1, Ordering::Release);
    rt::thread::exit()
}

/// A thread submits a READ of an empty pipe and exits; the write after
/// it ends the READ, whose CQE still comes, with the bytes.
fn read_outlives_its_thread() -> Result<bool, Errno> {
    let (read_end, write_end) = rt::process::pipe(&mut ring().lock())?;
    PIPE_READ.store(read_end as u32, Ordering::Release);
    READY.store(0, Ordering::Release);
    let thread = rt::thread::spawn(&mut ring().lock(), orphan_reader, 0)?;
    rt::thread::join_shared(ring(), thread, MAIN)?;
    if READY.load(Ordering::Acquire) == 0 {
        return Ok(false);
    }
    call(rt::prep::write(write_end, b"still here", 0), MAIN)?;
    let cqe = ring().lock().wait_for(ORPHAN_DATA)?;
    // SAFETY: the READ's CQE is in: nothing writes the buffer any more.
    let buffer = unsafe { &*core::ptr::addr_of!(ORPHAN_BUFFER) };
    Ok(cqe.res == 10 && &buffer[..10] == b"still here")
}

const WAITERS: u64 = 6;
const WAKERS: u64 = 2;
const GENERATIONS: u32 = 40;
static GENERATION: AtomicU32 = AtomicU32::new(0);
static ARRIVED: AtomicU32 = AtomicU32::new(0);
static STOP: AtomicU32 = AtomicU32::new(0);
static OVER_WOKEN: AtomicU32 = AtomicU32::new(0);

/// Waits for each generation in turn, counting in when it comes.
extern "C" fn waiter(_argument: u64, index: u64) -> ! {
    for generation in 1..=GENERATIONS {
        loop {
            let now = GENERATION.load(Ordering::Acquire);
            if now >= generation {
                break;
            }
            let _ = rt::futex::wait(ring(), &GENERATION, now, index as u16);
        }
        ARRIVED.fetch_add(1, Ordering::AcqRel);
    }
    rt::thread::exit()
}

/// Wakes everyone on the word, again and again, until told to stop.
extern "C" fn waker(_argument: u64, index: u64) -> ! {
    while STOP.load(Ordering::Acquire) == 0 {
        match rt::futex::wake(ring(), &GENERATION, u32::MAX, index as u16) {
            Ok(woken) if u64::from(woken) > WAITERS => {
                OVER_WOKEN.fetch_add(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }
    rt::thread::exit()
}

/// Generation after generation, with wakers storming from other CPUs: a
/// lost wake-up leaves a waiter behind and the bounded wait fails.
fn futex_storm() -> Result<bool, Errno> {
    let mut handles = [0i32; (WAITERS + WAKERS) as usize];
    for (i, handle) in handles.iter_mut().enumerate() {
        let entry = if (i as u64) < WAITERS { waiter } else { waker };
        *handle = rt::thread::spawn(&mut ring().lock(), entry, 0)?;
    }
    let mut ok = true;
    for generation in 1..=GENERATIONS {
        GENERATION.store(generation, Ordering::Release);
        rt::futex::wake(ring(), &GENERATION, u32::MAX, MAIN)?;
        let want = generation * WAITERS as u32;
        let mut waited = 0;
        while ARRIVED.load(Ordering::Acquire) < want && waited < 2_000 {
            sleep_ms(1);
            waited += 1;
        }
        ok &= ARRIVED.load(Ordering::Acquire) >= want;
    }
    STOP.store(1, Ordering::Release);
    for handle in handles {
        rt::thread::join_shared(ring(), handle, MAIN)?;
    }
    Ok(ok && OVER_WOKEN.load(Ordering::Acquire) == 0)
}

/// Free frames, once the kernel has finished with what ended: polled
/// until it matches `target` (or holds still), for at most about a second.
fn free_frames(target: Option<u64>) -> u64 {
    let mut last = 0;
    for _ in 0..100 {
        sleep_ms(10);
        let Ok(stats) = rt::stats::mem(&mut ring().lock()) else {
            return 0;
        };
        // The kernel heap's pages count as in use: its slabs keep pages
        // for reuse, which is no leak (its objects are compared apart).
        let free = stats.free_frames
            + (stats.resident_bytes + stats.page_table_bytes) / PAGE
            + stats.heap_frames();
        if Some(free) == target || (target.is_none() && free == last) {
            return free;
        }
        last = free;
    }
    last
}

fn run_inflight_child() -> Result<bool, Errno> {
    let child = rt::process::spawn(&mut ring().lock(), "bin/racetest", b"racetest\0inflight\0")?;
    let status = rt::process::wait(&mut ring().lock(), child)?;
    Ok(status == rt::process::WaitStatus::Exited(0))
}

/// The child runs once to warm the kernel's heap up (its size classes
/// keep the pages they take), then three times measured.
fn process_exit_gives_frames_back() -> Result<bool, Errno> {
    let mut ok = run_inflight_child()?;
    let before = free_frames(None);
    for _ in 0..3 {
        ok &= run_inflight_child()?;
    }
    let after = free_frames(Some(before));
    let _ = writeln!(
        Writer(&mut ring().lock()),
        "racetest: free frames {before} before three exits with ops in flight, {after} after"
    );
    Ok(ok && after == before)
}

/// A NOP that posts no CQE.
fn silent_nop() -> Sqe {
    Sqe {
        flags: SqeFlags::CQE_SKIP_SUCCESS.bits(),
        ..Sqe::new(Opcode::Nop)
    }
}

/// The refiller's progress: 1 once it has filled the SQ, 2 once done.
static FILLED: AtomicU32 = AtomicU32::new(0);

/// Publishes `total` silent NOPs, as fast as the SQ takes them.
extern "C" fn refiller(total: u64, _index: u64) -> ! {
    let (mut published, mut idle) = (0, 0u32);
    while published < total {
        let made = {
            let mut ring = ring().lock();
            while ring.push(&silent_nop()).is_ok() {}
            ring.publish()
        };
        published += u64::from(made);
        FILLED.store(1, Ordering::Release);
        // The SQ is full: retry at once (another CPU may be taking SQEs
        // right now), but now and then let the submitter have the lock
        // and, on one CPU, the CPU.
        idle = if made == 0 { idle + 1 } else { 0 };
        if idle % 1024 == 1023 {
            rt::sync::yield_now();
        }
    }
    FILLED.store(2, Ordering::Release);
    rt::thread::exit()
}

/// One `ring_enter` for `u32::MAX` SQEs while another thread refills the
/// SQ: it takes no more than a full SQ.  (At 1 CPU the refiller cannot
/// run during the call, so only a run with more CPUs can catch a kernel
/// that takes more.)
fn one_enter_takes_at_most_a_full_sq() -> Result<bool, Errno> {
    // The SQ's size: what it holds when empty.
    let entries = {
        let mut ring = ring().lock();
        let mut queued = 0u64;
        while ring.push(&silent_nop()).is_ok() {
            queued += 1;
        }
        ring.submit()?;
        queued
    };
    let thread = rt::thread::spawn(&mut ring().lock(), refiller, 8 * entries)?;
    while FILLED.load(Ordering::Acquire) == 0 {
        core::hint::spin_loop();
    }
    let taken = rt::syscall::ring_enter(0, u32::MAX, 0, 0);
    // What the refiller publishes after the call goes in here: the SQ
    // must have room for the join.
    while FILLED.load(Ordering::Acquire) != 2 {
        ring().lock().submit()?;
        // The lock spins, then yields: a submitter that takes it again at
        // once, and is mostly preempted holding it, can starve the
        // refiller on one CPU.
        rt::sync::yield_now();
    }
    ring().lock().submit()?;
    rt::thread::join_shared(ring(), thread, MAIN)?;
    Ok((1..=entries as i64).contains(&taken))
}

static BLOCK: AtomicU32 = AtomicU32::new(0);

extern "C" fn blocked(_argument: u64, index: u64) -> ! {
    let _ = rt::futex::wait(ring(), &BLOCK, 0, index as u16);
    rt::thread::exit()
}

/// The `inflight` child: everything in flight, then exit.
fn inflight() -> i32 {
    static HOUR: abi::Timespec = abi::Timespec::from_ns(3_600_000_000_000);
    let run = || -> Result<(), Errno> {
        let buffer = mmap(64)?;
        for page in 0..64 {
            // SAFETY: the page is in the mapping just made.
            unsafe { ((buffer + page * PAGE) as *mut u8).write_volatile(1) };
        }
        let (read_end, _write_end) = rt::process::pipe(&mut ring().lock())?;
        for i in 0..300u64 {
            let sqe = if i % 6 == 0 {
                // SAFETY: the kernel writes these pages, the child never
                // reads them again.
                let target = unsafe {
                    core::slice::from_raw_parts_mut((buffer + (i % 64) * PAGE) as *mut u8, 64)
                };
                rt::prep::read(read_end, target, 0)
            } else {
                rt::prep::timeout(&HOUR)
            };
            let mut ring = ring().lock();
            if ring
                .push(&Sqe {
                    user_data: i,
                    ..sqe
                })
                .is_err()
            {
                ring.submit()?;
                ring.push(&Sqe {
                    user_data: i,
                    ..sqe
                })?;
            }
        }
        ring().lock().submit()?;
        for _ in 0..8 {
            rt::thread::spawn(&mut ring().lock(), blocked, 0)?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn main() -> i32 {
    if rt::args().nth(1) == Some("inflight") {
        return inflight();
    }
    let mut checks = Checks::new("racetest");
    checks.check(
        "MUNMAP from another thread under a READ: the READ gets its bytes, the MUNMAP completes after it",
        rounds(true),
    );
    checks.check(
        "MPROTECT PROT_NONE from another thread under a READ: the bytes land intact",
        rounds(false),
    );
    checks.check(
        "a READ submitted by a thread that then exits still completes, with its bytes",
        read_outlives_its_thread() == Ok(true),
    );
    checks.check(
        "FUTEX_WAKE storms from other CPUs lose no wake-up and never wake more than wait",
        futex_storm() == Ok(true),
    );
    checks.check(
        "a process exiting with timeouts, READs, blocked threads and touched pages gives back every frame",
        process_exit_gives_frames_back() == Ok(true),
    );
    checks.check(
        "one ring_enter takes at most a full SQ while another thread refills it",
        one_enter_takes_at_most_a_full_sq() == Ok(true),
    );
    checks.report(&mut ring().lock())
}
