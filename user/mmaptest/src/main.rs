//! `mmaptest`: checks MMAP and MUNMAP of anonymous memory from user mode.
//! Prints a line per check and exits with the number that failed.
//!
//! `mmaptest CASE` is a child of one check: it does something the kernel
//! must kill it for (`unmapped`, `prot-none`, `read-only`), and exits 0 if
//! it is still alive afterwards.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, MapFlags, ProtFlags, Sqe};
use rt::mm::{PAGE, PRIVATE, RW};
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

/// Submits `sqe` and waits for its result.
fn res(ring: &mut Ring, mut sqe: Sqe) -> Result<u32, Errno> {
    sqe.user_data = 0x6d6d;
    ring.push(&sqe)?;
    ring.submit()?;
    ring.wait_for(0x6d6d)?
        .result()
        .map_err(|e| e.known().unwrap_or(Errno::EIO))
}

/// MMAP anonymous; the address.
fn map(ring: &mut Ring, addr: u64, len: u32, prot: u32, flags: u32) -> Result<u64, Errno> {
    let mut out = 0u64;
    res(
        ring,
        rt::prep::mmap_anonymous(addr, len, prot, flags, &mut out),
    )?;
    Ok(out)
}

fn resident(ring: &mut Ring) -> u64 {
    rt::stats::mem(ring).map_or(u64::MAX, |stats| stats.resident_bytes)
}

/// Reads and writes the byte at `addr` through a volatile pointer.
fn touch(addr: u64, value: u8) -> u8 {
    let pointer = addr as *mut u8;
    // SAFETY: `addr` lies in a readable and writable mapping the caller
    // made (or, in the children below, one the kernel must kill us for).
    unsafe {
        let old = pointer.read_volatile();
        pointer.write_volatile(value);
        old
    }
}

/// Moves RSP to `stack_top`, enters the kernel with an empty `ring_enter`,
/// and moves RSP back: the kernel checks RSP against the stack regions.
fn syscall_on_stack(stack_top: u64) -> i64 {
    let result: i64;
    // SAFETY: RSP points into memory this program mapped for the one trap
    // (nothing is pushed there: the trap uses no user stack), and is back
    // to the saved value before any Rust code runs.  R12 is declared
    // clobbered; every caller-saved register is declared clobbered.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "syscall",
            "mov rsp, r12",
            top = in(reg) stack_top,
            inlateout("rax") abi::Syscall::RingEnter as u64 => result,
            in("rdi") 0u64,
            in("rsi") 0u64,
            in("rdx") 0u64,
            in("r10") 0u64,
            out("r12") _,
            clobber_abi("sysv64"),
        );
    }
    result
}

fn child(case: &str) -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    if let Some(flags) = match case {
        "stack-pivot" => Some(PRIVATE),
        "map-stack" => Some(PRIVATE | MapFlags::STACK.bits()),
        _ => None,
    } {
        let Ok(base) = map(&mut ring, 0, 4 * PAGE as u32, RW, flags) else {
            return 103;
        };
        return match syscall_on_stack(base + 2 * PAGE) {
            0 => 0,
            _ => 104,
        };
    }
    let prot = match case {
        "prot-none" => 0,
        "read-only" => ProtFlags::READ.bits(),
        _ => RW,
    };
    let Ok(addr) = map(&mut ring, 0, PAGE as u32, prot, PRIVATE) else {
        return 101;
    };
    // Touched while writable, then reprotected: the page is present.
    let reprotect = match case {
        "unmapped" => Some(rt::prep::munmap(addr, PAGE as u32)),
        "mprotect-ro" => Some(rt::prep::mprotect(
            addr,
            PAGE as u32,
            ProtFlags::READ.bits(),
        )),
        "mprotect-none" => Some(rt::prep::mprotect(addr, PAGE as u32, 0)),
        _ => None,
    };
    if let Some(sqe) = reprotect {
        touch(addr, 1);
        if res(&mut ring, sqe).is_err() {
            return 102;
        }
    }
    touch(addr, 1);
    0
}

