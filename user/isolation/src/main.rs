//! `isolation`: no op lets a process reach another process's memory, or
//! the kernel's.  Prints a line per check and exits with the number that
//! failed.
//!
//! The parent fills a page with a secret and starts `isolation child ADDR`
//! (a PROCESS_SPAWN, so no page is shared) with pipes for its standard
//! input and output.  The child aims ops at the parent's address, where it
//! has nothing (`EFAULT`, and MUNMAP/MPROTECT find nothing to change), and
//! at kernel addresses (`EFAULT`), then maps a page of its own at the same
//! address and shows that READ, WRITE and FUTEX_WAKE there act on its
//! page alone.  The parent checks that its page still holds the secret,
//! that no byte of it came through the pipe, and that its FUTEX_WAIT on
//! the same address was not woken by the child's FUTEX_WAKE.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, Opcode, SpawnStdio, Sqe};
use rt::checks::Checks;
use rt::mm::{PAGE, PRIVATE, RW};
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

/// What the parent's page holds: no byte of it may reach the child (not
/// ASCII, so no line of text carries it).
const SECRET: u8 = 0xa5;
/// What the child's own page at the same address holds.
const OWN: u8 = 0x5a;
/// What the parent sends the child through its standard input.
const GREETING: &[u8] = b"from the parent";

/// The start of the kernel's image, and the start of the direct map.
const KERNEL_ADDRESSES: [u64; 2] = [0xffff_ffff_8000_0000, 0xffff_8000_0000_0000];

/// Submits one SQE and waits for its result.
fn res(ring: &mut Ring, sqe: &Sqe) -> Result<u32, Errno> {
    ring.push(sqe)?;
    ring.submit()?;
    ring.wait_for(sqe.user_data)
        .and_then(|cqe| rt::ring::result(&cqe))
}

fn io(opcode: Opcode, fd: i32, addr: u64, len: u64) -> Sqe {
    Sqe {
        fd,
        addr,
        len: len as u32,
        off: u64::MAX,
        user_data: 1,
        ..Sqe::new(opcode)
    }
}

/// FUTEX_WAKE of every waiter on the shared (not process-private) 32-bit
/// word at `addr`: keyed by the frame, so it could reach another process
/// if the two shared one.
fn wake(addr: u64) -> Sqe {
    Sqe {
        fd: abi::file::FUTEX2_SIZE_U32,
        off: u64::from(u32::MAX),
        addr,
        addr3: abi::file::FUTEX_BITSET_MATCH_ANY,
        user_data: 2,
        ..Sqe::new(Opcode::FutexWake)
    }
}

fn wait_on(addr: u64, expected: u32, user_data: u64) -> Sqe {
    Sqe {
        opcode: Opcode::FutexWait as u8,
        off: u64::from(expected),
        user_data,
        ..wake(addr)
    }
}

fn main() -> i32 {
    let mut args = rt::args().skip(1);
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    match (args.next(), args.next().and_then(parse_hex)) {
        (Some("child"), Some(addr)) => child(&mut ring, addr),
        _ => parent(&mut ring),
    }
}

fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

