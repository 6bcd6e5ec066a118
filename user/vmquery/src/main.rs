//! `vmquery`: maps a few kinds of memory (a private file mapping, shared
//! anonymous memory, an anonymous region split by MPROTECT), touches some
//! pages, and prints its region table from VM_QUERY: the `/proc/PID/maps`
//! and `smaps` of this kernel.  Exits 0 when the table shows what was
//! mapped.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::file::{
    VM_COW, VM_FILE, VM_MMAPPED, VM_NONLINEAR, VM_PHYSICAL, VM_SHARED, VM_STACK,
    VM_USER_ACCESSIBLE, VmRegion,
};
use abi::{ProtFlags, Sqe};
use core::fmt::Write;
use rt::io::Writer;
use rt::mm::{PAGE, PRIVATE, R, RW, SHARED};
use rt::ring::Ring;

rt::entry!(main);

fn run(ring: &mut Ring, mut sqe: Sqe) -> Option<u32> {
    sqe.user_data = 0x7e;
    ring.push(&sqe).ok()?;
    ring.submit().ok()?;
    rt::ring::result(&ring.wait_for(0x7e).ok()?).ok()
}

/// `rwx`-style protection letters.
fn prot(bits: u32) -> [u8; 3] {
    let letter = |flag: ProtFlags, c: u8| if bits & flag.bits() != 0 { c } else { b'-' };
    [
        letter(ProtFlags::READ, b'r'),
        letter(ProtFlags::WRITE, b'w'),
        letter(ProtFlags::EXEC, b'x'),
    ]
}

/// What the region is, in words.
fn kind(region: &VmRegion) -> &'static str {
    let flags = region.flags;
    if flags & VM_USER_ACCESSIBLE == 0 {
        "kernel-only: the program's ELF image"
    } else if flags & VM_PHYSICAL != 0 {
        "the ring"
    } else if flags & VM_STACK != 0 && flags & VM_MMAPPED == 0 {
        "stack"
    } else if flags & VM_FILE != 0 && flags & VM_NONLINEAR != 0 {
        "file, nonlinear"
    } else if flags & VM_FILE != 0 {
        "file"
    } else if flags & VM_SHARED != 0 {
        "shared anonymous"
    } else if flags & VM_MMAPPED != 0 {
        "anonymous"
    } else {
        "program image"
    }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let ring = &mut ring;
    let mapped = (|| {
        let fd = rt::fs::open(ring, c"etc/motd").ok()?;
        let (mut file, mut shared, mut anon) = (0, 0, 0);
        run(
            ring,
            rt::prep::mmap_file(fd, 0, PAGE as u32, R, PRIVATE, &mut file),
        )?;
        run(
            ring,
            rt::prep::mmap_anonymous(0, PAGE as u32, RW, SHARED, &mut shared),
        )?;
        run(
            ring,
            rt::prep::mmap_anonymous(0, 4 * PAGE as u32, RW, PRIVATE, &mut anon),
        )?;
        run(
            ring,
            rt::prep::mprotect(anon + 2 * PAGE, 2 * PAGE as u32, R),
        )?;
        // SAFETY: all three are mapped readable (and `anon` writable at
        // its first page) just above.
        unsafe {
            (file as *const u8).read_volatile();
            (shared as *mut u8).write_volatile(1);
            (anon as *mut u8).write_volatile(1);
        }
        Some([file, shared, anon])
    })();
    let mut records = [VmRegion::default(); 32];
    let count = rt::mm::regions(ring, &mut records).unwrap_or(0);
    let mut out = Writer(ring);
    let _ = writeln!(
        out,
        "vmquery: {count} regions\n  {:<33} prot {:>8} {:>8} {:>8} {:>6}  what",
        "range", "resident", "pinned", "private", "cow"
    );
    for region in &records[..count] {
        let [r, w, x] = prot(region.prot);
        let _ = writeln!(
            out,
            "  {:#014x}-{:#014x}  {}{}{}  {:>8} {:>8} {:>8} {:>6}  {}{}",
            region.start,
            region.end,
            r as char,
            w as char,
            x as char,
            region.resident_pages,
            region.pinned_pages,
            region.private_dirty_pages,
            region.cow_pages,
            kind(region),
            if region.flags & VM_COW != 0 {
                ", copy-on-write"
            } else {
                ""
            },
        );
    }
    let shown = |addr: u64| {
        records[..count]
            .iter()
            .any(|r| r.start == addr && r.resident_pages == 1)
    };
    match mapped {
        Some([file, shared, anon]) if shown(file) && shown(shared) && shown(anon) => 0,
        _ => 1,
    }
}
