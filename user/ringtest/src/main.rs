//! `ringtest`: checks the ring the way a user program sees it.  Prints a
//! line per check and exits with the number that failed.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Cqe, Errno, Opcode, Sqe, SqeFlags};
use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

/// The top of the stack mapping (see the kernel's `proc::spawn`): the page
/// above it is not mapped.
const STACK_TOP: u64 = 0x0000_7fff_ffff_f000;

fn nop(user_data: u64) -> Sqe {
    Sqe {
        user_data,
        ..Sqe::new(Opcode::Nop)
    }
}

fn write(fd: i32, addr: u64, len: u32, user_data: u64) -> Sqe {
    Sqe {
        fd,
        addr,
        len,
        user_data,
        ..Sqe::new(Opcode::Write)
    }
}

/// Submits one SQE and returns its CQE.
fn one(ring: &mut Ring, sqe: &Sqe) -> Result<Cqe, Errno> {
    ring.push(sqe)?;
    ring.submit_and_wait(1)?;
    ring.wait()
}

fn expect_res(ring: &mut Ring, sqe: &Sqe, want: Result<u32, Errno>) -> bool {
    match one(ring, sqe) {
        Ok(cqe) => {
            cqe.user_data == sqe.user_data
                && cqe.result().map_err(|e| e.known()) == want.map_err(Some)
        }
        Err(_) => false,
    }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    // Results are printed at the end: the checks need the ring to
    // themselves while they run.
    let mut results: [(&str, bool); 48] = [("", false); 48];
    let mut count = 0;
    let mut check = |name: &'static str, ok: bool| {
        results[count] = (name, ok);
        count += 1;
    };

    check(
        "nop completes with 0",
        expect_res(&mut ring, &nop(1), Ok(0)),
    );
    let unknown = Sqe {
        opcode: 99,
        user_data: 2,
        ..Sqe::new(Opcode::Nop)
    };
    check(
        "unknown opcode is EINVAL",
        expect_res(&mut ring, &unknown, Err(Errno::EINVAL)),
    );
    let bad_flags = Sqe {
        flags: 1 << 7,
        ..nop(3)
    };
    check(
        "unknown flag bit is EINVAL",
        expect_res(&mut ring, &bad_flags, Err(Errno::EINVAL)),
    );
    let fixed = Sqe {
        flags: SqeFlags::FIXED_FILE.bits(),
        ..nop(4)
    };
    check(
        "unsupported flag is EINVAL",
        expect_res(&mut ring, &fixed, Err(Errno::EINVAL)),
    );
    let nop_with_args = Sqe {
        addr: 0x1000,
        ..nop(5)
    };
    check(
        "nop with arguments is EINVAL",
        expect_res(&mut ring, &nop_with_args, Err(Errno::EINVAL)),
    );

    let text = b"ringtest: a write through the ring\n";
    let good = write(1, text.as_ptr() as u64, text.len() as u32, 6);
    check(
        "write returns its length",
        expect_res(&mut ring, &good, Ok(text.len() as u32)),
    );
    check(
        "write to a bad fd is EBADF",
        expect_res(
            &mut ring,
            &write(7, text.as_ptr() as u64, 4, 7),
            Err(Errno::EBADF),
        ),
    );
    check(
        "write from a kernel address is EFAULT",
        expect_res(
            &mut ring,
            &write(1, 0xffff_8000_0000_0000, 8, 8),
            Err(Errno::EFAULT),
        ),
    );
    check(
        "write from an unmapped page is EFAULT",
        expect_res(&mut ring, &write(1, 0x1000, 8, 9), Err(Errno::EFAULT)),
    );
    check(
        "write past the end of a mapping is EFAULT",
        expect_res(
            &mut ring,
            &write(1, STACK_TOP - 8, 16, 10),
            Err(Errno::EFAULT),
        ),
    );
    check(
        "write with an overflowing range is EFAULT",
        expect_res(
            &mut ring,
            &write(1, u64::MAX - 3, 8, 11),
            Err(Errno::EFAULT),
        ),
    );

    // CQE_SKIP_SUCCESS: the first NOP posts nothing; only the second shows.
    let skipped = Sqe {
        flags: SqeFlags::CQE_SKIP_SUCCESS.bits(),
        ..nop(12)
    };
    let seen = ring
        .push(&skipped)
        .and_then(|()| ring.push(&nop(13)))
        .and_then(|()| ring.submit_and_wait(1));
    let first = ring.pop();
    check(
        "skip-success posts no CQE",
        seen.is_ok() && first.map(|c| c.user_data) == Some(13) && ring.pop().is_none(),
    );

    // A batch of 32 comes back complete, in order.
    let mut batch_ok =
        (0..32).all(|i| ring.push(&nop(100 + i)).is_ok()) && ring.submit_and_wait(32) == Ok(32);
    for i in 0..32 {
        batch_ok &= ring.pop().map(|c| c.user_data) == Some(100 + i);
    }
    check("a batch of 32 completes in order", batch_ok);

    // Overflow: 4 batches of 64 NOPs into a 128-entry CQ without reaping.
    // Nothing may be lost: every user_data comes back exactly once.
    let mut submitted_ok = true;
    for round in 0..4u64 {
        for i in 0..64 {
            submitted_ok &= ring.push(&nop(1000 + round * 64 + i)).is_ok();
        }
        submitted_ok &= ring.submit() == Ok(64);
    }
    let overflowed = ring.overflowed();
    let mut seen = [false; 256];
    let mut reaped = 0;
    while reaped < 256 {
        match ring.wait() {
            Ok(cqe)
                if (1000..1256).contains(&cqe.user_data)
                    && !seen[(cqe.user_data - 1000) as usize] =>
            {
                seen[(cqe.user_data - 1000) as usize] = true;
                reaped += 1;
            }
            _ => break,
        }
    }
    check(
        "the CQ overflowed into the kernel",
        submitted_ok && overflowed > 0,
    );
    check(
        "no CQE was lost to the overflow",
        reaped == 256 && ring.pop().is_none() && ring.overflowed() == 0,
    );

    // Children: exit statuses, kills, and bad requests.
    use rt::process::{WaitStatus, spawn, wait};
    let true_status = spawn(&mut ring, "bin/true", b"").and_then(|child| wait(&mut ring, child));
    check(
        "a child's exit status comes back",
        true_status == Ok(WaitStatus::Exited(0)),
    );
    let fault_status =
        spawn(&mut ring, "bin/fault", b"fault\0").and_then(|child| wait(&mut ring, child));
    check(
        "a child killed for a page fault shows SIGSEGV",
        fault_status == Ok(WaitStatus::Signaled(11)),
    );
    check(
        "spawning a missing program is ENOENT",
        spawn(&mut ring, "bin/nothing", b"") == Err(Errno::ENOENT),
    );
    check(
        "waiting on a bad handle is EBADF",
        wait(&mut ring, 77) == Err(Errno::EBADF),
    );
    let bad_path = Sqe {
        addr: 0xffff_8000_0000_0000,
        len: 8,
        ..Sqe::new(Opcode::ProcessSpawn)
    };
    check(
        "a spawn path in kernel memory is EFAULT",
        expect_res(&mut ring, &bad_path, Err(Errno::EFAULT)),
    );
    check(
        "an argv block without its NUL is EINVAL",
        spawn(&mut ring, "bin/true", b"true") == Err(Errno::EINVAL),
    );

    // Files of the initfs.
    use rt::fs;
    let motd = fs::open(&mut ring, c"etc/motd");
    let mut buffer = [0u8; 8];
    let first = motd.and_then(|handle| fs::read(&mut ring, handle, &mut buffer));
    check(
        "open and read an initfs file",
        first == Ok(8) && &buffer == b"Welcome.",
    );
    let size = fs::statx(&mut ring, c"etc/motd")
        .map(|statx| (statx.stx_size, statx.stx_mode & abi::file::S_IFMT));
    check(
        "statx gives the size and type",
        matches!(size, Ok((bytes, abi::file::S_IFREG)) if bytes > 8),
    );
    if let Ok(handle) = motd {
        check(
            "close releases a handle",
            fs::close(&mut ring, handle).is_ok(),
        );
        check(
            "closing it again is EBADF",
            fs::close(&mut ring, handle) == Err(Errno::EBADF),
        );
    }
    check(
        "opening a missing file is ENOENT",
        fs::open(&mut ring, c"etc/none") == Err(Errno::ENOENT),
    );
    let bin = fs::open(&mut ring, c"bin");
    check(
        "reading a directory is EISDIR",
        bin.and_then(|h| fs::read(&mut ring, h, &mut buffer)) == Err(Errno::EISDIR),
    );
    let write_open = Sqe {
        fd: abi::file::AT_FDCWD,
        addr: c"etc/motd".as_ptr() as u64,
        op_flags: abi::file::O_WRONLY,
        ..Sqe::new(Opcode::OpenAt)
    };
    check(
        "opening for writing is EROFS",
        expect_res(&mut ring, &write_open, Err(Errno::EROFS)),
    );
    let again = fs::open(&mut ring, c"etc/motd");
    let bad_buffer = again.map(|handle| Sqe {
        fd: handle,
        addr: 0xffff_8000_0000_0000,
        len: 8,
        off: u64::MAX,
        ..Sqe::new(Opcode::Read)
    });
    check(
        "reading into kernel memory is EFAULT",
        bad_buffer.is_ok_and(|sqe| expect_res(&mut ring, &sqe, Err(Errno::EFAULT))),
    );

    let mut failed = 0;
    for &(name, ok) in &results[..count] {
        let _ = writeln!(
            Writer(&mut ring),
            "ringtest: {} {name}",
            if ok { "ok" } else { "FAIL" }
        );
        failed += i32::from(!ok);
    }
    failed
}