/// Runs the child with `argv` (an argv block naming the case) and says
/// whether the kernel killed it for a page fault.
fn killed(ring: &mut Ring, argv: &[u8]) -> bool {
    process::spawn(ring, "bin/mmaptest", argv).and_then(|child| process::wait(ring, child))
        == Ok(WaitStatus::Signaled(11))
}

fn main() -> i32 {
    if let Some(case) = rt::args().nth(1) {
        return child(case);
    }
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let mut checks = rt::checks::Checks::new("mmaptest");
    let mut check = |name: &'static str, ok: bool| checks.check(name, ok);

    // Demand-zero: nothing is resident until touched, then exactly what
    // was touched, and it reads zero first.
    let before = resident(&mut ring);
    let mapped = map(&mut ring, 0, 3 * PAGE as u32, RW, PRIVATE);
    check(
        "MMAP of 3 anonymous pages gives a page-aligned address",
        mapped.is_ok_and(|addr| addr % PAGE == 0 && addr != 0),
    );
    let addr = mapped.unwrap_or(0);
    check(
        "nothing is resident before the first touch",
        resident(&mut ring) == before,
    );
    let zeroes = (0..3).all(|page| addr != 0 && touch(addr + page * PAGE, 0xa5) == 0);
    check("each page reads zero at its first touch", zeroes);
    check(
        "touching made exactly 3 pages resident",
        resident(&mut ring) == before + 3 * PAGE,
    );
    check(
        "written bytes stay",
        (0..3).all(|page| addr != 0 && touch(addr + page * PAGE, 0) == 0xa5),
    );

    // An op reads into memory that was never touched: the kernel faults the
    // page in for it.
    let fresh = map(&mut ring, 0, PAGE as u32, RW, PRIVATE).unwrap_or(0);
    let read = if fresh == 0 {
        Err(Errno::EFAULT)
    } else {
        // SAFETY: `fresh` is a page this program mapped writable; the
        // kernel writes it and nothing else touches it meanwhile.
        let buffer = unsafe { core::slice::from_raw_parts_mut(fresh as *mut u8, 64) };
        rt::fs::open(&mut ring, c"etc/motd").and_then(|handle| {
            let count = rt::fs::read(&mut ring, handle, buffer);
            let _ = rt::fs::close(&mut ring, handle);
            count
        })
    };
    check(
        "READ into an untouched mapping faults it in and fills it",
        read == Ok(64) && touch(fresh, b'W') == b'W',
    );

    // MUNMAP: the middle page goes, holes are fine, and resident memory
    // goes back down.
    check(
        "MUNMAP of the middle page",
        res(&mut ring, rt::prep::munmap(addr + PAGE, PAGE as u32)) == Ok(0),
    );
    check(
        "MUNMAP over a hole and the rest",
        res(&mut ring, rt::prep::munmap(addr, 3 * PAGE as u32)) == Ok(0)
            && res(&mut ring, rt::prep::munmap(fresh, PAGE as u32)) == Ok(0),
    );
    check(
        "resident memory is back where it started",
        resident(&mut ring) == before,
    );

    // MAP_FIXED replaces what MMAP put there, with fresh zero pages.
    let fixed = map(&mut ring, 0, 2 * PAGE as u32, RW, PRIVATE).unwrap_or(0);
    let first = fixed != 0 && touch(fixed, 7) == 0;
    let again = map(
        &mut ring,
        fixed,
        PAGE as u32,
        RW,
        PRIVATE | MapFlags::FIXED.bits(),
    );
    check(
        "MAP_FIXED over an MMAP region replaces it with a zero page",
        first && again == Ok(fixed) && touch(fixed, 0) == 0,
    );
    let _ = res(&mut ring, rt::prep::munmap(fixed, 2 * PAGE as u32));

    // The rules and errnos.
    let rwx = RW | ProtFlags::EXEC.bits();
    check(
        "writable and executable at once is EACCES",
        map(&mut ring, 0, PAGE as u32, rwx, PRIVATE) == Err(Errno::EACCES),
    );
    check(
        "a zero length is EINVAL",
        map(&mut ring, 0, 0, RW, PRIVATE) == Err(Errno::EINVAL),
    );
    check(
        "neither or both of SHARED and PRIVATE is EINVAL",
        map(&mut ring, 0, PAGE as u32, RW, 0) == Err(Errno::EINVAL)
            && map(
                &mut ring,
                0,
                PAGE as u32,
                RW,
                PRIVATE | MapFlags::SHARED.bits(),
            ) == Err(Errno::EINVAL),
    );
    check(
        "an unaligned MAP_FIXED address is EINVAL",
        map(
            &mut ring,
            0x1000_0000_0800,
            PAGE as u32,
            RW,
            PRIVATE | MapFlags::FIXED.bits(),
        ) == Err(Errno::EINVAL),
    );
    let stack_page = (&ring as *const Ring as u64) & !(PAGE - 1);
    check(
        "MAP_FIXED over the stack is EPERM",
        map(
            &mut ring,
            stack_page,
            PAGE as u32,
            RW,
            PRIVATE | MapFlags::FIXED.bits(),
        ) == Err(Errno::EPERM),
    );
    check(
        "MUNMAP of the program image is EPERM",
        res(
            &mut ring,
            rt::prep::munmap(
                main as fn() -> i32 as usize as u64 & !(PAGE - 1),
                PAGE as u32,
            ),
        ) == Err(Errno::EPERM),
    );
    check(
        "MUNMAP of an unaligned address is EINVAL",
        res(&mut ring, rt::prep::munmap(0x1000_0000_0010, PAGE as u32)) == Err(Errno::EINVAL),
    );
    let mut kernel_out = Sqe {
        addr3: 0xffff_8000_0000_0000,
        ..rt::prep::mmap_anonymous(0, PAGE as u32, RW, PRIVATE, &mut 0)
    };
    kernel_out.user_data = 1;
    check(
        "a result pointer into the kernel is EFAULT, and nothing is mapped",
        res(&mut ring, kernel_out) == Err(Errno::EFAULT) && resident(&mut ring) == before,
    );
    let file = Sqe {
        fd: 0,
        op_flags: PRIVATE,
        ..rt::prep::mmap_anonymous(0, PAGE as u32, RW, PRIVATE, &mut 0)
    };
    check(
        "a file mapping of a handle that is no file (the console) is EACCES",
        res(&mut ring, file) == Err(Errno::EACCES),
    );

    // MPROTECT: protections change, data stays.
    let page = map(&mut ring, 0, 2 * PAGE as u32, RW, PRIVATE).unwrap_or(0);
    let written = page != 0 && touch(page, 0x5c) == 0;
    let none = res(&mut ring, rt::prep::mprotect(page, PAGE as u32, 0));
    let back = res(
        &mut ring,
        rt::prep::mprotect(page, 2 * PAGE as u32, ProtFlags::READ.bits()),
    );
    // SAFETY: the page is mapped readable again.
    let kept = unsafe { (page as *const u8).read_volatile() } == 0x5c;
    check(
        "MPROTECT to PROT_NONE and back keeps the data",
        written && none == Ok(0) && back == Ok(0) && kept,
    );
    check(
        "MPROTECT writable and executable is EACCES",
        res(
            &mut ring,
            rt::prep::mprotect(page, PAGE as u32, RW | ProtFlags::EXEC.bits()),
        ) == Err(Errno::EACCES),
    );
    check(
        "MPROTECT over a hole is ENOMEM",
        // The pages right below it are free (placement is top-down).
        res(
            &mut ring,
            rt::prep::mprotect(page - 6 * PAGE, 8 * PAGE as u32, RW),
        ) == Err(Errno::ENOMEM),
    );
    check(
        "MPROTECT of the stack is EPERM",
        res(&mut ring, rt::prep::mprotect(stack_page, PAGE as u32, RW)) == Err(Errno::EPERM),
    );
    let _ = res(&mut ring, rt::prep::munmap(page, 2 * PAGE as u32));

    // VM_QUERY shows the regions: sorted, the stack and the image as the
    // kernel's, a MAP_STACK mapping as made.
    let stacked = map(
        &mut ring,
        0,
        2 * PAGE as u32,
        RW,
        PRIVATE | MapFlags::STACK.bits(),
    )
    .unwrap_or(0);
    let mut records = [abi::file::VmRegion::default(); 32];
    let written = res(&mut ring, rt::prep::vm_query(&mut records)).unwrap_or(0) as usize;
    let regions = &records[..written / abi::file::VmRegion::BYTES];
    let holding = |addr: u64| regions.iter().find(|r| (r.start..r.end).contains(&addr));
    use abi::file::{VM_MMAPPED, VM_STACK, VM_USER_ACCESSIBLE};
    check(
        "VM_QUERY lists the regions in order, without overlap",
        written.is_multiple_of(abi::file::VmRegion::BYTES)
            && regions.len() >= 4
            && regions.windows(2).all(|pair| pair[0].end <= pair[1].start),
    );
    check(
        "the stack is a kernel-made stack region",
        holding(stack_page).is_some_and(|r| r.flags & (VM_STACK | VM_MMAPPED) == VM_STACK),
    );
    check(
        "the program text is executable, not writable, not MMAP's",
        holding(main as fn() -> i32 as usize as u64).is_some_and(|r| {
            r.prot & ProtFlags::EXEC.bits() != 0
                && r.prot & ProtFlags::WRITE.bits() == 0
                && r.flags & VM_MMAPPED == 0
        }),
    );
    check(
        "a MAP_STACK mapping shows as made",
        holding(stacked).is_some_and(|r| {
            (r.start, r.end, r.prot, r.flags)
                == (
                    stacked,
                    stacked + 2 * PAGE,
                    RW,
                    VM_USER_ACCESSIBLE | VM_STACK | VM_MMAPPED,
                )
        }),
    );
    let mut one = [abi::file::VmRegion::default(); 1];
    check(
        "a buffer of one record gets one record",
        res(&mut ring, rt::prep::vm_query(&mut one)) == Ok(abi::file::VmRegion::BYTES as u32)
            && one[0].end > one[0].start,
    );
    let _ = res(&mut ring, rt::prep::munmap(stacked, 2 * PAGE as u32));

    // MUNMAP of a buffer a READ is still filling waits for the READ: the
    // bytes land in the frame they were meant for, and the unmap's CQE
    // comes after the read's.
    let ordered = (|| -> Result<bool, Errno> {
        let (read_end, write_end) = process::pipe(&mut ring)?;
        let buffer = map(&mut ring, 0, PAGE as u32, RW, PRIVATE)?;
        touch(buffer, 0);
        // SAFETY: the page is mapped writable; only the kernel writes it
        // until the unmap.
        let bytes = unsafe { core::slice::from_raw_parts_mut(buffer as *mut u8, 64) };
        let mut read = rt::prep::read(read_end, bytes, rt::prep::CURRENT_POSITION);
        read.user_data = 1;
        let mut unmap = rt::prep::munmap(buffer, PAGE as u32);
        unmap.user_data = 2;
        ring.push(&read)?;
        ring.push(&unmap)?;
        ring.submit()?;
        // 20 ms in which neither may complete.
        let spec = abi::Timespec::from_ns(20_000_000);
        let mut pause = rt::prep::timeout(&spec);
        pause.user_data = 3;
        ring.push(&pause)?;
        ring.submit()?;
        ring.wait_for(3)?;
        // Anything here came too early (an unmap that did not wait).
        let early = ring.pop();
        let written = rt::io::write_with(&mut ring, write_end, b"intact")?;
        let first = match early {
            Some(cqe) => cqe,
            None => ring.wait()?,
        };
        let other = if first.user_data == 1 { 2 } else { 1 };
        let second = ring.wait_for(other)?;
        let _ = rt::fs::close(&mut ring, read_end);
        let _ = rt::fs::close(&mut ring, write_end);
        Ok(early.is_none()
            && written == 6
            && (first.user_data, first.res) == (1, 6)
            && (second.user_data, second.res) == (2, 0))
    })();
    check(
        "MUNMAP under an in-flight READ completes after the READ's CQE",
        ordered == Ok(true),
    );

    // A MUNMAP of 32 touched pages, cancelled while it waits for a READ's
    // pin on the first: its CQE says ECANCELED, and its frames are still
    // freed once the READ is done.  Run twice, so page tables of the first
    // run do not count; the kernel heap may take a frame or two meanwhile,
    // a leak would be all 32.
    const PAGES: u64 = 32;
    let mut kept_frames = 0;
    let mut cancelled_ok = true;
    for _ in 0..2 {
        let cycle = (|| -> Result<bool, Errno> {
            let before = rt::stats::mem(&mut ring)?.free_frames;
            let (read_end, write_end) = process::pipe(&mut ring)?;
            let buffer = map(&mut ring, 0, PAGES as u32 * PAGE as u32, RW, PRIVATE)?;
            for page in 0..PAGES {
                touch(buffer + page * PAGE, 0);
            }
            // SAFETY: as above: only the kernel writes the page.
            let bytes = unsafe { core::slice::from_raw_parts_mut(buffer as *mut u8, 64) };
            let mut read = rt::prep::read(read_end, bytes, rt::prep::CURRENT_POSITION);
            read.user_data = 11;
            let mut unmap = rt::prep::munmap(buffer, PAGES as u32 * PAGE as u32);
            unmap.user_data = 12;
            ring.push(&read)?;
            ring.push(&unmap)?;
            ring.submit()?;
            let mut cancel = rt::prep::cancel(12);
            cancel.user_data = 13;
            let cancelled = res(&mut ring, cancel);
            let unmap_res = ring.wait_for(12)?.res;
            rt::io::write_with(&mut ring, write_end, b"x")?;
            let read_res = ring.wait_for(11)?.res;
            let _ = rt::fs::close(&mut ring, read_end);
            let _ = rt::fs::close(&mut ring, write_end);
            // The freeing task runs on: give it a moment.
            let spec = abi::Timespec::from_ns(50_000_000);
            let _ = res(&mut ring, rt::prep::timeout(&spec));
            kept_frames = before - rt::stats::mem(&mut ring)?.free_frames.min(before);
            Ok(cancelled == Ok(0) && unmap_res == Errno::ECANCELED.as_res() && read_res == 1)
        })();
        cancelled_ok &= cycle == Ok(true);
    }
    check(
        "a MUNMAP cancelled while it waits for a pin still frees its pages",
        cancelled_ok && kept_frames < 4,
    );

    // Faults the regions do not allow kill the process, not the kernel.
    let fatal: [(&'static str, &[u8]); 6] = [
        (
            "entering the kernel with RSP outside a stack region kills with SIGSEGV",
            b"mmaptest\0stack-pivot\0",
        ),
        (
            "touching an unmapped page kills with SIGSEGV",
            b"mmaptest\0unmapped\0",
        ),
        (
            "touching a PROT_NONE page kills with SIGSEGV",
            b"mmaptest\0prot-none\0",
        ),
        (
            "writing a read-only page kills with SIGSEGV",
            b"mmaptest\0read-only\0",
        ),
        (
            "writing a page made read-only by MPROTECT kills with SIGSEGV",
            b"mmaptest\0mprotect-ro\0",
        ),
        (
            "touching a page made PROT_NONE by MPROTECT kills with SIGSEGV",
            b"mmaptest\0mprotect-none\0",
        ),
    ];
    for (name, argv) in fatal {
        check(name, killed(&mut ring, argv));
    }
    check(
        "entering the kernel with RSP in a MAP_STACK region is fine",
        process::spawn(&mut ring, "bin/mmaptest", b"mmaptest\0map-stack\0")
            .and_then(|child| process::wait(&mut ring, child))
            == Ok(WaitStatus::Exited(0)),
    );

    checks.report(&mut ring)
}
