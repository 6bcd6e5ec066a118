//! Pipe traffic between the threads of a worker: thread `s` writes into
//! pipe `s + 1` (mod the thread count) and reads pipe `s`.  Each pipe
//! carries one stream whose every byte is known (`counts::stream_byte`),
//! so the reader checks that nothing was lost, doubled or garbled.
//!
//! Neither side ever blocks: `PENDING` counts the bytes written and not
//! yet read, a WRITE goes in only when it fits well inside the pipe, and
//! a READ asks for no more than is pending.  So no cycle of threads can
//! wait on each other.

use crate::counts::{Kind, mix, stream_byte};
use crate::worker::{COUNTS, MAX_THREADS, Worker, ring};
use abi::Errno;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// What a worker keeps in flight per pipe: well under the pipe's 64 KiB.
const PIPE_LIMIT: u64 = 32 * 1024;
const CHUNK: usize = 2048;

static READ_END: [AtomicI32; MAX_THREADS] = [const { AtomicI32::new(-1) }; MAX_THREADS];
static WRITE_END: [AtomicI32; MAX_THREADS] = [const { AtomicI32::new(-1) }; MAX_THREADS];
static PENDING: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(0) }; MAX_THREADS];

/// How far this thread has written into its outgoing stream and read its
/// incoming one.
#[derive(Default)]
pub struct Streams {
    written: u64,
    read: u64,
}

/// Makes one pipe per thread.
pub fn make(threads: usize) -> Result<(), Errno> {
    for slot in 0..threads {
        let (read_end, write_end) = rt::process::pipe(&mut ring().lock())?;
        READ_END[slot].store(read_end, Ordering::Release);
        WRITE_END[slot].store(write_end, Ordering::Release);
    }
    Ok(())
}

/// Closes them, once every thread is done.
pub fn close(threads: usize) {
    for slot in 0..threads {
        for end in [&READ_END[slot], &WRITE_END[slot]] {
            let _ = rt::fs::close(&mut ring().lock(), end.swap(-1, Ordering::AcqRel));
        }
    }
}

fn stream_of(worker: &Worker, pipe: usize) -> u64 {
    mix(worker.plan.seed ^ worker.plan.id << 16 ^ pipe as u64)
}

/// A WRITE into the next thread's pipe, then a READ of this thread's.
pub fn exchange(worker: &mut Worker) {
    let mut buffer = [0u8; CHUNK];
    let target = (worker.slot + 1) % worker.plan.threads;
    let len = 1 + worker.random.below(CHUNK as u64) as usize;
    if PENDING[target].load(Ordering::Acquire) + len as u64 <= PIPE_LIMIT {
        let stream = stream_of(worker, target);
        for (i, byte) in buffer[..len].iter_mut().enumerate() {
            *byte = stream_byte(stream, worker.pipes.written + i as u64);
        }
        let fd = WRITE_END[target].load(Ordering::Acquire);
        let result = worker.call(rt::prep::write(fd, &buffer[..len], 0));
        match worker.expect_ok("pipe WRITE", result) {
            Some(n) if n as usize == len => {
                worker.pipes.written += len as u64;
                PENDING[target].fetch_add(len as u64, Ordering::AcqRel);
            }
            Some(n) => worker.fail(format_args!("pipe WRITE took {n} of {len} bytes")),
            None => {}
        }
    }
    let pending = PENDING[worker.slot].load(Ordering::Acquire);
    if pending == 0 {
        return;
    }
    let want = pending.min(CHUNK as u64) as usize;
    let fd = READ_END[worker.slot].load(Ordering::Acquire);
    let result = worker.call(rt::prep::read(fd, &mut buffer[..want], 0));
    let Some(got) = worker.expect_ok("pipe READ", result) else {
        return;
    };
    let got = got as usize;
    if got == 0 || got > want {
        return worker.fail(format_args!("pipe READ of {want} pending bytes got {got}"));
    }
    let stream = stream_of(worker, worker.slot);
    let start = worker.pipes.read;
    if let Some(bad) = (0..got).find(|&i| buffer[i] != stream_byte(stream, start + i as u64)) {
        worker.fail(format_args!(
            "pipe byte {} of the stream is {:#04x}, expected {:#04x}",
            start + bad as u64,
            buffer[bad],
            stream_byte(stream, start + bad as u64)
        ));
    }
    worker.pipes.read += got as u64;
    PENDING[worker.slot].fetch_sub(got as u64, Ordering::AcqRel);
    COUNTS.add(Kind::PipeBytes, got as u64);
}
