//! [`FrameList`]: frames taken out of a space, waiting for their release
//! after a shootdown, kept in page-sized pieces.
//!
//! An unmap can take any number of frames: a process may map all of
//! memory and unmap it in one `MUNMAP`.  One `Vec` of them needed a heap
//! block of 8 bytes per page, over the heap's largest block (4 MiB) past
//! 2 GiB unmapped, and the kernel panicked.  Pieces of one page each never
//! need a block over a page (they hang in a linked list, so no block grows
//! with the count either), and cost 1/512 of the memory they list:
//! well inside the user reserve (1/64 of memory) that the kernel heap
//! keeps for itself, so the list's own growth cannot run it out.

use crate::mm::PAGE_SIZE;
use alloc::collections::LinkedList;
use alloc::vec::Vec;
use x86_64::PhysAddr;

/// Frames per piece: one page of addresses.
pub const PER_PIECE: usize = PAGE_SIZE as usize / size_of::<PhysAddr>();

#[derive(Default)]
pub struct FrameList {
    pieces: LinkedList<Vec<PhysAddr>>,
}

impl FrameList {
    pub const fn new() -> Self {
        Self {
            pieces: LinkedList::new(),
        }
    }

    pub fn push(&mut self, frame: PhysAddr) {
        match self.pieces.back_mut() {
            Some(piece) if piece.len() < PER_PIECE => piece.push(frame),
            _ => {
                let mut piece = Vec::with_capacity(PER_PIECE);
                piece.push(frame);
                self.pieces.push_back(piece);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The largest heap block the list holds, in bytes (host tests).
    #[cfg(test)]
    fn largest_block(&self) -> usize {
        let pieces = self
            .pieces
            .iter()
            .map(|piece| piece.capacity() * size_of::<PhysAddr>());
        pieces.max().unwrap_or(0)
    }
}

impl IntoIterator for FrameList {
    type Item = PhysAddr;
    type IntoIter = core::iter::Flatten<alloc::collections::linked_list::IntoIter<Vec<PhysAddr>>>;

    /// Hands the frames out in the order they were pushed; each piece's
    /// memory goes as soon as its frames are out.
    fn into_iter(self) -> Self::IntoIter {
        self.pieces.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64) -> PhysAddr {
        PhysAddr::new(index * PAGE_SIZE)
    }

    #[test]
    fn keeps_every_frame_in_order() {
        let mut list = FrameList::new();
        assert!(list.is_empty());
        let count = 3 * PER_PIECE as u64 + 7;
        for index in 0..count {
            list.push(frame(index));
        }
        assert_eq!(list.len(), count as usize);
        assert!(!list.is_empty());
        assert!(list.into_iter().eq((0..count).map(frame)));
    }

    /// What the list is for: listing 2 GiB of frames (which panicked the
    /// kernel as one `Vec`) needs no heap block over a page.
    #[test]
    fn never_needs_a_block_over_a_page() {
        let mut list = FrameList::new();
        let pages = (2u64 << 30) / PAGE_SIZE + 1;
        for index in 0..pages {
            list.push(frame(index));
        }
        assert_eq!(list.len() as u64, pages);
        assert_eq!(list.largest_block(), PAGE_SIZE as usize);
    }
}
