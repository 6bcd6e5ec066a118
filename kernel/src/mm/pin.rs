//! Pinned user buffers: the one way user memory reaches the kernel.
//!
//! A [`PinnedBuffer`] is built from a user range in a space, checked once
//! when it is built (inside the user half, every page present and
//! user-accessible, writable if the kernel will write it), and pins every
//! frame (the `PageInfo` pin count) until it drops.  The kernel then reads
//! and writes the frames through the direct map, never through the user
//! address: it never faults on user memory, never lifts SMAP, and an unmap
//! racing with the operation cannot take the frames away.  An operation's
//! future holds its buffer until its CQE is posted.

use super::frame::global as frames;
use super::space::Space;
use super::{PAGE_SIZE, phys_to_virt};
use crate::proc::elf::USER_END;
use abi::Errno;
use alloc::vec::Vec;
use x86_64::PhysAddr;
use x86_64::structures::paging::PageTableFlags as Flags;

/// The longest buffer one operation may pin.
pub const MAX_PINNED_BYTES: u64 = 1 << 20;

/// Whether the kernel will read or write the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

pub struct PinnedBuffer {
    /// The frame of every page the buffer touches, pinned.
    frames: Vec<PhysAddr>,
    /// Where the buffer starts in its first page.
    offset: usize,
    len: usize,
}

impl PinnedBuffer {
    /// Pins `[addr, addr + len)` of `space`, faulting in anonymous pages
    /// not touched yet.  `EFAULT` for any byte outside the user half,
    /// outside every region, kernel-only, or read-only when `access` is
    /// `Write`; `ENOMEM` when a page to fault in gets no frame; `EINVAL`
    /// past [`MAX_PINNED_BYTES`]; `ERESTARTSYS` when a page already
    /// carries `MAX_PIN_DEPTH` pins (the op waits and starts again).
    /// Nothing stays pinned on failure.
    pub fn new(space: &mut Space, addr: u64, len: u64, access: Access) -> Result<Self, Errno> {
        if len > MAX_PINNED_BYTES {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        if end > USER_END {
            return Err(Errno::EFAULT);
        }
        let mut buffer = Self {
            frames: Vec::new(),
            offset: (addr % PAGE_SIZE) as usize,
            len: len as usize,
        };
        if len == 0 {
            return Ok(buffer);
        }
        let first_page = addr - addr % PAGE_SIZE;
        for page in (first_page..end).step_by(PAGE_SIZE as usize) {
            let phys = user_frame(space, page, access)?;
            // At the pin depth: the op waits for a pin to go, and starts
            // again (`ops::start_op`).
            frames::pin(phys).ok_or(Errno::ERESTARTSYS)?;
            // Pushed only once pinned, so `drop` unpins exactly these.
            buffer.frames.push(phys);
        }
        Ok(buffer)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `chunk(buffer_offset, direct_map_pointer, bytes)` for each
    /// page-sized piece of the buffer.
    fn for_each_chunk(&self, mut chunk: impl FnMut(usize, *mut u8, usize)) {
        let mut done = 0;
        let mut in_page = self.offset;
        for frame in &self.frames {
            let bytes = (PAGE_SIZE as usize - in_page).min(self.len - done);
            let pointer = phys_to_virt(frame.as_u64() + in_page as u64).as_mut_ptr::<u8>();
            chunk(done, pointer, bytes);
            done += bytes;
            in_page = 0;
        }
    }

    /// Copies the buffer's bytes out.
    pub fn read_all(&self) -> Vec<u8> {
        let mut out = alloc::vec![0u8; self.len];
        self.read_at(0, &mut out);
        out
    }

    /// Hands the buffer's bytes to `piece` a few hundred at a time, copied
    /// through the stack: no kernel copy of the whole buffer (a user length
    /// must not become one large heap block).
    pub fn read_in_pieces(&self, mut piece: impl FnMut(&[u8])) {
        let mut copy = [0u8; 256];
        self.for_each_chunk(|_, pointer, bytes| {
            for start in (0..bytes).step_by(copy.len()) {
                let count = (bytes - start).min(copy.len());
                // SAFETY: as in `read_at`: `start..start + count` lies
                // within this chunk's pinned page.
                unsafe {
                    core::ptr::copy_nonoverlapping(pointer.add(start), copy.as_mut_ptr(), count)
                };
                piece(&copy[..count]);
            }
        });
    }

    /// Fills `out` with the bytes from offset `at`; `at + out.len()` is at
    /// most the buffer's length.
    pub fn read_at(&self, at: usize, out: &mut [u8]) {
        let end = at + out.len();
        self.for_each_chunk(|chunk_at, pointer, bytes| {
            let (from, to) = (chunk_at.max(at), (chunk_at + bytes).min(end));
            if from < to {
                // SAFETY: the frame is pinned and in the direct map;
                // `from..to` lies within this chunk's page and within `out`.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        pointer.add(from - chunk_at),
                        out[from - at..].as_mut_ptr(),
                        to - from,
                    );
                }
            }
        });
    }

