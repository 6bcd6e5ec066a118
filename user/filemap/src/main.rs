//! `filemap`: checks MMAP of initfs files (private and shared, offsets,
//! the refusals), and the kernel-only region holding the program's ELF
//! image.  The checks that must get a process killed run in `fork`
//! children.  Prints a line per check and exits with the number that
//! failed.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::file::{VM_FILE, VM_MMAPPED, VM_USER_ACCESSIBLE, VmRegion};
use abi::{Errno, Sqe};
use rt::checks::Checks;
use rt::mm::{PAGE, PRIVATE, R, RW, SHARED};
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

/// The file mapped: a program, several pages long.
const FILE: &core::ffi::CStr = c"bin/filemap";
/// SIGSEGV, what a bad access is killed with.
const SIGSEGV: i32 = 11;

fn res(ring: &mut Ring, mut sqe: Sqe) -> Result<u32, Errno> {
    sqe.user_data = 0xf1;
    ring.push(&sqe)?;
    ring.submit()?;
    rt::ring::result(&ring.wait_for(0xf1)?)
}

fn map_file(
    ring: &mut Ring,
    fd: i32,
    offset: u64,
    len: u64,
    prot: u32,
    flags: u32,
) -> Result<u64, Errno> {
    let mut out = 0;
    let sqe = rt::prep::mmap_file(fd, offset, len as u32, prot, flags, &mut out);
    res(ring, sqe)?;
    Ok(out)
}

fn bytes(addr: u64, len: u64) -> &'static [u8] {
    // SAFETY: the caller mapped `len` readable bytes at `addr`.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) }
}

fn regions(ring: &mut Ring) -> ([VmRegion; 24], usize) {
    let mut records = [VmRegion::default(); 24];
    let count = rt::mm::regions(ring, &mut records).unwrap_or(0);
    (records, count)
}

/// Runs `body` in a fork child; its wait status.
fn in_child(ring: &mut Ring, body: impl FnOnce(&mut Ring) -> i32) -> Option<WaitStatus> {
    process::in_child(ring, body).ok()
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let ring = &mut ring;
    let mut checks = Checks::new("filemap");
    let (Ok(fd), Ok(stat)) = (rt::fs::open(ring, FILE), rt::fs::statx(ring, FILE)) else {
        return 101;
    };
    let size = stat.stx_size;
    // The file as READ gives it, into anonymous memory.
    let mut copy_at = 0;
    let len = size.next_multiple_of(PAGE);
    if res(
        ring,
        rt::prep::mmap_anonymous(0, len as u32, RW, PRIVATE, &mut copy_at),
    )
    .is_err()
    {
        return 102;
    }
    // SAFETY: just mapped, `len` writable bytes.
    let copy = unsafe { core::slice::from_raw_parts_mut(copy_at as *mut u8, len as usize) };
    let read = rt::fs::read(ring, fd, &mut copy[..size as usize]);
    checks.check(
        "the file reads whole",
        read == Ok(size as usize) && size > 3 * PAGE,
    );
    let file = &copy[..size as usize];

    let private = map_file(ring, fd, 0, size, RW, PRIVATE);
    checks.check(
        "a private mapping shows the file's bytes, the last page's tail zero",
        private.is_ok_and(|at| {
            bytes(at, size) == file && bytes(at + size, len - size).iter().all(|&b| b == 0)
        }),
    );
    let second = map_file(ring, fd, PAGE, 2 * PAGE, R, PRIVATE);
    checks.check(
        "a mapping from an offset starts at that byte of the file",
        second.is_ok_and(|at| bytes(at, 2 * PAGE) == &file[PAGE as usize..3 * PAGE as usize]),
    );
    let (Ok(private), Ok(second)) = (private, second) else {
        return checks.report(ring) + 1;
    };
    // A write to the private mapping copies the page: the file, and every
    // other mapping of it, keep their bytes.
    let target = private + PAGE + 5;
    // SAFETY: inside the writable private mapping.
    unsafe { (target as *mut u8).write_volatile(!file[PAGE as usize + 5]) };
    checks.check(
        "a write to a private file mapping stays in it",
        bytes(target, 1)[0] == !file[PAGE as usize + 5]
            && bytes(second + 5, 1)[0] == file[PAGE as usize + 5],
    );
    let again = map_file(ring, fd, 0, size, R, SHARED);
    checks.check(
        "a shared read-only mapping shows the file, not another's private write",
        again.is_ok_and(|at| bytes(at, size) == file),
    );
    checks.check(
        "a writable shared mapping of a read-only file is EACCES",
        map_file(ring, fd, 0, PAGE, RW, SHARED) == Err(Errno::EACCES),
    );
    if let Ok(at) = again {
        checks.check(
            "MPROTECT of a shared file mapping to writable is EACCES",
            res(ring, rt::prep::mprotect(at, PAGE as u32, RW)) == Err(Errno::EACCES),
        );
    }
    checks.check(
        "an unaligned file offset is EINVAL",
        map_file(ring, fd, 100, PAGE, R, PRIVATE) == Err(Errno::EINVAL),
    );
    checks.check(
        "a handle that is no file is EACCES",
        map_file(ring, 1, 0, PAGE, R, PRIVATE) == Err(Errno::EACCES),
    );
    checks.check(
        "a closed handle is EBADF",
        map_file(ring, 999, 0, PAGE, R, PRIVATE) == Err(Errno::EBADF),
    );
    if let Ok(dir) = rt::fs::open(ring, c"bin") {
        checks.check(
            "a directory is ENODEV",
            map_file(ring, dir, 0, PAGE, R, PRIVATE) == Err(Errno::ENODEV),
        );
    }

    let (records, count) = regions(ring);
    let records = &records[..count];
    let image = records
        .iter()
        .find(|r| r.flags & VM_FILE != 0 && r.flags & VM_USER_ACCESSIBLE == 0);
    checks.check(
        "VM_QUERY shows the program's image, kernel-only and never mapped",
        image.is_some_and(|r| r.end - r.start == len && r.resident_pages == 0),
    );
    checks.check(
        "VM_QUERY shows the file mapping and its resident pages",
        records.iter().any(|r| {
            r.start == private
                && r.flags & (VM_FILE | VM_MMAPPED | VM_USER_ACCESSIBLE)
                    == VM_FILE | VM_MMAPPED | VM_USER_ACCESSIBLE
                && r.resident_pages == len / PAGE
                && r.private_dirty_pages == 1
        }),
    );
    if let Some(image) = image.copied() {
        checks.check(
            "user code touching the image region is killed",
            in_child(ring, |_| {
                // SAFETY: none: the kernel must kill us for this read.
                unsafe { (image.start as *const u8).read_volatile() };
                0
            }) == Some(WaitStatus::Signaled(SIGSEGV)),
        );
        checks.check(
            "an op pointing into the image region gets EFAULT",
            res(ring, rt::prep::read(fd, &mut [], 0)).is_ok()
                && res(
                    ring,
                    Sqe {
                        fd,
                        addr: image.start,
                        len: 16,
                        ..Sqe::new(abi::Opcode::Read)
                    },
                ) == Err(Errno::EFAULT),
        );
    }
    let long = map_file(ring, fd, 0, len + 2 * PAGE, R, PRIVATE);
    checks.check(
        "a mapping may reach past the file's end",
        long.is_ok_and(|at| {
            bytes(at + len - PAGE, PAGE)[..(size % PAGE) as usize] == file[(len - PAGE) as usize..]
        }),
    );
    if let Ok(long) = long {
        checks.check(
            "a touch of a page wholly past the file's end is killed",
            in_child(ring, |_| {
                // SAFETY: none: the kernel must kill us for this read.
                unsafe { ((long + len + PAGE) as *const u8).read_volatile() };
                0
            }) == Some(WaitStatus::Signaled(SIGSEGV)),
        );
    }
    remap(ring, &mut checks, fd, file);
    checks.report(ring)
}

