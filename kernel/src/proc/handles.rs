//! A process's handle table: small integers naming kernel objects (the
//! console, open files, pipe ends, the children it spawned, which `WAIT`
//! reaps, its threads and other rings).  The lowest free number is used
//! first, as with file descriptors.  0, 1 and 2 are standard input, output
//! and error: the console, or what the parent passed at spawn.

use super::process::Process;
use abi::Errno;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// The most handles one process may hold.
pub const MAX_HANDLES: usize = 1 << 16;

#[derive(Clone)]
pub enum Handle {
    /// The serial console: READ gets typed lines, WRITE prints.
    Console,
    /// The read end of a pipe.
    PipeRead(Arc<crate::fs::pipe::ReadEnd>),
    /// The write end of a pipe.
    PipeWrite(Arc<crate::fs::pipe::WriteEnd>),
    Child(Arc<Process>),
    File(Arc<OpenFile>),
    /// Another process's ring (a spawned process gets its parent's as
    /// [`PARENT_RING`]), for MSG_RING.
    Ring(Arc<crate::ring::Ring>),
    /// A thread of this process, which WAIT joins.
    Thread(Arc<crate::sched::thread::Thread>),
}

/// The handle under which a spawned process finds its parent's ring.
pub const PARENT_RING: i32 = 3;

/// An open initfs file (or directory): the entry and the read position.
pub struct OpenFile {
    pub entry: crate::fs::Entry<'static>,
    pub position: spin::Mutex<u64>,
}

/// Standard input, output and error.
pub const STDIO: usize = 3;

#[derive(Default)]
pub struct HandleTable {
    entries: Vec<Option<Handle>>,
}

impl HandleTable {
    /// A table holding only `stdio` as handles 0, 1 and 2.
    pub fn with_stdio(stdio: [Handle; STDIO]) -> Self {
        Self {
            entries: stdio.into_iter().map(Some).collect(),
        }
    }

    /// Stores `handle` under the lowest free number.  `EMFILE` when full.
    pub fn insert(&mut self, handle: Handle) -> Result<i32, Errno> {
        let index = match self.entries.iter().position(Option::is_none) {
            Some(index) => index,
            None if self.entries.len() < MAX_HANDLES => {
                self.entries.push(None);
                self.entries.len() - 1
            }
            None => return Err(Errno::EMFILE),
        };
        self.entries[index] = Some(handle);
        Ok(index as i32)
    }

    /// The handle numbered `number`; `EBADF` for none.
    pub fn get(&self, number: i32) -> Result<Handle, Errno> {
        usize::try_from(number)
            .ok()
            .and_then(|index| self.entries.get(index).cloned().flatten())
            .ok_or(Errno::EBADF)
    }

    /// The table a `SPACE_CLONE` child starts with: the same numbers for
    /// the same streams, files (sharing their positions, as `fork`'s
    /// descriptors do) and rings; children and threads stay the parent's.
    pub fn for_child(&self) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|entry| match entry {
                Some(Handle::Child(_) | Handle::Thread(_)) | None => None,
                Some(handle) => Some(handle.clone()),
            })
            .collect();
        let mut table = Self { entries };
        trim(&mut table.entries);
        table
    }

    /// Drops every handle (the process has ended; a thread handle would
    /// otherwise keep the process alive through its thread).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Removes handle `number`, if it is there.
    pub fn remove(&mut self, number: i32) -> Option<Handle> {
        let index = usize::try_from(number).ok()?;
        let handle = self.entries.get_mut(index)?.take();
        trim(&mut self.entries);
        handle
    }
}

/// Drops trailing empty slots and gives back spare room once a table is
/// mostly empty.
pub fn trim<T>(slots: &mut Vec<Option<T>>) {
    while matches!(slots.last(), Some(None)) {
        slots.pop();
    }
    if slots.capacity() > 16 && slots.len() < slots.capacity() / 4 {
        slots.shrink_to(slots.len() * 2);
    }
}
