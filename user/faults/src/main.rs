//! `faults [PAGES]`: demand paging, and what it costs.  Maps PAGES pages of
//! anonymous memory (1,024 by default), touches each once, and reports the
//! mean TSC ticks per page (guest instructions under `-icount shift=0`):
//! the fault, the zeroing of the frame, the mapping and the return to the
//! faulting instruction.  Eight rounds, each a fresh MMAP, then MUNMAP.
//!
//! It also checks what it measures, so a broken fault path fails it (never
//! a slow one): every page reads zero when first touched, keeps what was
//! written to it, and becomes resident only when touched.  Exit status:
//! the number of problems found.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, MapFlags, ProtFlags, Sqe};
use core::fmt::Write;
use rt::io::Writer;
use rt::measure::ticks;
use rt::ring::Ring;

rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 1024;
const ROUNDS: u64 = 8;

/// Submits `sqe` and waits for its result.
fn res(ring: &mut Ring, mut sqe: Sqe) -> Result<u32, Errno> {
    sqe.user_data = 0xfa;
    ring.push(&sqe)?;
    ring.submit()?;
    rt::ring::result(&ring.wait_for(0xfa)?)
}

fn resident(ring: &mut Ring) -> Result<u64, Errno> {
    rt::stats::mem(ring).map(|stats| stats.resident_bytes)
}

/// One round: map, touch every page (timed), check, unmap.  Returns the
/// ticks the touches took, or what went wrong.
fn round(ring: &mut Ring, pages: u64) -> Result<u64, &'static str> {
    let len = u32::try_from(pages * PAGE).map_err(|_| "too many pages")?;
    let mut base = 0u64;
    let prot = ProtFlags::READ.bits() | ProtFlags::WRITE.bits();
    res(
        ring,
        rt::prep::mmap_anonymous(0, len, prot, MapFlags::PRIVATE.bits(), &mut base),
    )
    .map_err(|_| "MMAP failed")?;
    let before = resident(ring).map_err(|_| "MEM_STATS failed")?;
    let start = ticks();
    for page in 0..pages {
        let byte = (base + page * PAGE) as *mut u8;
        // SAFETY: the page lies in the read-write mapping made above.
        unsafe { byte.write_volatile(page as u8 | 1) };
    }
    let elapsed = ticks() - start;
    let after = resident(ring).map_err(|_| "MEM_STATS failed")?;
    let mut problem = None;
    if after.saturating_sub(before) != pages * PAGE {
        problem = Some("resident memory did not grow by the pages touched");
    }
    for page in 0..pages {
        let at = base + page * PAGE;
        // SAFETY: as above; every page is mapped now.
        let (first, last) = unsafe {
            (
                (at as *const u8).read_volatile(),
                ((at + PAGE - 1) as *const u8).read_volatile(),
            )
        };
        if first != page as u8 | 1 || last != 0 {
            problem = Some("a page did not keep its byte or was not zeroed");
        }
    }
    res(ring, rt::prep::munmap(base, len)).map_err(|_| "MUNMAP failed")?;
    match problem {
        Some(problem) => Err(problem),
        None => Ok(elapsed),
    }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let pages = rt::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .filter(|&pages: &u64| pages > 0)
        .unwrap_or(PAGES);
    let mut total = 0;
    for _ in 0..ROUNDS {
        match round(&mut ring, pages) {
            Ok(elapsed) => total += elapsed,
            Err(problem) => {
                let _ = writeln!(Writer(&mut ring), "faults: FAIL: {problem}");
                return 1;
            }
        }
    }
    let _ = writeln!(
        Writer(&mut ring),
        "faults: {} ticks per page, zeroing included ({pages} pages, {ROUNDS} rounds)",
        total / (ROUNDS * pages)
    );
    0
}
