//! `pipetest`: checks PIPE, READ and WRITE on pipe ends, and the standard
//! handles a child gets at PROCESS_SPAWN.  Prints a line per check and
//! exits with the number that failed.
//!
//! `pipetest leave-a-read` is the child of one check: it starts a READ on
//! its standard input and exits without waiting for it.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, Opcode, SpawnStdio, Sqe};
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

fn pipe_sqe(addr: u64, user_data: u64) -> Sqe {
    Sqe {
        addr,
        user_data,
        ..Sqe::new(Opcode::Pipe)
    }
}

fn io_sqe(opcode: Opcode, fd: i32, addr: u64, len: usize, user_data: u64) -> Sqe {
    Sqe {
        fd,
        addr,
        len: len as u32,
        off: u64::MAX,
        user_data,
        ..Sqe::new(opcode)
    }
}

fn read_sqe(fd: i32, buffer: &mut [u8], user_data: u64) -> Sqe {
    io_sqe(
        Opcode::Read,
        fd,
        buffer.as_mut_ptr() as u64,
        buffer.len(),
        user_data,
    )
}

fn write_sqe(fd: i32, bytes: &[u8], user_data: u64) -> Sqe {
    io_sqe(
        Opcode::Write,
        fd,
        bytes.as_ptr() as u64,
        bytes.len(),
        user_data,
    )
}

/// Submits one SQE and waits for its CQE's result.
fn res(ring: &mut Ring, sqe: &Sqe) -> Result<u32, Errno> {
    ring.push(sqe)?;
    ring.submit()?;
    ring.wait_for(sqe.user_data)?
        .result()
        .map_err(|e| e.known().unwrap_or(Errno::EIO))
}

fn close(ring: &mut Ring, handle: i32) -> bool {
    rt::fs::close(ring, handle).is_ok()
}

/// Spawns `path` with `argv` and `stdio`, and waits for it.
fn run(ring: &mut Ring, path: &str, argv: &[u8], stdio: [i32; 3]) -> Result<WaitStatus, Errno> {
    let stdio = SpawnStdio {
        handles: stdio,
        reserved: 0,
    };
    let child = process::spawn_with_stdio(ring, path, argv, &stdio)?;
    process::wait(ring, child)
}

/// The big transfer: more than a pipe holds, so the writer must wait for
/// the reader.
/// What a pipe holds before writers wait.
const CAPACITY: usize = 64 * 1024;
const BIG: usize = CAPACITY + 3000;
static SOURCE: [u8; BIG] = pattern();

const fn pattern() -> [u8; BIG] {
    let mut bytes = [0u8; BIG];
    let mut index = 0;
    while index < BIG {
        bytes[index] = (index * 7 % 251) as u8;
        index += 1;
    }
    bytes
}

fn leave_a_read() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let mut buffer = [0u8; 16];
    let _ = ring.push(&read_sqe(0, &mut buffer, 1));
    let _ = ring.submit();
    // Exit with the READ still waiting: the kernel must cancel it and drop
    // the pipe end it holds.
    0
}

/// The child of the MSG_RING check: starts a READ on its standard input,
/// delivered to the thread, says so with a byte on its standard output,
/// and waits for the READ without ever reaping a CQE.
fn read_unreaped() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let mut buffer = [0u8; 16];
    let read = Sqe {
        personality: abi::deliver_to_thread(0),
        ..read_sqe(0, &mut buffer, 1)
    };
    if ring.push(&read).is_err() || ring.push(&write_sqe(1, b"r", 2)).is_err() {
        return 1;
    }
    ring.publish();
    let flags = abi::EnterFlags::WAIT_DELIVERED.bits();
    match rt::syscall::ring_enter(0, u32::MAX, 0, flags) {
        0 => 0,
        _ => 2,
    }
}

/// MSG_RINGs into a child that never reaps: its CQ fills, then its
/// overflow list, then MSG_RING is refused with `EOVERFLOW` (before, the
/// list grew without bound).  Closing the child's input ends it.
fn messages_into_an_unreaped_ring(ring: &mut Ring) -> bool {
    let (Ok((read, write)), Ok((ready_read, ready_write))) =
        (process::pipe(ring), process::pipe(ring))
    else {
        return false;
    };
    let child = process::spawn_with_stdio(
        ring,
        "bin/pipetest",
        b"pipetest\0read-unreaped\0",
        &SpawnStdio {
            handles: [read, ready_write, 2],
            reserved: 0,
        },
    );
    let closed = close(ring, read) && close(ring, ready_write);
    let Ok(child) = child else {
        return false;
    };
    // Its READ is in once its byte is here; from then on it reaps nothing.
    let mut byte = [0u8; 1];
    let ready = res(ring, &read_sqe(ready_read, &mut byte, 46)) == Ok(1);
    let mut sent = 0u32;
    let refused = loop {
        match process::msg_ring(ring, child, 7, sent) {
            Ok(()) if sent < 100_000 => sent += 1,
            other => break other,
        }
    };
    let status = close(ring, write).then(|| process::wait(ring, child));
    // The overflow list holds 4,096 CQEs past the child's CQ.
    closed
        && close(ring, ready_read)
        && ready
        && refused == Err(Errno::EOVERFLOW)
        && sent > 4096
        && status == Some(Ok(WaitStatus::Exited(0)))
}

