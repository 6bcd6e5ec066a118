//! Console output through the ring: a WRITE to descriptor 1, waited for.

use crate::ring::Ring;
use crate::sync::Mutex;
use abi::{Errno, Opcode, Sqe};

static RING: Mutex<Option<Ring>> = Mutex::new(None);

/// Writes `bytes` to descriptor `fd` with one WRITE on the runtime's ring
/// (taken on first use) and waits for it.  Returns the bytes the kernel
/// took.  A program that took the ring itself uses [`write_with`].
pub fn write(fd: i32, bytes: &[u8]) -> Result<usize, Errno> {
    let mut slot = RING.lock();
    if slot.is_none() {
        *slot = Some(Ring::take()?);
    }
    write_with(slot.as_mut().ok_or(Errno::ENODEV)?, fd, bytes)
}

/// Like [`write`], on `ring`.
pub fn write_with(ring: &mut Ring, fd: i32, bytes: &[u8]) -> Result<usize, Errno> {
    let mut sqe = Sqe::new(Opcode::Write);
    sqe.fd = fd;
    sqe.addr = bytes.as_ptr() as u64;
    sqe.len = u32::try_from(bytes.len()).map_err(|_| Errno::EINVAL)?;
    sqe.user_data = u64::MAX;
    ring.push(&sqe)?;
    ring.submit()?;
    crate::ring::result(&ring.wait_for(u64::MAX)?).map(|n| n as usize)
}

/// Formats `args` into a buffer and hands it to `sink` in as few pieces
/// as it fits (one, for a line of up to [`FORMAT_BUFFER`] bytes), so lines
/// from processes printing at once do not interleave mid-line.
fn write_formatted(
    args: core::fmt::Arguments<'_>,
    sink: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
) -> core::fmt::Result {
    struct Buffer<'a> {
        bytes: [u8; FORMAT_BUFFER],
        len: usize,
        sink: &'a mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    }
    impl Buffer<'_> {
        fn flush(&mut self) -> core::fmt::Result {
            if self.len > 0 {
                (self.sink)(&self.bytes[..self.len]).map_err(|_| core::fmt::Error)?;
                self.len = 0;
            }
            Ok(())
        }
    }
    impl core::fmt::Write for Buffer<'_> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            for chunk in text.as_bytes().chunks(FORMAT_BUFFER) {
                if self.len + chunk.len() > FORMAT_BUFFER {
                    self.flush()?;
                }
                self.bytes[self.len..self.len + chunk.len()].copy_from_slice(chunk);
                self.len += chunk.len();
            }
            Ok(())
        }
    }
    let mut buffer = Buffer {
        bytes: [0; FORMAT_BUFFER],
        len: 0,
        sink,
    };
    core::fmt::write(&mut buffer, args)?;
    buffer.flush()
}

/// The most bytes one formatted write collects before it writes.
pub const FORMAT_BUFFER: usize = 512;

/// `core::fmt` into the console through a ring the program holds.  Each
/// `write!` is one WRITE when it fits [`FORMAT_BUFFER`].
pub struct Writer<'a>(pub &'a mut Ring);

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        write_with(self.0, 1, text.as_bytes())
            .map(|_| ())
            .map_err(|_| core::fmt::Error)
    }

    fn write_fmt(&mut self, args: core::fmt::Arguments<'_>) -> core::fmt::Result {
        write_formatted(args, &mut |bytes| write_with(self.0, 1, bytes))
    }
}

/// `core::fmt` into the console.  Each `print!` is one WRITE when it fits
/// [`FORMAT_BUFFER`].
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        write(1, text.as_bytes())
            .map(|_| ())
            .map_err(|_| core::fmt::Error)
    }

    fn write_fmt(&mut self, args: core::fmt::Arguments<'_>) -> core::fmt::Result {
        write_formatted(args, &mut |bytes| write(1, bytes))
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::io::Console, format_args!($($arg)*));
    }};
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}
