//! The initfs: a read-only view of the cpio "newc" archive (Linux's
//! initramfs format) that QEMU loads as the `-initrd` module.
//!
//! [`Archive::parse`] reads every record once, at boot, checks it, and keeps
//! a name-sorted index of [`Entry`]s that borrow the archive's bytes (file
//! data is never copied).  After that, [`Archive::lookup`] and
//! [`Archive::children`] fail only on a missing or ill-formed path.  The
//! record format is drawn in `newc`; path rules are in `path`.
//!
//! ```text
//! archive:  | record | record | ... | "TRAILER!!!" record | ignored ... |
//!           ^ offset 0; every record starts 4-byte aligned
//! index:    root (the "." record, or a made-up directory)
//!           entries sorted by name: "bin", "bin/sh", "etc", "etc/motd", ...
//! ```
//!
//! Policies, all enforced by `parse`:
//! - **Names** are normalised (leading `/` and `./`, trailing `/` dropped;
//!   `.` is the root) and must not contain empty, `.` or `..` components
//!   (`EINVAL`).  Lookup paths follow the same rules.
//! - **Duplicates** (two records with the same normalised name) are an
//!   error (`EEXIST`).  Linux lets the later record win; here the image is
//!   built by our own tools, so a duplicate is a build bug, and refusing it
//!   keeps lookups independent of record order.
//! - **Tree**: every entry's parent must be a directory entry in the
//!   archive, or the root (`ENOENT`, `ENOTDIR`), so lookups and listings
//!   agree.  `find . | cpio -o -H newc` produces such archives.
//! - **Data**: files carry data; a symlink's data is its target, which must
//!   be non-empty, NUL-free and shorter than `PATH_MAX`; directories and
//!   other kinds must have size 0 (`EINVAL`).
//! - **Checksums**: "070702" records have a regular file's checksum
//!   verified (`EIO`); see `newc`.
//! - **Limits**: names under `PATH_MAX` (`ENAMETOOLONG`), at most
//!   [`MAX_ENTRIES`] records (`EFBIG`), so parsing is bounded by
//!   O(bytes + entries · log entries).
//! - **Not supported**: compressed or concatenated archives (the first
//!   trailer ends the archive), hard links (GNU cpio stores the data with
//!   the last link only, so earlier links read as empty files), and the
//!   binary and "odc" cpio formats.
//!
//! Symlinks are returned by `lookup`, never followed.

use alloc::vec::Vec;

use super::error::CpioError;
use super::newc::{self, S_IFMT, S_IFREG};
use super::path;

/// The most records (besides the trailer) an archive may hold.
pub const MAX_ENTRIES: usize = 65_536;

const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
/// The setuid, setgid, sticky and rwx bits.
const PERMISSION_BITS: u32 = 0o7777;

/// What an entry is, from its mode's file-type bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// Devices, FIFOs and sockets: listed, but without data.
    Other,
}

impl EntryKind {
    fn from_mode(mode: u32) -> Self {
        match mode & S_IFMT {
            S_IFREG => Self::File,
            S_IFDIR => Self::Directory,
            S_IFLNK => Self::Symlink,
            _ => Self::Other,
        }
    }
}

/// One file, directory, symlink or special file of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The normalised path, e.g. `bin/sh`; `""` for the root.
    pub name: &'a str,
    pub kind: EntryKind,
    /// The permission bits (`mode & 0o7777`).
    pub mode: u32,
    pub size_bytes: u64,
    /// The file's contents, or the symlink's target; empty otherwise.
    pub data: &'a [u8],
    pub ino: u32,
}

impl<'a> Entry<'a> {
    /// The last component of the name (`sh` for `bin/sh`; `""` for the root).
    pub fn file_name(&self) -> &'a str {
        path::file_name(self.name)
    }

    fn from_record(record: &newc::Record<'a>, name: &'a str) -> Result<Self, CpioError> {
        let kind = EntryKind::from_mode(record.mode);
        let data = record.data;
        match kind {
            EntryKind::File => {}
            EntryKind::Symlink => {
                if data.is_empty() || data.len() >= newc::PATH_MAX || data.contains(&0) {
                    return Err(CpioError::BadSymlinkTarget);
                }
            }
            EntryKind::Directory | EntryKind::Other => {
                if !data.is_empty() {
                    return Err(CpioError::UnexpectedData);
                }
            }
        }
        Ok(Self {
            name,
            kind,
            mode: record.mode & PERMISSION_BITS,
            size_bytes: u64::try_from(data.len()).map_err(|_| CpioError::Overflow)?,
            data,
            ino: record.ino,
        })
    }
}

