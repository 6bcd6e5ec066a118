//! `cow`: fork (SPACE_CLONE and the runtime's `fork`), then write and
//! compare.  The child sees the parent's memory as it was, its writes copy
//! the pages (each copy timed: the copy-on-write fault cost), and neither
//! sees the other's writes, except in `MAP_SHARED` memory.  A page an op
//! holds pinned at the fork (a READ in flight into it) is copied for the
//! child at once: the READ's data lands in the parent's page only.  Prints
//! a line per check and exits with the number that failed.
//!
//! `cow big MIB` forks a process with `MIB` MiB touched (the harness runs
//! it with 600 in a 1 GiB guest): a fork once listed every page of the
//! space in one heap block, which past 512 MiB no block could hold (a
//! kernel panic).  `cow unmap MIB` touches `MIB` MiB and unmaps it in one
//! MUNMAP (the harness runs 2,200 in a 3 GiB guest): the frames to free
//! were listed in one heap block too, which past 2 GiB no block could
//! hold.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::file::VmRegion;
use abi::{Errno, Sqe};
use core::fmt::Write;
use rt::checks::Checks;
use rt::io::Writer;
use rt::mm::{PRIVATE, RW, SHARED};
use rt::process::{self, Forked, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

const PAGE: usize = rt::mm::PAGE as usize;
/// Pages of private memory the child writes.
const PAGES: usize = 16;
/// What the parent's READ receives while the child exists.
const MESSAGE: &[u8; 16] = b"for-parent-only!";
/// The MSG_RING that tells the child the parent's READ is done.
const READ_DONE: u64 = 0xfeed;
const READ_TAG: u64 = 77;

fn ticks() -> u64 {
    // SAFETY: RDTSC has no preconditions.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Anonymous memory of `len` bytes, `flags` `PRIVATE` or `SHARED`.
fn map(ring: &mut Ring, len: usize, flags: u32) -> Result<&'static mut [u8], Errno> {
    let addr = rt::mm::map_anonymous(ring, len as u64, RW, flags)?;
    // SAFETY: the kernel just mapped `len` bytes at `addr` for this
    // process; nothing else refers to them.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) })
}

/// The VM_QUERY record of the region starting at `start`.
fn region(ring: &mut Ring, start: usize) -> Option<VmRegion> {
    let mut records = [VmRegion::default(); 24];
    let count = rt::mm::regions(ring, &mut records).ok()?;
    records[..count]
        .iter()
        .copied()
        .find(|record| record.start == start as u64)
}

fn free_frames(ring: &mut Ring) -> u64 {
    rt::stats::mem(ring).map_or(0, |stats| stats.free_frames)
}

/// `cow big MIB`: touches `MIB` MiB, forks; the child reads a byte of
/// each MiB back and exits 0 if all are there.
fn fork_a_big_space(ring: &mut Ring, mib: usize) -> i32 {
    let Ok(memory) = map(ring, mib << 20, PRIVATE) else {
        return 101;
    };
    for page in memory.chunks_mut(PAGE) {
        page[0] = b'B';
    }
    let child = process::in_child(ring, |_| {
        i32::from(!memory.chunks(1 << 20).all(|mib| mib[0] == b'B'))
    });
    let _ = writeln!(Writer(ring), "cow: fork of {mib} MiB touched: {child:?}");
    i32::from(child != Ok(WaitStatus::Exited(0)))
}

/// `cow unmap MIB`: touches `MIB` MiB, unmaps it with one MUNMAP, and
/// exits 0 if every frame came back: free frames rise by at least the
/// pages touched, counting the frames the kernel heap took meanwhile (a
/// slab page for the MUNMAP's own task).
fn unmap_a_big_space(ring: &mut Ring, mib: usize) -> i32 {
    let Ok(memory) = map(ring, mib << 20, PRIVATE) else {
        return 101;
    };
    for page in memory.chunks_mut(PAGE) {
        page[0] = b'U';
    }
    // Free frames plus the heap's: what user memory gives back.
    let available = |ring: &mut Ring| {
        rt::stats::mem(ring).map_or(0, |stats| stats.free_frames + stats.heap_frames())
    };
    let before = available(ring);
    let (addr, len) = (memory.as_ptr() as u64, memory.len() as u64);
    let unmapped = rt::mm::unmap(ring, addr, len);
    let back = available(ring).saturating_sub(before);
    let pages = (mib << 20) / PAGE;
    let _ = writeln!(
        Writer(ring),
        "cow: one MUNMAP of {mib} MiB touched: {unmapped:?}, {back} frames back for {pages} pages"
    );
    i32::from(unmapped.is_err() || back < pages as u64)
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let mut args = rt::args().skip(1);
    let mode = args.next();
    let mib = args.next().and_then(|text| text.parse().ok());
    match mode {
        Some("big") => return fork_a_big_space(&mut ring, mib.unwrap_or(600)),
        Some("unmap") => return unmap_a_big_space(&mut ring, mib.unwrap_or(2200)),
        _ => {}
    }
    let (Ok(private), Ok(shared), Ok(pinned)) = (
        map(&mut ring, PAGES * PAGE, PRIVATE),
        map(&mut ring, PAGE, SHARED),
        map(&mut ring, PAGE, PRIVATE),
    ) else {
        return 101;
    };
    private.fill(b'P');
    shared[0] = 1;
    pinned.fill(b'-');
    let on_stack = core::hint::black_box([b'S'; 64]);
    // A READ into `pinned` waits on an empty pipe across the fork.
    let Ok((read_end, write_end)) = process::pipe(&mut ring) else {
        return 102;
    };
    let mut read = rt::prep::read(read_end, &mut pinned[..MESSAGE.len()], u64::MAX);
    read.user_data = READ_TAG;
    if ring.push(&read).is_err() || ring.submit().is_err() {
        return 103;
    }

    let before = ticks();
    let forked = process::fork(&mut ring);
    let fork_ticks = ticks() - before;
    match forked {
        Ok(Forked::Child) => child(&mut ring, private, shared, pinned, &on_stack),
        Ok(Forked::Parent(handle)) => parent(
            &mut ring, handle, private, shared, pinned, write_end, fork_ticks,
        ),
        Err(errno) => {
            let _ = writeln!(Writer(&mut ring), "cow: FAIL fork: {errno}");
            104
        }
    }
}

fn child(
    ring: &mut Ring,
    private: &mut [u8],
    shared: &mut [u8],
    pinned: &[u8],
    on_stack: &[u8; 64],
) -> i32 {
    let mut checks = Checks::new("cow child");
    checks.check(
        "the child sees the parent's memory as it was",
        private.iter().all(|&byte| byte == b'P') && on_stack.iter().all(|&byte| byte == b'S'),
    );
    let start = private.as_ptr() as usize;
    let marked = region(ring, start);
    checks.check(
        "VM_QUERY shows every written page shared copy-on-write",
        marked.is_some_and(|r| {
            r.cow_pages == PAGES as u64
                && r.flags & abi::file::VM_COW != 0
                && r.resident_pages == PAGES as u64
        }),
    );
    let dirty = |ring: &mut Ring| rt::stats::mem(ring).map_or(0, |s| s.private_dirty_bytes);
    let dirty_before = dirty(ring);
    let before = ticks();
    for page in 0..PAGES {
        private[page * PAGE] = b'C';
    }
    let per_page = (ticks() - before) / PAGES as u64;
    checks.check(
        "MEM_STATS counts the copies as this process's private dirty memory",
        dirty(ring) == dirty_before + (PAGES * PAGE) as u64,
    );
    let _ = writeln!(
        Writer(ring),
        "cow: a copy-on-write fault costs {per_page} ticks per page (copy included)"
    );
    checks.check(
        "the child's writes land",
        (0..PAGES).all(|page| private[page * PAGE] == b'C' && private[page * PAGE + 1] == b'P'),
    );
    checks.check(
        "after the copies the pages are the child's own",
        region(ring, start)
            .is_some_and(|r| r.cow_pages == 0 && r.private_dirty_pages == PAGES as u64),
    );
    shared[0] = 42;
    // The parent tells us once its READ has its data.
    let told = ring.wait_for(READ_DONE).is_ok();
    checks.check(
        "a page pinned at the fork was copied: the parent's READ did not land here",
        told && pinned[..MESSAGE.len()].iter().all(|&byte| byte == b'-'),
    );
    checks.report(ring)
}

fn parent(
    ring: &mut Ring,
    handle: i32,
    private: &mut [u8],
    shared: &mut [u8],
    pinned: &[u8],
    write_end: i32,
    fork_ticks: u64,
) -> i32 {
    let mut checks = Checks::new("cow");
    let _ = writeln!(Writer(ring), "cow: fork took {fork_ticks} ticks");
    checks.check(
        "the parent writes into the pipe",
        rt::io::write_with(ring, write_end, MESSAGE) == Ok(MESSAGE.len()),
    );
    let landed = ring
        .wait_for(READ_TAG)
        .ok()
        .and_then(|cqe| rt::ring::result(&cqe).ok());
    checks.check(
        "the READ in flight across the fork lands in the parent's page",
        landed == Some(MESSAGE.len() as u32) && &pinned[..MESSAGE.len()] == MESSAGE,
    );
    checks.check(
        "the child is told",
        process::msg_ring(ring, handle, READ_DONE, 0).is_ok(),
    );
    checks.check(
        "the child exits with every check passed",
        process::wait(ring, handle) == Ok(WaitStatus::Exited(0)),
    );
    checks.check(
        "the child's writes to private memory stay the child's",
        private.iter().all(|&byte| byte == b'P'),
    );
    checks.check(
        "a MAP_SHARED page is shared: the child's write shows",
        shared[0] == 42,
    );
    // The child is gone: this space is the last owner of every page, so
    // its writes take the pages over in place, with no copy.
    let start = private.as_ptr() as usize;
    let frames = free_frames(ring);
    for page in 0..PAGES {
        private[page * PAGE] = b'Q';
    }
    checks.check(
        "the last owner's writes copy nothing",
        free_frames(ring) == frames
            && region(ring, start)
                .is_some_and(|r| r.cow_pages == 0 && r.private_dirty_pages == PAGES as u64),
    );
    checks.check(
        "a fork of a fork works, and statuses come back",
        nested(ring) == Some(WaitStatus::Exited(7)),
    );
    checks.check(
        "forks while a sibling thread writes: no write after a fork reaches its child",
        race(ring),
    );
    checks.check(
        "a MUNMAP completes while another process's WRITE still reads the shared page",
        munmap_under_a_childs_pin(ring) == Ok(true),
    );
    checks.report(ring)
}

/// Forks a child whose pipe WRITE from a page it shares copy-on-write
/// with this process waits (the pipe is full), then unmaps the page here
/// under a 1 s LINK_TIMEOUT: the MUNMAP must complete.  It once waited
/// for every pin on the page, the child's too: another process could hold
/// this one's MUNMAP for as long as it liked.
fn munmap_under_a_childs_pin(ring: &mut Ring) -> Result<bool, Errno> {
    let page = map(ring, PAGE, PRIVATE)?;
    page.fill(b'W');
    let flag = map(ring, PAGE, SHARED)?;
    let (read_end, write_end) = process::pipe(ring)?;
    let child = match process::fork(ring)? {
        Forked::Child => {
            // Its copy of the read end goes, so the parent's close ends the
            // pipe; 16 pages fill it, and the 17th WRITE waits for room.
            rt::fs::close(ring, read_end)?;
            for _ in 0..17 {
                ring.push(&Sqe {
                    fd: write_end,
                    addr: page.as_ptr() as u64,
                    len: PAGE as u32,
                    off: u64::MAX,
                    ..Sqe::new(abi::Opcode::Write)
                })?;
            }
            ring.submit()?;
            flag[0] = 1;
            // Ends when the parent closes the read end (EPIPE).
            while ring.wait().is_ok_and(|cqe| cqe.res > 0) {}
            rt::syscall::exit(0)
        }
        Forked::Parent(child) => child,
    };
    // SAFETY: a byte of a MAP_SHARED page this process mapped, which the
    // child writes; read as volatile so each turn loads it.
    while unsafe { core::ptr::read_volatile(&flag[0]) } == 0 {
        core::hint::spin_loop();
    }
    let one_second = abi::Timespec::from_ns(1_000_000_000);
    let munmap = Sqe {
        flags: abi::SqeFlags::IO_LINK.bits(),
        user_data: 0x4d55,
        ..rt::prep::munmap(page.as_ptr() as u64, PAGE as u32)
    };
    ring.push(&munmap)?;
    ring.push(&rt::prep::link_timeout(&one_second))?;
    ring.submit()?;
    let unmapped = ring.wait_for(0x4d55)?.res;
    rt::fs::close(ring, read_end)?;
    rt::fs::close(ring, write_end)?;
    let status = process::wait(ring, child)?;
    Ok(unmapped == 0 && status == WaitStatus::Exited(0))
}

/// Forks a child that forks a grandchild exiting 7, and passes it on.
fn nested(ring: &mut Ring) -> Option<WaitStatus> {
    match process::fork(ring).ok()? {
        Forked::Child => {
            let status = match process::fork(ring) {
                Ok(Forked::Child) => rt::syscall::exit(7),
                Ok(Forked::Parent(grandchild)) => process::wait(ring, grandchild),
                Err(_) => rt::syscall::exit(1),
            };
            match status {
                Ok(WaitStatus::Exited(code)) => rt::syscall::exit(code),
                _ => rt::syscall::exit(2),
            }
        }
        Forked::Parent(child) => process::wait(ring, child).ok(),
    }
}

/// The page a sibling thread keeps writing during [`race`]: a counter, and
/// a flag that stops it.
struct Race {
    counter: core::sync::atomic::AtomicU64,
    stop: core::sync::atomic::AtomicBool,
}

static RACE: Race = Race {
    counter: core::sync::atomic::AtomicU64::new(0),
    stop: core::sync::atomic::AtomicBool::new(false),
};

extern "C" fn writer(_: u64, _: u64) -> ! {
    use core::sync::atomic::Ordering;
    while !RACE.stop.load(Ordering::Relaxed) {
        RACE.counter.fetch_add(1, Ordering::Relaxed);
    }
    rt::thread::exit()
}

/// Forks a few times while a sibling thread (on another CPU when there is
/// one) increments a counter as fast as it can.  Each child reads the
/// counter, waits, and reads it again: it must not have moved, or a write
/// of the parent's thread reached a page the child already shared (a stale
/// writable TLB entry the clone's shootdown missed).
fn race(ring: &mut Ring) -> bool {
    use core::sync::atomic::Ordering;
    let Ok(thread) = rt::thread::spawn(ring, writer, 0) else {
        return false;
    };
    // Let it start.
    let start = RACE.counter.load(Ordering::Relaxed);
    let began = ticks();
    while RACE.counter.load(Ordering::Relaxed) == start && ticks() - began < 5_000_000_000 {
        core::hint::spin_loop();
    }
    let mut all_still = RACE.counter.load(Ordering::Relaxed) != start;
    for _ in 0..8 {
        let status = match process::fork(ring) {
            Ok(Forked::Child) => {
                let first = RACE.counter.load(Ordering::Relaxed);
                let began = ticks();
                while ticks() - began < 2_000_000 {
                    core::hint::spin_loop();
                }
                let moved = RACE.counter.load(Ordering::Relaxed) != first;
                rt::syscall::exit(i32::from(moved))
            }
            Ok(Forked::Parent(child)) => process::wait(ring, child),
            Err(errno) => Err(errno),
        };
        all_still &= status == Ok(WaitStatus::Exited(0));
    }
    RACE.stop.store(true, Ordering::Relaxed);
    all_still && rt::thread::join(ring, thread).is_ok()
}
