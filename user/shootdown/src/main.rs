//! `shootdown [READERS] [ROUNDS]`: TLB shootdown, checked and measured.
//! READERS threads (3 by default: one per other CPU of a 4-CPU machine)
//! spin in user mode, so the CPUs they run on have this address space
//! loaded, while the main thread maps a page, touches it and unmaps it,
//! ROUNDS times (200 by default).  It reports the mean TSC ticks of that
//! mmap + touch + munmap: the unmap must shoot the page down on the
//! readers' CPUs and await their acknowledgements.
//!
//! Each round the readers read the page, so their TLBs hold its
//! translation; the next round maps a new frame at the same address (the
//! old frame goes to a decoy mapping), and every reader must see the new
//! round's value.  A reader that sees anything
//! else read through a translation the unmap left behind: the shootdown
//! is broken, and the program fails.  Exit status: 0, or the number of
//! stale reads (at most 100), or 101 and up when an op failed.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, MapFlags, ProtFlags, Sqe};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use rt::Mutex;
use rt::io::Writer;
use rt::measure::ticks;
use rt::ring::Ring;
use rt::sync::yield_now;

rt::entry!(main);

const PAGE: u64 = 4096;
const MAX_READERS: u64 = 15;

/// The round the readers are to check (0: none yet; `u64::MAX`: stop).
static ROUND: AtomicU64 = AtomicU64::new(0);
/// The page the round's value is in.
static PAGE_ADDRESS: AtomicU64 = AtomicU64::new(0);
/// Readers that checked the current round.
static CHECKED: AtomicU64 = AtomicU64::new(0);
/// Readers running.
static RUNNING: AtomicU64 = AtomicU64::new(0);
static STALE_READS: AtomicU64 = AtomicU64::new(0);

fn ring() -> &'static Mutex<Ring> {
    rt::ring::shared().unwrap_or_else(|_| rt::exit(102))
}

/// A reader: spins in user mode until a new round, reads the page, and
/// reports.  It never enters the kernel between rounds of its own accord:
/// every return to user mode through the CPU loop reloads CR3, which
/// would flush the translation the check looks for (on one CPU the timer
/// lets the main thread run).
extern "C" fn reader(_argument: u64, _index: u64) -> ! {
    RUNNING.fetch_add(1, Ordering::AcqRel);
    let mut seen = 0;
    loop {
        let round = ROUND.load(Ordering::Acquire);
        if round == u64::MAX {
            break;
        }
        if round == seen {
            core::hint::spin_loop();
            continue;
        }
        let page = PAGE_ADDRESS.load(Ordering::Acquire) as *const u64;
        // SAFETY: the main thread keeps the page mapped until every reader
        // has counted itself in `CHECKED` for this round.
        let value = unsafe { page.read_volatile() };
        if value != round {
            STALE_READS.fetch_add(1, Ordering::AcqRel);
        }
        seen = round;
        CHECKED.fetch_add(1, Ordering::AcqRel);
    }
    RUNNING.fetch_sub(1, Ordering::AcqRel);
    rt::thread::exit()
}

fn op(sqe: &Sqe) -> Result<u32, Errno> {
    rt::ring::call(ring(), sqe, 0)
}

fn map_page(at: u64) -> Result<u64, Errno> {
    let mut out = 0;
    let prot = ProtFlags::READ.bits() | ProtFlags::WRITE.bits();
    let flags = match at {
        0 => MapFlags::PRIVATE.bits(),
        _ => MapFlags::PRIVATE.bits() | MapFlags::FIXED.bits(),
    };
    op(&rt::prep::mmap_anonymous(
        at,
        PAGE as u32,
        prot,
        flags,
        &mut out,
    ))?;
    Ok(out)
}

fn write(at: u64, value: u64) {
    // SAFETY: `at` is a page this thread mapped read-write.
    unsafe { (at as *mut u64).write_volatile(value) };
}

/// Pages of each decoy: enough to take the frames the last unmap freed.
const DECOY_PAGES: u64 = 16;

/// Maps `DECOY_PAGES` pages and fills each with a value no round has.
fn map_decoy() -> Result<u64, Errno> {
    let mut out = 0;
    let prot = ProtFlags::READ.bits() | ProtFlags::WRITE.bits();
    let len = (DECOY_PAGES * PAGE) as u32;
    op(&rt::prep::mmap_anonymous(
        0,
        len,
        prot,
        MapFlags::PRIVATE.bits(),
        &mut out,
    ))?;
    for page in 0..DECOY_PAGES {
        write(out + page * PAGE, u64::MAX - 1);
    }
    Ok(out)
}

/// Runs the rounds; returns the mean ticks of their mmap + touch + munmap.
///
/// After a round's page is unmapped, a decoy takes the frames just freed
/// (so the next round's page gets another one) and keeps them, filled with
/// a value no round has, until the readers have checked the next round: a
/// reader whose TLB kept the old translation reads the decoy's value.
fn rounds(count: u64, readers: u64) -> Result<u64, Errno> {
    let mut at = 0;
    let mut total = 0;
    let mut decoy = None;
    for round in 1..=count {
        let start = ticks();
        at = map_page(at)?;
        write(at, round);
        let touched = ticks();
        PAGE_ADDRESS.store(at, Ordering::Release);
        CHECKED.store(0, Ordering::Release);
        ROUND.store(round, Ordering::Release);
        while CHECKED.load(Ordering::Acquire) < readers {
            yield_now();
        }
        let unmap = ticks();
        op(&rt::prep::munmap(at, PAGE as u32))?;
        total += (touched - start) + (ticks() - unmap);
        if let Some(old) = decoy.take() {
            op(&rt::prep::munmap(old, (DECOY_PAGES * PAGE) as u32))?;
        }
        decoy = Some(map_decoy()?);
    }
    Ok(total / count)
}

fn main() -> i32 {
    let mut args = rt::args().skip(1).map(|text| text.parse::<u64>().ok());
    let readers = args.next().flatten().unwrap_or(3).min(MAX_READERS);
    let count = args.next().flatten().filter(|&n| n > 0).unwrap_or(200);
    let shared = ring();
    for _ in 0..readers {
        if rt::thread::spawn(&mut shared.lock(), reader, 0).is_err() {
            return 103;
        }
    }
    while RUNNING.load(Ordering::Acquire) < readers {
        yield_now();
    }
    let result = rounds(count, readers);
    ROUND.store(u64::MAX, Ordering::Release);
    while RUNNING.load(Ordering::Acquire) > 0 {
        yield_now();
    }
    let stale = STALE_READS.load(Ordering::Acquire);
    let mut out = Writer(&mut shared.lock());
    match result {
        Err(errno) => {
            let _ = writeln!(out, "shootdown: FAIL: an op failed: {errno}");
            101
        }
        Ok(_) if stale > 0 => {
            let _ = writeln!(
                out,
                "shootdown: FAIL: {stale} reads through a stale translation"
            );
            stale.min(100) as i32
        }
        Ok(cost) => {
            let _ = writeln!(
                out,
                "shootdown: {cost} ticks per mmap+touch+munmap of a page, {readers} other threads of the space running; {count} rounds, no stale read"
            );
            0
        }
    }
}