/// A checked, indexed initfs archive.
#[derive(Debug)]
pub struct Archive<'a> {
    root: Entry<'a>,
    /// Every entry but the root, sorted by name, names unique.
    entries: Vec<Entry<'a>>,
}

impl<'a> Archive<'a> {
    /// Checks the whole archive and indexes it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CpioError> {
        let mut root = None;
        let mut entries: Vec<Entry<'a>> = Vec::new();
        let mut offset = 0;
        let mut count = 0;
        loop {
            let record = newc::read_record(bytes, offset)?;
            if record.name == newc::TRAILER {
                break;
            }
            count += 1;
            if count > MAX_ENTRIES {
                return Err(CpioError::TooManyEntries);
            }
            let entry = Entry::from_record(&record, path::normalize(record.name)?)?;
            if !entry.name.is_empty() {
                entries.try_reserve(1).map_err(|_| CpioError::OutOfMemory)?;
                entries.push(entry);
            } else if root.is_some() {
                return Err(CpioError::Duplicate);
            } else if entry.kind != EntryKind::Directory {
                return Err(CpioError::RootNotDirectory);
            } else {
                root = Some(entry);
            }
            offset = record.next_offset;
        }
        // Unstable sort: it does not allocate, and names end up unique.
        entries.sort_unstable_by(|a, b| a.name.cmp(b.name));
        if entries.windows(2).any(|pair| pair[0].name == pair[1].name) {
            return Err(CpioError::Duplicate);
        }
        let archive = Self {
            root: root.unwrap_or(Entry {
                name: "",
                kind: EntryKind::Directory,
                mode: 0o755,
                size_bytes: 0,
                data: &[],
                ino: 0,
            }),
            entries,
        };
        for entry in &archive.entries {
            match archive.find(path::parent(entry.name)) {
                None => return Err(CpioError::ParentMissing),
                Some(parent) if parent.kind != EntryKind::Directory => {
                    return Err(CpioError::ParentNotDirectory);
                }
                Some(_) => {}
            }
        }
        Ok(archive)
    }

    /// The number of entries, not counting the root.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the archive holds nothing but (at most) the root.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The root directory.
    pub fn root(&self) -> Entry<'a> {
        self.root
    }

    /// Every entry but the root, in name order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        self.entries.iter().copied()
    }

    /// The entry at `path`, which may start with `/` or `./`.  A missing
    /// entry is `NotFound`, or `NotDirectory` when a leading component is
    /// not a directory (as `ENOTDIR` in Linux).
    pub fn lookup(&self, path: &str) -> Result<Entry<'a>, CpioError> {
        let name = path::normalize(path)?;
        if let Some(entry) = self.find(name) {
            return Ok(entry);
        }
        for (end, _) in name.match_indices('/') {
            match self.find(&name[..end]) {
                None => break,
                Some(ancestor) if ancestor.kind != EntryKind::Directory => {
                    return Err(CpioError::NotDirectory);
                }
                Some(_) => {}
            }
        }
        Err(CpioError::NotFound)
    }

    /// The entries directly inside the directory at `dir_path`, in name
    /// order.
    pub fn children(
        &self,
        dir_path: &str,
    ) -> Result<impl Iterator<Item = Entry<'a>> + '_, CpioError> {
        let dir = self.lookup(dir_path)?;
        if dir.kind != EntryKind::Directory {
            return Err(CpioError::NotDirectory);
        }
        // The directory's descendants are one run of the sorted index.
        let start = self
            .entries
            .partition_point(|entry| path::sorts_before_contents(entry.name, dir.name));
        let descendants = self.entries[start..]
            .iter()
            .take_while(move |entry| path::is_descendant(entry.name, dir.name));
        Ok(descendants
            .filter(move |entry| path::is_child(entry.name, dir.name))
            .copied())
    }

    /// The entry named `name` (normalised; `""` is the root).
    fn find(&self, name: &str) -> Option<Entry<'a>> {
        if name.is_empty() {
            return Some(self.root);
        }
        let index = self
            .entries
            .binary_search_by(|entry| entry.name.cmp(name))
            .ok()?;
        self.entries.get(index).copied()
    }
}

#[cfg(test)]
#[path = "cpio_tests.rs"]
mod tests;