/// Fills the pipe, starts eight WRITEs of [`BIG`] bytes that must wait
/// for room, and checks the kernel heap grew by less than one of them;
/// then cancels them and drains the pipe.
fn pending_writes_hold_no_copy(ring: &mut Ring, read: i32, write: i32) -> bool {
    const WRITERS: u64 = 8;
    let filled = res(ring, &write_sqe(write, &SOURCE[..CAPACITY], 42));
    let heap = |ring: &mut Ring| rt::stats::mem(ring).map_or(0, |s| s.heap_bytes_allocated);
    let before = heap(ring);
    for _ in 0..WRITERS {
        let _ = ring.push(&write_sqe(write, &SOURCE, 43));
    }
    let _ = ring.submit();
    let grown = heap(ring).saturating_sub(before);
    let cancelled = res(
        ring,
        &Sqe {
            addr: 43,
            user_data: 44,
            ..Sqe::new(Opcode::AsyncCancel)
        },
    );
    let ended = (0..WRITERS)
        .filter(|_| {
            ring.wait_for(43)
                .is_ok_and(|cqe| cqe.res == Errno::ECANCELED.as_res())
        })
        .count() as u64;
    let mut drained = 0;
    let mut sink = [0u8; 4096];
    while drained < CAPACITY {
        match res(ring, &read_sqe(read, &mut sink, 45)) {
            Ok(count) if count > 0 => drained += count as usize,
            _ => break,
        }
    }
    filled == Ok(CAPACITY as u32)
        && grown < BIG as u64
        && cancelled == Ok(0)
        && ended == WRITERS
        && drained == CAPACITY
}

