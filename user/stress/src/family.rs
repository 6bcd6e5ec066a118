//! New processes from inside the stress: a fork (SPACE_CLONE, while the
//! other threads keep faulting and unmapping on other CPUs) whose child
//! checks its copy of the thread's private pages, writes them (copy-on-
//! write faults) and checks again, and whose parent then checks that
//! none of the child's writes reached it; and a spawned leaf process
//! that faults pages in, leaves a thread blocked and a READ and a
//! TIMEOUT in flight, and exits with a status the spawner checks while
//! two more of its threads map, touch and unmap pages on other CPUs.

use crate::counts::{Kind, mix};
use crate::private;
use crate::worker::{COUNTS, Worker, ring};
use abi::Errno;
use core::sync::atomic::AtomicU32;
use rt::mm::{PAGE, PRIVATE, RW};
use rt::process::{Forked, WaitStatus};

/// What a fork child exits with when its copy was wrong.
const BAD_COPY: i32 = 3;

pub fn fork(worker: &mut Worker) {
    if worker.private.addr == 0 || worker.private.touched == 0 {
        return private::touch(worker);
    }
    let forked = {
        let mut ring = ring().lock();
        match rt::process::fork(&mut ring) {
            // Only this thread lives in the child, and it never unlocks
            // its copy of the ring: it only touches memory, then exits.
            Ok(Forked::Child) => rt::exit(child(worker)),
            other => other,
        }
    };
    let handle = match forked {
        Ok(Forked::Parent(handle)) => handle,
        Ok(Forked::Child) => return,
        Err(errno) => return worker.fail(format_args!("fork: {errno:?}")),
    };
    COUNTS.add(Kind::Forks, 1);
    COUNTS.add(Kind::Ops, 1);
    let status = worker
        .call(rt::prep::wait(handle))
        .map(WaitStatus::from_raw);
    if status != Ok(WaitStatus::Exited(0)) {
        worker.fail(format_args!("fork child ended {status:?}"));
    }
    if !private::intact(worker) {
        worker.fail(format_args!("the fork child's writes reached the parent"));
    }
}

/// The fork child: its copy must hold the parent's pattern; then it
/// writes its own (a copy-on-write fault per page) and checks it.
fn child(worker: &Worker) -> i32 {
    if !private::intact(worker) {
        return BAD_COPY;
    }
    let tag = !private::tag(worker);
    for page in 0..worker.private.touched {
        private::fill(worker.private.addr, page, tag);
    }
    let copied = (0..worker.private.touched)
        .all(|page| private::check(worker.private.addr, page, tag).is_none());
    if copied { 0 } else { BAD_COPY + 1 }
}

pub fn spawn_leaf(worker: &mut Worker) {
    let code = 1 + worker.random.below(99) as u8;
    let mut argv = *b"stress\0leaf\0..\0";
    argv[12] = b'0' + code / 10;
    argv[13] = b'0' + code % 10;
    let spawned = rt::process::spawn(&mut ring().lock(), "bin/stress", &argv);
    COUNTS.add(Kind::Ops, 1);
    let handle = match spawned {
        Ok(handle) => handle,
        Err(errno) => return worker.fail(format_args!("PROCESS_SPAWN of a leaf: {errno:?}")),
    };
    COUNTS.add(Kind::Spawns, 1);
    let status = worker
        .call(rt::prep::wait(handle))
        .map(WaitStatus::from_raw);
    if status != Ok(WaitStatus::Exited(i32::from(code))) {
        worker.fail(format_args!(
            "leaf expected to exit {code} ended {status:?}"
        ));
    }
}

static BLOCK: AtomicU32 = AtomicU32::new(0);

extern "C" fn blocked(_argument: u64, index: u64) -> ! {
    let _ = rt::futex::wait(ring(), &BLOCK, 0, index as u16);
    rt::thread::exit()
}

/// Maps, touches and unmaps pages until the process ends under it.
extern "C" fn churn(_argument: u64, index: u64) -> ! {
    let me = index as u16;
    loop {
        let mut addr = 0;
        let sqe = rt::prep::mmap_anonymous(0, (4 * PAGE) as u32, RW, PRIVATE, &mut addr);
        if rt::ring::call(ring(), &sqe, me).is_err() {
            continue;
        }
        for page in 0..4 {
            // SAFETY: the page is in the mapping just made, this thread's.
            unsafe { ((addr + page * PAGE) as *mut u64).write_volatile(mix(page)) };
        }
        let _ = rt::ring::call(ring(), &rt::prep::munmap(addr, (4 * PAGE) as u32), me);
    }
}

/// `stress leaf CODE`: faults pages in, leaves work in flight, exits CODE.
pub fn leaf(code: i32) -> i32 {
    static HOUR: abi::Timespec = abi::Timespec::from_ns(3_600_000_000_000);
    let run = || -> Result<(), Errno> {
        let addr = rt::mm::map_anonymous(&mut ring().lock(), 8 * PAGE, RW, PRIVATE)?;
        for page in 0..8 {
            // SAFETY: the page is in the mapping just made.
            unsafe { ((addr + page * PAGE) as *mut u64).write_volatile(mix(page)) };
        }
        let mut ring = ring().lock();
        let (read_end, _write_end) = rt::process::pipe(&mut ring)?;
        // SAFETY: the kernel writes this page, the leaf never reads it.
        let target = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, 64) };
        ring.push(&rt::prep::read(read_end, target, 0))?;
        ring.push(&rt::prep::timeout(&HOUR))?;
        ring.submit()?;
        rt::thread::spawn(&mut ring, blocked, 0)?;
        rt::thread::spawn(&mut ring, churn, 0)?;
        rt::thread::spawn(&mut ring, churn, 0)?;
        drop(ring);
        // Let the churning threads get going on other CPUs.
        rt::thread::sleep(crate::worker::ring(), 1_000_000, 0);
        Ok(())
    };
    match run() {
        Ok(()) => code,
        Err(_) => 100,
    }
}
