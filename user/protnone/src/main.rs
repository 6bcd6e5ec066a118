//! `protnone`: maps a page, writes to it, takes every access away with
//! `MPROTECT(PROT_NONE)` and reads it.  The page keeps its frame but loses
//! its user bit, so the read faults and the kernel kills the process with
//! a page-fault status (SIGSEGV), printing a crash report whose user
//! backtrace names this program's functions.  Exit status 1 means the
//! read came back: the protection did not hold.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, MapFlags, ProtFlags, Sqe};
use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

const PAGE: u32 = 4096;

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 2;
    };
    let page = match map_a_protnone_page(&mut ring) {
        Ok(page) => page,
        Err(errno) => {
            let _ = writeln!(Writer(&mut ring), "protnone: could not set up: {errno}");
            return 3;
        }
    };
    let _ = writeln!(
        Writer(&mut ring),
        "protnone: reading PROT_NONE page {page:#x}: the kernel must kill this process"
    );
    read_the_forbidden_page(page);
    let _ = writeln!(Writer(&mut ring), "protnone: FAIL: the read came back");
    1
}

/// A fresh page with a value written in it, then made `PROT_NONE`.
#[inline(never)]
fn map_a_protnone_page(ring: &mut Ring) -> Result<u64, Errno> {
    let read_write = (ProtFlags::READ | ProtFlags::WRITE).bits();
    let mut page = 0u64;
    run(
        ring,
        rt::prep::mmap_anonymous(0, PAGE, read_write, MapFlags::PRIVATE.bits(), &mut page),
    )?;
    // SAFETY: the page was just mapped readable and writable for us.
    unsafe { (page as *mut u64).write_volatile(0x5eed) };
    run(ring, rt::prep::mprotect(page, PAGE, 0))?;
    Ok(page)
}

/// The access the kernel must refuse.
#[inline(never)]
fn read_the_forbidden_page(page: u64) -> u64 {
    // SAFETY: deliberately not: the page is PROT_NONE, and the kernel
    // ends the process before the value could be used.
    unsafe { (page as *const u64).read_volatile() }
}

fn run(ring: &mut Ring, sqe: Sqe) -> Result<u32, Errno> {
    ring.push(&Sqe {
        user_data: 0x9a6e,
        ..sqe
    })?;
    ring.submit()?;
    rt::ring::result(&ring.wait_for(0x9a6e)?)
}