fn parent(ring: &mut Ring) -> i32 {
    let mut checks = Checks::new("isolation");
    let Ok(secret) = rt::mm::map_anonymous(ring, PAGE, RW, PRIVATE) else {
        return checks.report(ring) + 1;
    };
    // SAFETY: a page this process just mapped read-write.
    let page = unsafe { core::slice::from_raw_parts_mut(secret as *mut u8, PAGE as usize) };
    page.fill(SECRET);
    // A waiter on the secret page's first word, which the child wakes at
    // the same address in its own space.
    let word = u32::from_ne_bytes([SECRET; 4]);
    let waiting = ring
        .push(&wait_on(secret, word, 77))
        .and_then(|()| ring.submit());

    let (Ok((child_in, to_child)), Ok((from_child, child_out))) =
        (process::pipe(ring), process::pipe(ring))
    else {
        return checks.report(ring) + 1;
    };
    let mut argv = [0u8; 48];
    let argv = argv_for(&mut argv, secret);
    let stdio = SpawnStdio {
        handles: [child_in, child_out, 2],
        reserved: 0,
    };
    let child = process::spawn_with_stdio(ring, "bin/isolation", argv, &stdio);
    let _ = (close(ring, child_in), close(ring, child_out));
    let sent = res(
        ring,
        &io(
            Opcode::Write,
            to_child,
            GREETING.as_ptr() as u64,
            GREETING.len() as u64,
        ),
    );
    let _ = close(ring, to_child);

    // Everything the child writes, until it exits.
    let mut output = [0u8; 8192];
    let mut received = 0;
    while received < output.len() {
        let rest = &mut output[received..];
        match res(
            ring,
            &io(
                Opcode::Read,
                from_child,
                rest.as_mut_ptr() as u64,
                rest.len() as u64,
            ),
        ) {
            Ok(count) if count > 0 => received += count as usize,
            _ => break,
        }
    }
    let status = child.and_then(|child| process::wait(ring, child));
    checks.check(
        "the child's checks all pass (its output follows)",
        status == Ok(WaitStatus::Exited(0)),
    );
    // The child's report, after the 32 bytes it echoed.
    let _ = rt::io::write_with(ring, 1, output.get(32..received).unwrap_or_default());
    checks.check(
        "the parent's page still holds its secret",
        page.iter().all(|&byte| byte == SECRET),
    );
    checks.check(
        "no byte of the secret came through the child's output",
        received > 0 && !output[..received].contains(&SECRET),
    );
    checks.check(
        "the child got the parent's bytes in its own page and sent them back",
        sent == Ok(GREETING.len() as u32)
            && output[..received]
                .windows(GREETING.len())
                .any(|window| window == GREETING),
    );
    let still_waiting = ring.pop().is_none();
    let cancel = Sqe {
        addr: 77,
        user_data: 78,
        ..Sqe::new(Opcode::AsyncCancel)
    };
    let cancelled = res(ring, &cancel);
    checks.check(
        "the child's FUTEX_WAKE at the same address did not wake the parent's FUTEX_WAIT",
        waiting == Ok(1)
            && still_waiting
            && cancelled == Ok(0)
            && ring.wait_for(77).map(|cqe| cqe.res) == Ok(Errno::ECANCELED.as_res()),
    );
    checks.report(ring)
}

/// `isolation\0child\0<addr in hex>\0` in `buffer`.
fn argv_for(buffer: &mut [u8; 48], addr: u64) -> &[u8] {
    let head = b"isolation\x00child\x000x";
    buffer[..head.len()].copy_from_slice(head);
    let mut len = head.len();
    for shift in (0..16).rev() {
        buffer[len] = b"0123456789abcdef"[(addr >> (shift * 4)) as usize & 0xf];
        len += 1;
    }
    buffer[len] = 0;
    &buffer[..len + 1]
}

fn close(ring: &mut Ring, handle: i32) -> bool {
    res(
        ring,
        &Sqe {
            fd: handle,
            user_data: 3,
            ..Sqe::new(Opcode::Close)
        },
    ) == Ok(0)
}

