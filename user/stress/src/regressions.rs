//! `stress regressions`: deterministic checks for the kernel bugs the
//! stress found, each as small as the bug allows.  Prints a line per
//! check; exits with the number that failed.
//!
//! - A range unmapped and mapped again before the unmap's shootdown has
//!   run: the new page must not be written through the old translation.
//!   (MUNMAP started its shootdown from a task, later; until that task
//!   ran, this CPU and others kept the old entry, and a write to the new
//!   mapping went into the old frame, which was then freed: the new page
//!   read back as zeros.)

use abi::{MapFlags, Sqe};
use rt::checks::Checks;
use rt::mm::{PAGE, PRIVATE, RW};
use rt::ring::Ring;

const UNMAP: u64 = 0x0a9;

fn remap_before_the_shootdown(ring: &mut Ring) -> bool {
    let Ok(addr) = rt::mm::map_anonymous(ring, PAGE, RW, PRIVATE) else {
        return false;
    };
    let word = addr as *mut u64;
    // SAFETY: the page was just mapped read-write; this thread alone uses
    // it, and only while it is mapped (the MUNMAP below ends that).
    unsafe { word.write_volatile(0x01d) };
    // SAFETY: as above; the read puts the translation in this CPU's TLB.
    let _ = unsafe { word.read_volatile() };
    // MUNMAP started, not waited for.
    let unmap = Sqe {
        user_data: UNMAP,
        ..rt::prep::munmap(addr, PAGE as u32)
    };
    if ring.push(&unmap).and_then(|()| ring.submit()).is_err() {
        return false;
    }
    let mut again = 0;
    let fixed = rt::prep::mmap_anonymous(
        addr,
        PAGE as u32,
        RW,
        PRIVATE | MapFlags::FIXED.bits(),
        &mut again,
    );
    let remapped = Sqe {
        user_data: UNMAP + 1,
        ..fixed
    };
    if ring.push(&remapped).and_then(|()| ring.submit()).is_err() {
        return false;
    }
    let Ok(cqe) = ring.wait_for(UNMAP + 1) else {
        return false;
    };
    if cqe.res != 0 || again != addr {
        return false;
    }
    // SAFETY: the page is mapped again, read-write, this thread's alone.
    unsafe { word.write_volatile(0x2e0) };
    if ring.wait_for(UNMAP).map(|cqe| cqe.res) != Ok(0) {
        return false;
    }
    // The unmap is over: every CPU reads the page through its new entry.
    // SAFETY: as above.
    let read = unsafe { word.read_volatile() };
    let _ = rt::mm::unmap(ring, addr, PAGE);
    read == 0x2e0
}

pub fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let mut checks = Checks::new("stress regressions");
    checks.check(
        "a page mapped again before the unmap's shootdown ran keeps what is written to it",
        (0..20).all(|_| remap_before_the_shootdown(&mut ring)),
    );
    checks.report(&mut ring)
}
