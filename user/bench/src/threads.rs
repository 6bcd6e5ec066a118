//! The thread rows: create and join, the kernel bytes of a blocked
//! thread, and how many blocked threads fit in the machine.

use crate::{ring, say};
use abi::{MapFlags, Opcode, ProtFlags, Sqe};
use core::sync::atomic::{AtomicU32, Ordering};
use rt::measure::ticks;
use rt::process::{PARENT_RING, WaitStatus};

const SPAWN_ROUNDS: u64 = 200;
const BLOCKED_THREADS: u64 = 10_000;
/// Threads per process in `maxthreads`: the kernel allows 65,536 per
/// process, so the machine's limit takes several processes.
const THREADS_PER_CHILD: u32 = 60_000;
/// A child reports its count to the parent every this many threads.
const REPORT_EVERY: u32 = 256;
const PAGE: u64 = 4096;

/// Stays 0: blocked threads wait on it until the process ends (or, in
/// `blocked_bytes`, until it is set).
static GATE: AtomicU32 = AtomicU32::new(0);

extern "C" fn returns(_argument: u64, _index: u64) -> ! {
    rt::thread::exit()
}

extern "C" fn blocks(_argument: u64, index: u64) -> ! {
    // Thread indices above u16 cannot take a delivered result; the kernel
    // caps a process below that.
    while GATE.load(Ordering::Acquire) == 0 {
        let _ = rt::futex::wait(ring(), &GATE, 0, index as u16);
    }
    rt::thread::exit()
}

/// THREAD_SPAWN then WAIT for a thread that exits at once.
pub fn create_and_join() -> bool {
    let mut start = 0;
    for round in 0..SPAWN_ROUNDS + 10 {
        if round == 10 {
            start = ticks();
        }
        // The ring's lock is let go before the join blocks.
        let spawned = rt::thread::spawn(&mut ring().lock(), returns, 0);
        let joined = spawned.and_then(|handle| rt::thread::join_shared(ring(), handle, 0));
        if joined.is_err() {
            say(format_args!("bench: FAIL: thread create and join\n"));
            return false;
        }
    }
    say(format_args!(
        "bench: thread create and join: {} ticks\n",
        (ticks() - start) / SPAWN_ROUNDS
    ));
    true
}

/// MEM_STATS's kernel heap plus page tables: what Linux's KernelStack +
/// Slab + PageTables count.
fn kernel_bytes() -> Option<(u64, u64)> {
    let stats = rt::stats::mem(&mut ring().lock()).ok()?;
    Some((
        stats.heap_bytes_allocated + stats.page_table_bytes,
        stats.parked_threads,
    ))
}

/// The growth of the kernel's memory over 10,000 threads blocked on a
/// futex, per thread; then they are woken and joined.
pub fn blocked_bytes() -> bool {
    static HANDLES: rt::Mutex<[i32; BLOCKED_THREADS as usize]> =
        rt::Mutex::new([0; BLOCKED_THREADS as usize]);
    let Some((before, parked_before)) = kernel_bytes() else {
        return false;
    };
    for index in 0..BLOCKED_THREADS as usize {
        let spawned = rt::thread::spawn(&mut ring().lock(), blocks, 0);
        match spawned {
            Ok(handle) => HANDLES.lock()[index] = handle,
            Err(errno) => {
                say(format_args!("bench: FAIL: thread {index}: {errno}\n"));
                return false;
            }
        }
    }
    let after = loop {
        let Some((now, parked)) = kernel_bytes() else {
            return false;
        };
        if parked >= parked_before + BLOCKED_THREADS {
            break now;
        }
        rt::thread::sleep(ring(), 1_000_000, 0);
    };
    say(format_args!(
        "bench: blocked thread: {} kernel bytes each (kernel heap + page tables over {BLOCKED_THREADS} threads)\n",
        after.saturating_sub(before) / BLOCKED_THREADS
    ));
    GATE.store(1, Ordering::Release);
    if rt::futex::wake(ring(), &GATE, u32::MAX, 0).is_err() {
        return false;
    }
    let joined = (0..BLOCKED_THREADS as usize)
        .all(|index| rt::thread::join_shared(ring(), HANDLES.lock()[index], 0).is_ok());
    GATE.store(0, Ordering::Release);
    joined
}