/// The child: its standard input and output are pipes from and to the
/// parent; `theirs` is the parent's secret page.
fn child(ring: &mut Ring, theirs: u64) -> i32 {
    let mut checks = Checks::new("isolation child");
    let mut regions = [abi::file::VmRegion::default(); 64];
    let count = rt::mm::regions(ring, &mut regions).unwrap_or(usize::MAX);
    let unmapped = regions.get(..count).is_some_and(|regions| {
        !regions
            .iter()
            .any(|region| (region.start..region.end).contains(&theirs))
    });
    checks.check("the parent's address is not mapped here", unmapped);

    // Ops aimed at the parent's address find nothing of the parent's.
    let at_theirs = [
        (
            "WRITE from it",
            io(Opcode::Write, 1, theirs, 16),
            Err(Errno::EFAULT),
        ),
        (
            "READ into it",
            io(Opcode::Read, 0, theirs, 16),
            Err(Errno::EFAULT),
        ),
        ("FUTEX_WAKE on it wakes nobody", wake(theirs), Ok(0)),
        ("MPROTECT of it", mprotect(theirs), Err(Errno::ENOMEM)),
        (
            "MUNMAP of it (nothing to unmap)",
            rt::prep::munmap(theirs, PAGE as u32),
            Ok(0),
        ),
        (
            "PIPE results into it",
            Sqe {
                addr: theirs,
                user_data: 4,
                ..Sqe::new(Opcode::Pipe)
            },
            Err(Errno::EFAULT),
        ),
    ];
    for (name, sqe, want) in &at_theirs {
        checks.check(name, res(ring, sqe) == *want);
    }

    // Kernel addresses, through every kind of pointer an op takes.
    for kernel in KERNEL_ADDRESSES {
        let stats_len = core::mem::size_of::<abi::file::MemStats>() as u32;
        let kernel_ops = [
            io(Opcode::Write, 1, kernel, 16),
            io(Opcode::Read, 0, kernel, 16),
            wake(kernel),
            Sqe {
                addr: kernel,
                user_data: 5,
                ..Sqe::new(Opcode::Pipe)
            },
            Sqe {
                addr: kernel,
                len: 1,
                user_data: 6,
                ..Sqe::new(Opcode::Timeout)
            },
            Sqe {
                fd: -100,
                addr: kernel,
                user_data: 7,
                ..Sqe::new(Opcode::OpenAt)
            },
            Sqe {
                addr: kernel,
                len: stats_len,
                user_data: 8,
                ..Sqe::new(Opcode::MemStats)
            },
            Sqe {
                addr: kernel,
                len: abi::file::VmRegion::BYTES as u32,
                user_data: 9,
                ..Sqe::new(Opcode::VmQuery)
            },
            Sqe {
                fd: -100,
                addr: c"bin/true".as_ptr() as u64,
                off: kernel,
                len: 0xfff,
                user_data: 10,
                ..Sqe::new(Opcode::Statx)
            },
        ];
        const NAMES: [&str; 9] = [
            "WRITE from a kernel address is EFAULT",
            "READ into a kernel address is EFAULT",
            "FUTEX_WAKE on a kernel address is EFAULT",
            "PIPE results into a kernel address are EFAULT",
            "TIMEOUT reading its time from a kernel address is EFAULT",
            "OPENAT of a path at a kernel address is EFAULT",
            "MEM_STATS into a kernel address is EFAULT",
            "VM_QUERY into a kernel address is EFAULT",
            "STATX into a kernel address is EFAULT",
        ];
        for (name, sqe) in NAMES.iter().zip(&kernel_ops) {
            checks.check(name, res(ring, sqe) == Err(Errno::EFAULT));
        }
        checks.check(
            "MMAP FIXED at a kernel address is refused",
            rt::mm::map_fixed(ring, kernel, PAGE, RW).is_err(),
        );
        checks.check(
            "MUNMAP of a kernel address is refused",
            res(ring, &rt::prep::munmap(kernel, PAGE as u32)).is_err(),
        );
    }

    // A page of its own at the same address: ops there act on it alone.
    let mapped = rt::mm::map_fixed(ring, theirs, PAGE, RW) == Ok(theirs);
    checks.check("MMAP FIXED gives it a page at the parent's address", mapped);
    if !mapped {
        return checks.report(ring) + 1;
    }
    // SAFETY: the page this process just mapped read-write.
    let mine = unsafe { core::slice::from_raw_parts_mut(theirs as *mut u8, PAGE as usize) };
    mine.fill(OWN);
    checks.check(
        "FUTEX_WAKE at the same address wakes nobody of the parent's",
        res(ring, &wake(theirs)) == Ok(0),
    );
    let got = res(ring, &io(Opcode::Read, 0, theirs, GREETING.len() as u64));
    checks.check(
        "READ there fills its own page",
        got == Ok(GREETING.len() as u32) && &mine[..GREETING.len()] == GREETING,
    );
    checks.check(
        "WRITE from there sends its own page's bytes",
        res(ring, &io(Opcode::Write, 1, theirs, 32)) == Ok(32),
    );
    // Its checks' lines go to the parent through the pipe.
    checks.report(ring)
}

fn mprotect(addr: u64) -> Sqe {
    Sqe {
        addr,
        len: PAGE as u32,
        op_flags: RW,
        user_data: 11,
        ..Sqe::new(Opcode::Mprotect)
    }
}