    /// Copies `data` (at most the buffer's length) into the buffer.
    pub fn write_from(&self, data: &[u8]) -> usize {
        let len = data.len().min(self.len);
        self.write_at(0, &data[..len]);
        len
    }

    /// Copies `data` into the buffer at offset `at`; `at + data.len()` is
    /// at most the buffer's length.
    pub fn write_at(&self, at: usize, data: &[u8]) {
        let end = at + data.len();
        self.for_each_chunk(|chunk_at, pointer, bytes| {
            let (from, to) = (chunk_at.max(at), (chunk_at + bytes).min(end));
            if from < to {
                // SAFETY: as in `read_at`; the pages were checked writable.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        data[from - at..].as_ptr(),
                        pointer.add(from - chunk_at),
                        to - from,
                    );
                }
            }
        });
    }
}

impl crate::fs::pipe::Source for PinnedBuffer {
    fn size(&self) -> usize {
        self.len
    }

    fn copy_out(&self, at: usize, out: &mut [u8]) {
        self.read_at(at, out);
    }
}

/// The frame behind the user page `page` for `access`: a page not touched
/// yet, or still shared copy-on-write when the kernel will write it, is
/// faulted in here as the user's own access would (`ENOMEM` if no frame
/// can be had); `EFAULT` where the user may not make that access.
fn user_frame(space: &mut Space, page: u64, access: Access) -> Result<PhysAddr, Errno> {
    let write = access == Access::Write;
    let usable = |flags: Flags| {
        flags.contains(Flags::USER_ACCESSIBLE) && (!write || flags.contains(Flags::WRITABLE))
    };
    let (phys, flags) = match space.translate(page) {
        Some((phys, flags)) if usable(flags) => (phys, flags),
        _ => space.fault_for_kernel(page, write)?,
    };
    if usable(flags) {
        Ok(phys)
    } else {
        Err(Errno::EFAULT)
    }
}

/// The `N` bytes at `addr`, for the small arguments an op reads once (a
/// futex word, a timespec).  Copied while the caller holds the space, so
/// nothing can unmap them meanwhile: no pin is taken, and a page at the pin
/// depth does not hold the read up.
pub fn read_bytes<const N: usize>(space: &mut Space, addr: u64) -> Result<[u8; N], Errno> {
    let end = addr.checked_add(N as u64).ok_or(Errno::EFAULT)?;
    if end > USER_END {
        return Err(Errno::EFAULT);
    }
    let mut out = [0u8; N];
    let mut done = 0;
    while done < N {
        let at = addr + done as u64;
        let in_page = (at % PAGE_SIZE) as usize;
        let count = (PAGE_SIZE as usize - in_page).min(N - done);
        let phys = user_frame(space, at - in_page as u64, Access::Read)?;
        // SAFETY: a frame of this space, which the caller holds (so it is
        // not unmapped meanwhile), reached through the direct map; the
        // copy stays within its page and within `out`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(phys.as_u64() + in_page as u64).as_ptr::<u8>(),
                out[done..].as_mut_ptr(),
                count,
            );
        }
        done += count;
    }
    Ok(out)
}

/// Reads a NUL-terminated string of at most `max_len` bytes (NUL not
/// counted) at `addr`, a page at a time, so a short string at the end of a
/// mapping reads fine.  `ENAMETOOLONG` past `max_len`.
pub fn read_c_string(space: &mut Space, addr: u64, max_len: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut at = addr;
    loop {
        let chunk = PAGE_SIZE - at % PAGE_SIZE;
        let bytes = PinnedBuffer::new(space, at, chunk, Access::Read)?.read_all();
        match bytes.iter().position(|&byte| byte == 0) {
            Some(end) => {
                out.extend_from_slice(&bytes[..end]);
                return if out.len() > max_len {
                    Err(Errno::ENAMETOOLONG)
                } else {
                    Ok(out)
                };
            }
            None => out.extend_from_slice(&bytes),
        }
        if out.len() > max_len {
            return Err(Errno::ENAMETOOLONG);
        }
        at = at.checked_add(chunk).ok_or(Errno::EFAULT)?;
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        for frame in &self.frames {
            frames::unpin(*frame);
        }
    }
}
