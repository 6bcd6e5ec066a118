//! A program's function symbols, from its ELF `.symtab`, for the user
//! backtraces of crash reports (`crash_report`).  Addresses are link-time
//! ones: the caller takes the program's load bias off first.  User programs keep their
//! symbol table (the release profile does not strip) and frame pointers
//! (`.cargo/config.toml` forces them everywhere), so a report can walk the
//! RBP chain and name each frame.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use goblin::elf::Elf;
use goblin::elf::section_header::SHN_UNDEF;
use goblin::elf::sym::STT_FUNC;

/// The functions of one image, sorted by address.
pub struct Symbols<'a> {
    functions: Vec<(u64, u64, &'a str)>,
}

impl<'a> Symbols<'a> {
    /// The function symbols of `image`, or `None` if it is not an ELF
    /// file goblin can read.  An image without a `.symtab` gives an empty
    /// table: frames then print as bare addresses.
    pub fn new(image: &'a [u8]) -> Option<Self> {
        let elf = Elf::parse(image).ok()?;
        let mut functions: Vec<(u64, u64, &'a str)> = elf
            .syms
            .iter()
            // Defined ones: a position-independent program's first
            // function lies at link-time address 0.
            .filter(|symbol| symbol.st_type() == STT_FUNC && symbol.st_shndx != SHN_UNDEF as usize)
            .filter_map(|symbol| {
                let name = elf.strtab.get_at(symbol.st_name)?;
                Some((symbol.st_value, symbol.st_size, name))
            })
            .collect();
        functions.sort_unstable_by_key(|&(start, _, _)| start);
        Some(Self { functions })
    }

    /// The function containing `address`, demangled without its hash, and
    /// the offset into it.  A symbol of size 0 covers only its first byte.
    pub fn lookup(&self, address: u64) -> Option<(String, u64)> {
        let after = self
            .functions
            .partition_point(|&(start, _, _)| start <= address);
        let &(start, _, name) = self.functions[..after]
            .iter()
            .rev()
            .find(|&&(start, size, _)| address < start + size.max(1))?;
        Some((
            alloc::format!("{:#}", rustc_demangle::demangle(name)),
            address - start,
        ))
    }

    /// [`Symbols::lookup`] of a frame's run-time `address` in a program
    /// moved by `load_bias`: a return address (every frame past the first)
    /// points after its call, so the call's function is named; the offset
    /// stays that of `address`.
    pub fn frame(&self, address: u64, load_bias: u64, is_return: bool) -> Option<(String, u64)> {
        let back = u64::from(is_return);
        let linked = address.wrapping_sub(load_bias).wrapping_sub(back);
        self.lookup(linked)
            .map(|(name, offset)| (name, offset + back))
    }

    pub fn len(&self) -> usize {
        self.functions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

/// `rip`, then the return addresses along the frame-pointer chain from
/// `rbp` (each frame: the caller's RBP, then the return address), read
/// with `read`.  Frames must move up the stack; the walk stops at RBP 0
/// (where `_start` begins the chain), at an unreadable frame, a zero
/// return address, or after `max_frames`.
pub fn frame_chain(
    rip: u64,
    mut rbp: u64,
    max_frames: usize,
    read: impl Fn(u64) -> Option<u64>,
) -> Vec<u64> {
    let mut frames = alloc::vec![rip];
    while frames.len() < max_frames && rbp != 0 {
        let (Some(next), Some(ret)) = (read(rbp), read(rbp.wrapping_add(8))) else {
            break;
        };
        if ret == 0 {
            break;
        }
        frames.push(ret);
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    frames
}

#[cfg(test)]
#[path = "symbols_tests.rs"]
mod tests;
