//! Pipes: a bounded byte queue with a read end and a write end.
//!
//! ```text
//!   WRITE ──> [ WriteEnd ] ──> bytes (at most CAPACITY) ──> [ ReadEnd ] ──> READ
//! ```
//!
//! Each end is one object however many handles name it (a handle copied
//! into a child process is the same end, as a shared file description is
//! on Unix).  An end is closed when its last holder drops it:
//!
//! - a READ waits until there are bytes, then takes what is there (up to
//!   its length); once every write end is closed it gets 0, end of file;
//! - a WRITE waits for room until all its bytes are in; once every read
//!   end is closed it gets `EPIPE` (or the count already written).
//!
//! The waits are [`Event`]s, so a blocked READ or WRITE is a parked future
//! and holds no stack.  The queue grows as needed and gives its room back
//! when drained, so an idle pipe costs a few dozen bytes.

use abi::Errno;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use executor::Event;
use spin::Mutex;

/// The most bytes a pipe holds before writers wait (Linux's default).
pub const CAPACITY: usize = 64 * 1024;

struct State {
    bytes: VecDeque<u8>,
    /// Whether the read end / write end is still open.
    reader: bool,
    writer: bool,
}

pub struct Pipe {
    state: Mutex<State>,
    /// Signalled when bytes arrive or the write end closes.
    readable: Event,
    /// Signalled when room appears or the read end closes.
    writable: Event,
}

/// Bytes a WRITE takes from: a slice, or a pinned user buffer, which the
/// pipe copies from a piece at a time as room appears (so a WRITE waiting
/// for room holds its pinned pages, not a kernel copy of them).
pub trait Source {
    /// How many bytes there are.
    fn size(&self) -> usize;
    /// Fills `out` with the bytes from offset `at`; `at + out.len()` is
    /// at most [`Source::size`].
    fn copy_out(&self, at: usize, out: &mut [u8]);
}

impl Source for [u8] {
    fn size(&self) -> usize {
        self.len()
    }

    fn copy_out(&self, at: usize, out: &mut [u8]) {
        out.copy_from_slice(&self[at..at + out.len()]);
    }
}

/// What a read or write attempt that cannot wait found.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt<T> {
    Done(T),
    WouldBlock,
}

impl Pipe {
    /// The bytes available now, at most `max`; `Done(empty)` at end of
    /// file, `WouldBlock` when the pipe is empty but a writer remains.
    pub fn try_read(&self, max: usize) -> Attempt<Vec<u8>> {
        let taken = {
            let mut state = self.state.lock();
            if state.bytes.is_empty() {
                return if state.writer && max > 0 {
                    Attempt::WouldBlock
                } else {
                    Attempt::Done(Vec::new())
                };
            }
            let count = max.min(state.bytes.len());
            let taken: Vec<u8> = state.bytes.drain(..count).collect();
            if state.bytes.is_empty() {
                state.bytes = VecDeque::new();
            }
            taken
        };
        if !taken.is_empty() {
            self.writable.wake_all();
        }
        Attempt::Done(taken)
    }

    /// Queues as much of `data` from offset `at` as fits; how much.
    /// `Err(EPIPE)` once the read end is closed; `WouldBlock` when the
    /// pipe is full.
    pub fn try_write<S: Source + ?Sized>(
        &self,
        data: &S,
        at: usize,
    ) -> Result<Attempt<usize>, Errno> {
        let wanted = data.size() - at;
        let count = {
            let mut state = self.state.lock();
            if !state.reader {
                return Err(Errno::EPIPE);
            }
            let count = (CAPACITY - state.bytes.len()).min(wanted);
            if count == 0 && wanted > 0 {
                return Ok(Attempt::WouldBlock);
            }
            let old_len = state.bytes.len();
            state.bytes.resize(old_len + count, 0);
            // The new bytes are the last `count`: the end of the first
            // slice and all of the second, or the end of the second.
            let (front, back) = state.bytes.as_mut_slices();
            let from_back = count.min(back.len());
            let from_front = count - from_back;
            let front_len = front.len();
            data.copy_out(at, &mut front[front_len - from_front..]);
            let back_len = back.len();
            data.copy_out(at + from_front, &mut back[back_len - from_back..]);
            count
        };
        if count > 0 {
            self.readable.wake_all();
        }
        Ok(Attempt::Done(count))
    }

    /// Bytes queued now.
    pub fn queued(&self) -> usize {
        self.state.lock().bytes.len()
    }
}

/// The read end.  Dropping it closes it: writers get `EPIPE`.
pub struct ReadEnd(Arc<Pipe>);

/// The write end.  Dropping it closes it: readers get end of file.
pub struct WriteEnd(Arc<Pipe>);

/// A new, empty pipe's two ends.
pub fn pair() -> (ReadEnd, WriteEnd) {
    let pipe = Arc::new(Pipe {
        state: Mutex::new(State {
            bytes: VecDeque::new(),
            reader: true,
            writer: true,
        }),
        readable: Event::new(),
        writable: Event::new(),
    });
    (ReadEnd(pipe.clone()), WriteEnd(pipe))
}

