//! Checking a program image and planning how to load it.
//!
//! [`plan`] reads only the ELF header and the program headers (with
//! `goblin`), in kernel memory, and accepts what this kernel can run: a
//! static, little-endian x86_64 executable (`ET_EXEC`, no interpreter, no
//! dynamic section) whose loadable segments lie in the user half, above the
//! null page, page-congruent with their file offsets, inside the file, and
//! apart from each other, with the entry point in an executable segment.
//! Anything else is `ENOEXEC` with a reason; no input makes it panic.
//!
//! The plan says what to map; the address-space code maps it (writable
//! segments into fresh frames, as the design asks).
// `deny`, not `forbid`: `ktest!` registrations are the one allowed form.
#![deny(unsafe_code)]

use abi::Errno;
use alloc::vec::Vec;
use goblin::container::{Container, Ctx};
use goblin::elf::program_header::{PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, ProgramHeader};
use goblin::elf::{Elf, header};

/// The lowest address a segment may use: page 0 stays unmapped.
pub const USER_MIN: u64 = 0x1000;
/// One past the highest user address (the canonical lower half).
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// More program headers than this is not a program this kernel built.
pub const MAX_PROGRAM_HEADERS: usize = 64;
/// More loadable segments than this is refused.
pub const MAX_SEGMENTS: usize = 16;

const PAGE: u64 = 4096;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_bytes: u64,
    pub file_offset: u64,
    pub file_bytes: u64,
    pub writable: bool,
    pub executable: bool,
}

impl Segment {
    /// The page-aligned range the segment occupies.
    pub fn pages(&self) -> (u64, u64) {
        (
            self.vaddr & !(PAGE - 1),
            (self.vaddr + self.mem_bytes).next_multiple_of(PAGE),
        )
    }
}

/// What to map, and where to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    /// Sorted by address, non-overlapping.
    pub segments: Vec<Segment>,
}

/// Why an image was refused.  Every one is `ENOEXEC` to user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64BitLittleEndian,
    NotX86_64,
    NotStaticExecutable,
    BadProgramHeaders,
    NoLoadableSegment,
    BadSegment,
    OverlappingSegments,
    EntryNotExecutable,
}

impl ElfError {
    pub fn errno(self) -> Errno {
        Errno::ENOEXEC
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::NotElf => "not an ELF file",
            Self::Not64BitLittleEndian => "not a 64-bit little-endian ELF",
            Self::NotX86_64 => "not an x86_64 program",
            Self::NotStaticExecutable => {
                "not a static executable (ET_EXEC without interpreter or dynamic section)"
            }
            Self::BadProgramHeaders => "program headers missing, too many, or outside the file",
            Self::NoLoadableSegment => "no loadable segment",
            Self::BadSegment => {
                "a segment is empty, outside the user half or the file, or misaligned"
            }
            Self::OverlappingSegments => "segments overlap",
            Self::EntryNotExecutable => "the entry point is not in an executable segment",
        }
    }
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

/// Checks `image` and plans its loading.
pub fn plan(image: &[u8]) -> Result<LoadPlan, ElfError> {
    let header = Elf::parse_header(image).map_err(|_| ElfError::NotElf)?;
    if header.e_ident[header::EI_CLASS] != header::ELFCLASS64
        || header.e_ident[header::EI_DATA] != header::ELFDATA2LSB
    {
        return Err(ElfError::Not64BitLittleEndian);
    }
    if header.e_machine != header::EM_X86_64 {
        return Err(ElfError::NotX86_64);
    }
    if header.e_type != header::ET_EXEC {
        return Err(ElfError::NotStaticExecutable);
    }
    let count = usize::from(header.e_phnum);
    if count == 0 || count > MAX_PROGRAM_HEADERS || usize::from(header.e_phentsize) != 56 {
        return Err(ElfError::BadProgramHeaders);
    }
    let offset = usize::try_from(header.e_phoff).map_err(|_| ElfError::BadProgramHeaders)?;
    let ctx = Ctx::new(Container::Big, goblin::container::Endian::Little);
    let headers =
        ProgramHeader::parse(image, offset, count, ctx).map_err(|_| ElfError::BadProgramHeaders)?;
    if headers
        .iter()
        .any(|ph| ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
    {
        return Err(ElfError::NotStaticExecutable);
    }

    let mut segments = Vec::new();
    for ph in headers.iter().filter(|ph| ph.p_type == PT_LOAD) {
        if segments.len() == MAX_SEGMENTS {
            return Err(ElfError::BadSegment);
        }
        segments.push(check_segment(ph, image.len() as u64)?);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    segments.sort_unstable_by_key(|segment| segment.vaddr);
    for pair in segments.windows(2) {
        if pair[0].pages().1 > pair[1].pages().0 {
            return Err(ElfError::OverlappingSegments);
        }
    }
    let entry = header.e_entry;
    let runs_entry =
        |s: &Segment| s.executable && (s.vaddr..s.vaddr + s.mem_bytes).contains(&entry);
    if !segments.iter().any(runs_entry) {
        return Err(ElfError::EntryNotExecutable);
    }
    Ok(LoadPlan { entry, segments })
}

fn check_segment(ph: &ProgramHeader, file_len: u64) -> Result<Segment, ElfError> {
    let segment = Segment {
        vaddr: ph.p_vaddr,
        mem_bytes: ph.p_memsz,
        file_offset: ph.p_offset,
        file_bytes: ph.p_filesz,
        writable: ph.p_flags & PF_W != 0,
        executable: ph.p_flags & PF_X != 0,
    };
    let mem_end = segment
        .vaddr
        .checked_add(segment.mem_bytes)
        .ok_or(ElfError::BadSegment)?;
    let file_end = segment
        .file_offset
        .checked_add(segment.file_bytes)
        .ok_or(ElfError::BadSegment)?;
    let sound = segment.mem_bytes > 0
        && segment.file_bytes <= segment.mem_bytes
        && segment.vaddr >= USER_MIN
        && mem_end
            .checked_next_multiple_of(PAGE)
            .is_some_and(|end| end <= USER_END)
        && file_end <= file_len
        && segment.vaddr % PAGE == segment.file_offset % PAGE;
    if sound {
        Ok(segment)
    } else {
        Err(ElfError::BadSegment)
    }
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;

crate::ktest!(
    fn the_initfs_programs_load_into_a_space() {
        use crate::mm::space::Space;
        let archive = crate::fs::initfs::get().ok_or("no initfs")?;
        let programs = archive
            .children("bin")
            .map_err(|e| alloc::format!("bin: {e}"))?;
        let mut count = 0;
        for program in programs {
            let plan = plan(program.data).map_err(|e| alloc::format!("{}: {e}", program.name))?;
            let mut space = Space::new().map_err(|e| alloc::format!("{e}"))?;
            space
                .load(program.data, &plan)
                .map_err(|e| alloc::format!("{}: {e}", program.name))?;
            let (_, flags) = space
                .translate(plan.entry)
                .ok_or("the entry point is not mapped")?;
            use x86_64::structures::paging::PageTableFlags as F;
            crate::ensure!(
                flags.contains(F::USER_ACCESSIBLE) && !flags.contains(F::NO_EXECUTE),
                "entry page {flags:?}"
            );
            count += 1;
        }
        crate::ensure!(count > 0, "no programs in /bin");
        Ok(())
    }
);