/// `user_data` of a child's count reports.
const COUNT: u64 = 0x7c;
/// `user_data` of a child's last report when it filled its share.
const FULL: u64 = 0x7d;
/// `user_data` of a child's last report when THREAD_SPAWN failed.
const FAILED: u64 = 0x7e;
const CHILD_WAIT: u64 = 0x7f;
/// `user_data` of a child's last report when free memory ran low.
const LOW_MEMORY: u64 = 0x80;
/// Free frames below which a child stops: past them a stack fault would
/// find no frame, and killing a process for want of memory needs some
/// (today the kernel panics when `begin_exit` cannot allocate).
const RESERVE_FRAMES: u64 = 2048;

/// `maxthreads`: children of `THREADS_PER_CHILD` blocked threads each,
/// until one cannot start a thread, or free memory runs low (or a child
/// is killed for want of memory).
pub fn max_blocked() -> i32 {
    let mut total = 0u64;
    let mut children = 0;
    loop {
        let mut ring = ring().lock();
        let Ok(child) = rt::process::spawn(&mut ring, "bin/bench", b"bench\0maxchild\0") else {
            break;
        };
        children += 1;
        let wait = Sqe {
            user_data: CHILD_WAIT,
            ..rt::prep::wait(child)
        };
        if ring
            .push(&wait)
            .and_then(|()| ring.submit().map(|_| ()))
            .is_err()
        {
            return 1;
        }
        let mut count = 0;
        let ending = loop {
            let Ok(cqe) = ring.wait() else {
                return 2;
            };
            match cqe.user_data {
                COUNT => count = cqe.res as u64,
                FULL => {
                    count = cqe.res as u64;
                    break "";
                }
                FAILED => {
                    count = cqe.res as u64;
                    break "THREAD_SPAWN failed";
                }
                LOW_MEMORY => {
                    count = cqe.res as u64;
                    break "free memory fell below 8 MiB";
                }
                CHILD_WAIT => match WaitStatus::from_raw(cqe.res as u32) {
                    WaitStatus::Signaled(_) => break "a process was killed for want of memory",
                    WaitStatus::Exited(_) => break "a process ended",
                },
                _ => {}
            }
        };
        total += count;
        if !ending.is_empty() {
            drop(ring);
            say(format_args!(
                "bench: max blocked threads: {total} ({children} processes; then {ending})\n"
            ));
            return 0;
        }
    }
    say(format_args!(
        "bench: max blocked threads: {total} (then PROCESS_SPAWN failed)\n"
    ));
    0
}

/// One child of `maxthreads`: blocked threads on one-page stacks, taken
/// from a `MAP_STACK` mapping that only the touched pages occupy.
pub fn max_child() -> i32 {
    let stacks_len = u64::from(THREADS_PER_CHILD) * PAGE;
    let mut stacks = 0;
    let prot = ProtFlags::READ.bits() | ProtFlags::WRITE.bits();
    let map = rt::prep::mmap_anonymous(
        0,
        stacks_len as u32,
        prot,
        MapFlags::PRIVATE.bits() | MapFlags::STACK.bits(),
        &mut stacks,
    );
    if rt::ring::call(ring(), &map, 0).is_err() {
        return 1;
    }
    let report = |user_data, count| {
        let _ = rt::process::msg_ring(&mut ring().lock(), PARENT_RING, user_data, count);
    };
    for count in 0..THREADS_PER_CHILD {
        let spawn = Sqe {
            addr: blocks as *const () as usize as u64,
            off: stacks + u64::from(count + 1) * PAGE,
            ..Sqe::new(Opcode::ThreadSpawn)
        };
        if rt::ring::call(ring(), &spawn, 0).is_err() {
            report(FAILED, count);
            return 0;
        }
        if (count + 1) % REPORT_EVERY == 0 {
            let free = rt::stats::mem(&mut ring().lock()).map_or(0, |stats| stats.free_frames);
            if free < RESERVE_FRAMES {
                report(LOW_MEMORY, count + 1);
                return 0;
            }
            report(COUNT, count + 1);
        }
    }
    report(FULL, THREADS_PER_CHILD);
    // Hold the threads: this process stays until the machine powers off.
    loop {
        let _ = rt::futex::wait(ring(), &GATE, 0, 0);
    }
}