fn main() -> i32 {
    match rt::args().nth(1) {
        Some("leave-a-read") => return leave_a_read(),
        Some("read-unreaped") => return read_unreaped(),
        _ => {}
    }
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    let mut checks = rt::checks::Checks::new("pipetest");
    let mut check = |name: &'static str, ok: bool| checks.check(name, ok);

    // Bad arguments leave nothing behind.
    check(
        "PIPE into a kernel address is EFAULT",
        res(&mut ring, &pipe_sqe(0xffff_8000_0000_0000, 1)) == Err(Errno::EFAULT),
    );
    check(
        "PIPE into an unmapped page is EFAULT",
        res(&mut ring, &pipe_sqe(0x1000, 2)) == Err(Errno::EFAULT),
    );
    let mut ends = [0i32; 2];
    let bad_flags = Sqe {
        op_flags: 1,
        ..pipe_sqe(ends.as_mut_ptr() as u64, 3)
    };
    check(
        "PIPE with unknown flags is EINVAL",
        res(&mut ring, &bad_flags) == Err(Errno::EINVAL),
    );
    let first = process::pipe(&mut ring);
    check(
        "a failed PIPE took no handle numbers",
        first == Ok((4, 5)) || first == Ok((3, 4)),
    );
    let Ok((read, write)) = first else {
        return 99;
    };

    // Bytes through, in order, at most what was asked.
    let hello = *b"hello, pipe";
    check(
        "WRITE to the write end takes every byte",
        res(&mut ring, &write_sqe(write, &hello, 10)) == Ok(hello.len() as u32),
    );
    let mut buffer = [0u8; 64];
    let got = res(&mut ring, &read_sqe(read, &mut buffer[..5], 11));
    check(
        "READ takes at most its length",
        got == Ok(5) && &buffer[..5] == b"hello",
    );
    let got = res(&mut ring, &read_sqe(read, &mut buffer, 12));
    check(
        "the next READ gets the rest, in order",
        got == Ok(6) && &buffer[..6] == b", pipe",
    );
    check(
        "READ on the write end is EBADF",
        res(&mut ring, &read_sqe(write, &mut buffer, 13)) == Err(Errno::EBADF),
    );
    check(
        "WRITE on the read end is EBADF",
        res(&mut ring, &write_sqe(read, &hello, 14)) == Err(Errno::EBADF),
    );
    let seek = Sqe {
        off: 5,
        ..read_sqe(read, &mut buffer, 15)
    };
    check(
        "a pipe cannot seek: ESPIPE",
        res(&mut ring, &seek) == Err(Errno::ESPIPE),
    );
    check(
        "READ into a kernel address is EFAULT",
        res(
            &mut ring,
            &Sqe {
                addr: 0xffff_ffff_8000_0000,
                ..read_sqe(read, &mut buffer, 16)
            },
        ) == Err(Errno::EFAULT),
    );

    // A READ on an empty pipe waits for the WRITE that follows it.
    let _ = ring.push(&read_sqe(read, &mut buffer, 20));
    let _ = ring.submit();
    let wrote = res(&mut ring, &write_sqe(write, b"later", 21));
    let waited = ring.wait_for(20).map(|cqe| cqe.res);
    check(
        "a waiting READ completes when bytes arrive",
        wrote == Ok(5) && waited == Ok(5) && &buffer[..5] == b"later",
    );

    // ASYNC_CANCEL stops a waiting READ.
    let _ = ring.push(&read_sqe(read, &mut buffer, 30));
    let _ = ring.submit();
    let cancel = Sqe {
        addr: 30,
        user_data: 31,
        ..Sqe::new(Opcode::AsyncCancel)
    };
    let cancelled = res(&mut ring, &cancel);
    let read_res = ring.wait_for(30).map(|cqe| cqe.res);
    check(
        "ASYNC_CANCEL ends a waiting READ with ECANCELED",
        cancelled == Ok(0) && read_res == Ok(Errno::ECANCELED.as_res()),
    );

    // More than the pipe holds: the WRITE waits for READs to make room.
    let _ = ring.push(&write_sqe(write, &SOURCE, 40));
    let _ = ring.submit();
    let (mut received, mut intact) = (0, true);
    let mut sink = [0u8; 4096];
    while received < BIG {
        match res(&mut ring, &read_sqe(read, &mut sink, 41)) {
            Ok(0) | Err(_) => break,
            Ok(count) => {
                let count = count as usize;
                intact &= SOURCE.get(received..received + count) == Some(&sink[..count]);
                received += count;
            }
        }
    }
    let big_write = ring.wait_for(40).map(|cqe| cqe.res);
    check(
        "a WRITE larger than the pipe completes as a reader drains it",
        big_write == Ok(BIG as i32) && received == BIG && intact,
    );

    // WRITEs waiting for room hold their pinned pages, not a kernel copy
    // of their bytes (a copy each let a process grow the kernel heap by a
    // MiB per SQE).
    check(
        "pending WRITEs hold no kernel copy of their bytes",
        pending_writes_hold_no_copy(&mut ring, read, write),
    );

    check(
        "MSG_RING into a ring nobody reaps is EOVERFLOW once its overflow list is full",
        messages_into_an_unreaped_ring(&mut ring),
    );

    // A child's standard output into the pipe.
    let status = run(
        &mut ring,
        "bin/echo",
        b"echo\0from\0a child\0",
        [0, write, 2],
    );
    let got = res(&mut ring, &read_sqe(read, &mut buffer, 50));
    check(
        "a child's standard output can be a pipe",
        status == Ok(WaitStatus::Exited(0)) && got == Ok(13) && &buffer[..13] == b"from a child\n",
    );
    check(
        "a child gets EBADF for a handle the parent lacks",
        run(&mut ring, "bin/true", b"", [0, 77, 2]) == Err(Errno::EBADF),
    );
    let reserved = SpawnStdio {
        handles: [0, 1, 2],
        reserved: 1,
    };
    check(
        "a SpawnStdio with its reserved word set is EINVAL",
        process::spawn_with_stdio(&mut ring, "bin/true", b"", &reserved) == Err(Errno::EINVAL),
    );

    // End of file once the last write end is closed (the child's copy too).
    check("CLOSE of the write end", close(&mut ring, write));
    check(
        "then READ gets 0, end of file",
        res(&mut ring, &read_sqe(read, &mut buffer, 60)) == Ok(0),
    );
    check("CLOSE of the read end", close(&mut ring, read));
    check(
        "a closed handle is EBADF",
        res(&mut ring, &read_sqe(read, &mut buffer, 61)) == Err(Errno::EBADF),
    );

    // A WRITE without readers is EPIPE, even when the last reader was a
    // process that exited with a READ still waiting.
    let Ok((read, write)) = process::pipe(&mut ring) else {
        return 98;
    };
    let status = run(
        &mut ring,
        "bin/pipetest",
        b"pipetest\0leave-a-read\0",
        [read, 1, 2],
    );
    let closed = close(&mut ring, read);
    check(
        "WRITE after every reader is gone is EPIPE (a dead child's READ was cancelled)",
        status == Ok(WaitStatus::Exited(0))
            && closed
            && res(&mut ring, &write_sqe(write, &hello, 70)) == Err(Errno::EPIPE),
    );
    check("CLOSE of the last end", close(&mut ring, write));

    checks.report(&mut ring)
}