/// REMAP_PAGES on a shared mapping of the file's first four pages.
fn remap(ring: &mut Ring, checks: &mut Checks, fd: i32, file: &[u8]) {
    let page = |n: u64| &file[(n * PAGE) as usize..((n + 1) * PAGE) as usize];
    let Ok(at) = map_file(ring, fd, 0, 4 * PAGE, R, SHARED) else {
        checks.check("a shared mapping to remap", false);
        return;
    };
    let remap = |ring: &mut Ring, addr: u64, len: u64, offset: u64, prot: u32| {
        res(ring, rt::prep::remap_pages(addr, len as u32, offset, prot))
    };
    checks.check(
        "REMAP_PAGES makes a page show another file page",
        remap(ring, at, PAGE, 3 * PAGE, R) == Ok(0)
            && bytes(at, PAGE) == page(3)
            && bytes(at + PAGE, PAGE) == page(1),
    );
    checks.check(
        "a page remapped PROT_NONE",
        remap(ring, at + PAGE, PAGE, 0, 0) == Ok(0),
    );
    checks.check(
        "kills a process touching it, per page, not per region",
        in_child(ring, |_| {
            // SAFETY: none: the kernel must kill us for this read.
            unsafe { ((at + PAGE) as *const u8).read_volatile() };
            0
        }) == Some(WaitStatus::Signaled(SIGSEGV)),
    );
    checks.check(
        "and not one touching its readable neighbours",
        in_child(ring, |_| {
            let first = bytes(at, PAGE) == page(3);
            let third = bytes(at + 2 * PAGE, PAGE) == page(2);
            i32::from(!(first && third))
        }) == Some(WaitStatus::Exited(0)),
    );
    let (records, count) = regions(ring);
    checks.check(
        "the region stays whole, and shows as nonlinear",
        records[..count].iter().any(|r| {
            r.start == at && r.end == at + 4 * PAGE && r.flags & abi::file::VM_NONLINEAR != 0
        }),
    );
    checks.check(
        "MPROTECT gives every page the new protection and keeps its file page",
        res(ring, rt::prep::mprotect(at, 4 * PAGE as u32, R)) == Ok(0)
            && bytes(at + PAGE, PAGE) == page(0)
            && bytes(at, PAGE) == page(3),
    );
    checks.check(
        "a writable remap of a read-only file is EACCES",
        remap(ring, at, PAGE, 0, RW) == Err(Errno::EACCES),
    );
    let private = map_file(ring, fd, 0, 2 * PAGE, R, PRIVATE).unwrap_or(0);
    checks.check(
        "bad remaps are EINVAL: private, past the region, past the file, unaligned",
        remap(ring, private, PAGE, 0, R) == Err(Errno::EINVAL)
            && remap(ring, at + 3 * PAGE, 2 * PAGE, 0, R) == Err(Errno::EINVAL)
            && remap(ring, at, PAGE, 1 << 30, R) == Err(Errno::EINVAL)
            && remap(ring, at + 1, PAGE, 0, R) == Err(Errno::EINVAL)
            && remap(ring, at, PAGE, 1, R) == Err(Errno::EINVAL),
    );
}