impl ReadEnd {
    pub fn pipe(&self) -> &Pipe {
        &self.0
    }

    /// Waits for bytes and takes at most `max`; empty at end of file.
    pub async fn read(&self, max: usize) -> Vec<u8> {
        let mut result = None;
        self.0
            .readable
            .wait_until(|| match self.0.try_read(max) {
                Attempt::Done(bytes) => {
                    result = Some(bytes);
                    true
                }
                Attempt::WouldBlock => false,
            })
            .await;
        result.unwrap_or_default()
    }
}

impl WriteEnd {
    pub fn pipe(&self) -> &Pipe {
        &self.0
    }

    /// Writes all of `data`, waiting for room as needed.  `EPIPE` if the
    /// read end closes before anything was written; the count written so
    /// far if it closes midway.
    pub async fn write<S: Source + ?Sized>(&self, data: &S) -> Result<usize, Errno> {
        let mut written = 0;
        loop {
            let mut failed = None;
            self.0
                .writable
                .wait_until(|| match self.0.try_write(data, written) {
                    Ok(Attempt::Done(count)) => {
                        written += count;
                        true
                    }
                    Ok(Attempt::WouldBlock) => false,
                    Err(errno) => {
                        failed = Some(errno);
                        true
                    }
                })
                .await;
            match failed {
                Some(errno) if written == 0 => return Err(errno),
                Some(_) => return Ok(written),
                None if written == data.size() => return Ok(written),
                None => {}
            }
        }
    }
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.0.state.lock().reader = false;
        self.0.writable.wake_all();
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.0.state.lock().writer = false;
        self.0.readable.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_and_at_most_what_was_asked() {
        let (read, write) = pair();
        assert_eq!(
            write.pipe().try_write(&b"hello"[..], 0),
            Ok(Attempt::Done(5))
        );
        assert_eq!(read.pipe().try_read(3), Attempt::Done(b"hel".to_vec()));
        assert_eq!(read.pipe().try_read(10), Attempt::Done(b"lo".to_vec()));
        assert_eq!(read.pipe().try_read(10), Attempt::WouldBlock);
    }

    #[test]
    fn a_closed_write_end_is_end_of_file_after_the_bytes() {
        let (read, write) = pair();
        write.pipe().try_write(&b"ab"[..], 0).unwrap();
        drop(write);
        assert_eq!(read.pipe().try_read(10), Attempt::Done(b"ab".to_vec()));
        assert_eq!(read.pipe().try_read(10), Attempt::Done(Vec::new()));
    }

    #[test]
    fn a_closed_read_end_fails_writes_with_epipe() {
        let (read, write) = pair();
        drop(read);
        assert_eq!(write.pipe().try_write(&b"x"[..], 0), Err(Errno::EPIPE));
    }

    #[test]
    fn a_full_pipe_takes_what_fits_then_blocks() {
        let (read, write) = pair();
        let data = alloc::vec![7u8; CAPACITY + 10];
        assert_eq!(
            write.pipe().try_write(&data[..], 0),
            Ok(Attempt::Done(CAPACITY))
        );
        assert_eq!(
            write.pipe().try_write(&data[..], 0),
            Ok(Attempt::WouldBlock)
        );
        assert_eq!(read.pipe().try_read(4), Attempt::Done(alloc::vec![7u8; 4]));
        assert_eq!(write.pipe().try_write(&data[..], 0), Ok(Attempt::Done(4)));
        assert_eq!(read.pipe().queued(), CAPACITY);
    }

    #[test]
    fn writes_from_an_offset_keep_order_when_the_queue_wraps() {
        let (read, write) = pair();
        let data: Vec<u8> = (0..CAPACITY + 300).map(|i| (i * 7 % 251) as u8).collect();
        // Fill, drain part, refill: the queue's storage wraps around.
        write.0.state.lock().bytes.reserve_exact(CAPACITY);
        assert_eq!(
            write.pipe().try_write(&data[..], 0),
            Ok(Attempt::Done(CAPACITY))
        );
        let Attempt::Done(head) = read.pipe().try_read(1000) else {
            panic!("bytes were queued");
        };
        assert_eq!(head, data[..1000]);
        assert_eq!(
            write.pipe().try_write(&data[..], CAPACITY),
            Ok(Attempt::Done(300))
        );
        let wrapped = !write.0.state.lock().bytes.as_slices().1.is_empty();
        assert!(wrapped, "the test must make the queue wrap");
        let mut rest = Vec::new();
        while let Attempt::Done(bytes) = read.pipe().try_read(4096) {
            if bytes.is_empty() {
                break;
            }
            rest.extend(bytes);
        }
        assert_eq!(rest, data[1000..]);
    }

    #[test]
    fn a_zero_length_read_never_blocks() {
        let (read, _write) = pair();
        assert_eq!(read.pipe().try_read(0), Attempt::Done(Vec::new()));
    }
}
