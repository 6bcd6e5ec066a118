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

/// `core::fmt` into the console through a ring the program holds.
pub struct Writer<'a>(pub &'a mut Ring);

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        write_with(self.0, 1, text.as_bytes())
            .map(|_| ())
            .map_err(|_| core::fmt::Error)
    }
}

/// `core::fmt` into the console.
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        write(1, text.as_bytes())
            .map(|_| ())
            .map_err(|_| core::fmt::Error)
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
