//! Memory objects: pages that more than one mapping may show.
//!
//! - [`MemObject::file`]: an initfs file.  Its pages are read in (copied
//!   from the archive, the tail of the last page zeroed) on first touch and
//!   then kept: one page cache per file, shared by every mapping of it in
//!   every process ([`for_file`]).
//! - [`MemObject::shared_anonymous`]: `MAP_SHARED | MAP_ANONYMOUS` memory,
//!   zero-filled on first touch, which a `SPACE_CLONE` child shares with
//!   its parent.
//!
//! The object owns one reference to each of its frames; every page table
//! entry that maps one owns another (`frame::global::share`/`release`), so
//! a frame goes when the object and its last mapping have.  Private
//! mappings of a file map the object's page read-only and copy it on the
//! first write (copy-on-write, `space`).

use super::frame::global as frames;
use super::{PAGE_SIZE, phys_to_virt};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use spin::Mutex;
use x86_64::PhysAddr;

pub struct MemObject {
    /// The file's bytes, or `None` for zero-filled memory.
    source: Option<&'static [u8]>,
    /// Object bytes: the file's length, or the shared mapping's.
    bytes: u64,
    /// The pages read in so far, by page index.
    pages: Mutex<BTreeMap<u64, PhysAddr>>,
}

/// What [`MemObject::page`] needs to go on.
#[derive(Debug, PartialEq, Eq)]
pub enum PageError {
    /// The page is not read in yet and no spare frame was given.
    NeedFrame,
    /// The page lies wholly past the object's end (`SIGBUS` on Linux).
    PastEnd,
}

impl MemObject {
    /// The object of initfs file bytes `data` (use [`for_file`], which
    /// shares one object per file).
    fn file(data: &'static [u8]) -> Self {
        Self {
            source: Some(data),
            bytes: data.len() as u64,
            pages: Mutex::new(BTreeMap::new()),
        }
    }

    /// Zero-filled memory of `bytes` bytes, shared by whoever maps it.
    pub fn shared_anonymous(bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            source: None,
            bytes,
            pages: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn is_file(&self) -> bool {
        self.source.is_some()
    }

    /// The file's bytes, for a file object.
    pub fn file_bytes(&self) -> Option<&'static [u8]> {
        self.source
    }

    /// Pages the object spans (the last one perhaps partly).
    pub fn page_count(&self) -> u64 {
        self.bytes.div_ceil(PAGE_SIZE)
    }

    /// The frame of page `index`, with a reference for the caller's
    /// mapping (the caller releases it with `frame::global::release`).  A
    /// page not read in yet is filled into `spare` (a frame the caller
    /// allocated; taken only when used).
    pub fn page(&self, index: u64, spare: &mut Option<PhysAddr>) -> Result<PhysAddr, PageError> {
        if index >= self.page_count() {
            return Err(PageError::PastEnd);
        }
        let mut pages = self.pages.lock();
        if let Some(&frame) = pages.get(&index) {
            frames::share(frame);
            return Ok(frame);
        }
        let frame = spare.take().ok_or(PageError::NeedFrame)?;
        self.fill(index, frame);
        pages.insert(index, frame);
        frames::share(frame);
        Ok(frame)
    }

    /// Writes page `index`'s contents into `frame`.
    fn fill(&self, index: u64, frame: PhysAddr) {
        // SAFETY: `frame` is the caller's fresh frame, reachable through
        // the direct map; nothing else sees it until it is inserted.
        let page = unsafe {
            core::slice::from_raw_parts_mut(
                phys_to_virt(frame.as_u64()).as_mut_ptr::<u8>(),
                PAGE_SIZE as usize,
            )
        };
        let start = (index * PAGE_SIZE) as usize;
        let copied = match self.source {
            Some(data) if start < data.len() => {
                let chunk = &data[start..data.len().min(start + PAGE_SIZE as usize)];
                page[..chunk.len()].copy_from_slice(chunk);
                chunk.len()
            }
            _ => 0,
        };
        page[copied..].fill(0);
    }
}

impl Drop for MemObject {
    fn drop(&mut self) {
        for (_, frame) in core::mem::take(&mut *self.pages.lock()) {
            frames::release(frame);
        }
        if let Some(data) = self.source {
            // Unless the entry is already a newer object of the same file.
            let mut files = FILES.lock();
            let key = file_key(data);
            if files
                .get(&key)
                .is_some_and(|entry| entry.strong_count() == 0)
            {
                files.remove(&key);
                if files.is_empty() {
                    // An emptied `BTreeMap` keeps its node: give it back.
                    *files = BTreeMap::new();
                }
            }
        }
    }
}

/// File objects by where their bytes lie: every mapping of one initfs file
/// shares one page cache while any mapping lives.  An object takes its
/// entry out when it goes, so nothing is left once no mapping is.
static FILES: Mutex<BTreeMap<(usize, usize), Weak<MemObject>>> = Mutex::new(BTreeMap::new());

fn file_key(data: &[u8]) -> (usize, usize) {
    (data.as_ptr() as usize, data.len())
}

/// The object of the initfs file whose bytes are `data`.
pub fn for_file(data: &'static [u8]) -> Arc<MemObject> {
    let mut files = FILES.lock();
    let key = file_key(data);
    if let Some(object) = files.get(&key).and_then(Weak::upgrade) {
        return object;
    }
    let object = Arc::new(MemObject::file(data));
    files.insert(key, Arc::downgrade(&object));
    object
}
