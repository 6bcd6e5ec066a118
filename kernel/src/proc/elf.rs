//! Checking a program image and planning how to load it.
//!
//! [`plan`] reads only the ELF header, the program headers and (for a
//! position-independent program) the dynamic section and its relocation
//! table (with `goblin`), in kernel memory, and accepts what this kernel
//! can run: a little-endian x86_64 program without an interpreter, either
//!
//! - a static executable (`ET_EXEC`, no dynamic section), loaded where it
//!   was linked, or
//! - a static position-independent executable (`ET_DYN`), loaded at a
//!   page-aligned load bias the caller picks (`mm::aslr`), whose only
//!   relocations are `R_X86_64_RELATIVE` ones into its writable segments
//!   (`relocations`),
//!
//! whose loadable segments lie in the user half once moved, above the null
//! page, page-congruent with their file offsets, inside the file, and
//! apart from each other, with the entry point in an executable segment.
//! Anything else is `ENOEXEC` with a reason; no input makes it panic.
//!
//! The plan says what to map and which 8-byte words to patch; the
//! address-space code maps it (writable segments into fresh frames, as the
//! design asks) and writes the relocations into those frames before the
//! program runs.  A writable segment inside `PT_GNU_RELRO` (the GOT,
//! `.data.rel.ro`) is then mapped read-only: only the loader writes it.
// `deny`, not `forbid`: `ktest!` registrations are the one allowed form.
#![deny(unsafe_code)]

use abi::Errno;
use alloc::vec::Vec;
use goblin::container::{Container, Ctx};
use goblin::elf::program_header::{
    PF_W, PF_X, PT_DYNAMIC, PT_GNU_RELRO, PT_INTERP, PT_LOAD, ProgramHeader,
};
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
    /// Writable only for the loader: `PT_GNU_RELRO` covers the whole
    /// segment, so it is mapped read-only (its relocations written first).
    pub relro: bool,
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

/// One relocation to apply: the 8-byte little-endian `value` at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relocation {
    pub at: u64,
    pub value: u64,
}

/// What to map, and where to start.  Every address is where the program
/// runs: link-time addresses plus `load_bias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    /// How far the program moved from its link-time addresses: the bias
    /// asked for, for a position-independent program; 0 for `ET_EXEC`.
    pub load_bias: u64,
    /// Sorted by address, non-overlapping.
    pub segments: Vec<Segment>,
    /// Each inside a writable segment.
    pub relocations: Vec<Relocation>,
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
    BadLoadBias,
    NeedsDynamicLinker,
    BadDynamicSection,
    BadRelocation,
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
            Self::BadLoadBias => "the load bias is not page-aligned, or moves an address past 2^64",
            Self::NeedsDynamicLinker => {
                "needs a dynamic linker (an interpreter, libraries, PLT or symbol \
                 relocations, text relocations or initializers)"
            }
            Self::BadDynamicSection => "the dynamic section is malformed or duplicated",
            Self::BadRelocation => {
                "a relocation is not R_X86_64_RELATIVE, or its table or its target \
                 lies outside the program's segments (targets: writable ones only)"
            }
        }
    }
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

/// Checks `image` and plans its loading; a position-independent program
/// moves by `load_bias` (which must be page-aligned), an `ET_EXEC` stays
/// where it was linked.
pub fn plan(image: &[u8], load_bias: u64) -> Result<LoadPlan, ElfError> {
    let header = Elf::parse_header(image).map_err(|_| ElfError::NotElf)?;
    if header.e_ident[header::EI_CLASS] != header::ELFCLASS64
        || header.e_ident[header::EI_DATA] != header::ELFDATA2LSB
    {
        return Err(ElfError::Not64BitLittleEndian);
    }
    if header.e_machine != header::EM_X86_64 {
        return Err(ElfError::NotX86_64);
    }
    let position_independent = match header.e_type {
        header::ET_EXEC => false,
        header::ET_DYN => true,
        _ => return Err(ElfError::NotStaticExecutable),
    };
    let bias = if position_independent { load_bias } else { 0 };
    if bias % PAGE != 0 {
        return Err(ElfError::BadLoadBias);
    }
    let count = usize::from(header.e_phnum);
    if count == 0 || count > MAX_PROGRAM_HEADERS || usize::from(header.e_phentsize) != 56 {
        return Err(ElfError::BadProgramHeaders);
    }
    let offset = usize::try_from(header.e_phoff).map_err(|_| ElfError::BadProgramHeaders)?;
    let ctx = Ctx::new(Container::Big, goblin::container::Endian::Little);
    let headers =
        ProgramHeader::parse(image, offset, count, ctx).map_err(|_| ElfError::BadProgramHeaders)?;
    let has = |kind: u32| headers.iter().any(|ph| ph.p_type == kind);
    if position_independent && has(PT_INTERP) {
        return Err(ElfError::NeedsDynamicLinker);
    }
    if !position_independent && (has(PT_INTERP) || has(PT_DYNAMIC)) {
        return Err(ElfError::NotStaticExecutable);
    }

    let mut segments = Vec::new();
    for ph in headers.iter().filter(|ph| ph.p_type == PT_LOAD) {
        if segments.len() == MAX_SEGMENTS {
            return Err(ElfError::BadSegment);
        }
        segments.push(check_segment(ph, image.len() as u64, bias)?);
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
    let entry = header
        .e_entry
        .checked_add(bias)
        .ok_or(ElfError::BadLoadBias)?;
    let runs_entry =
        |s: &Segment| s.executable && (s.vaddr..s.vaddr + s.mem_bytes).contains(&entry);
    if !segments.iter().any(runs_entry) {
        return Err(ElfError::EntryNotExecutable);
    }
    for relro in headers.iter().filter(|ph| ph.p_type == PT_GNU_RELRO) {
        mark_relro(&mut segments, relro, bias)?;
    }
    let relocations = if position_independent {
        super::relocations::read(image, &headers, &segments, bias)?
    } else {
        Vec::new()
    };
    Ok(LoadPlan {
        entry,
        load_bias: bias,
        segments,
        relocations,
    })
}

fn check_segment(ph: &ProgramHeader, file_len: u64, bias: u64) -> Result<Segment, ElfError> {
    let segment = Segment {
        vaddr: ph.p_vaddr.checked_add(bias).ok_or(ElfError::BadLoadBias)?,
        mem_bytes: ph.p_memsz,
        file_offset: ph.p_offset,
        file_bytes: ph.p_filesz,
        writable: ph.p_flags & PF_W != 0,
        executable: ph.p_flags & PF_X != 0,
        relro: false,
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

/// Marks the writable segments that `relro` (a `PT_GNU_RELRO` header)
/// covers whole: they hold only what relocations write.  A segment it
/// covers in part stays writable (its pages hold other data too).
fn mark_relro(segments: &mut [Segment], relro: &ProgramHeader, bias: u64) -> Result<(), ElfError> {
    let start = relro
        .p_vaddr
        .checked_add(bias)
        .ok_or(ElfError::BadSegment)?;
    let end = start
        .checked_add(relro.p_memsz)
        .ok_or(ElfError::BadSegment)?;
    for segment in segments.iter_mut().filter(|s| s.writable) {
        // Sound segments end below USER_END: no overflow.
        segment.relro |= start <= segment.vaddr && segment.vaddr + segment.mem_bytes <= end;
    }
    Ok(())
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
        let (mut count, mut relro) = (0, 0);
        for program in programs {
            let bias = crate::mm::aslr::next_layout().load_bias();
            let plan =
                plan(program.data, bias).map_err(|e| alloc::format!("{}: {e}", program.name))?;
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
            // Every program is position-independent, moved and relocated,
            // and its RELRO segment (the GOT) is read-only to it.
            crate::ensure_eq!(plan.load_bias, bias);
            for relocation in &plan.relocations {
                let word = crate::mm::usercopy::read_u64(&space, relocation.at);
                crate::ensure_eq!(word, Some(relocation.value));
            }
            for segment in plan.segments.iter().filter(|s| s.relro) {
                let (_, flags) = space.translate(segment.vaddr).ok_or("RELRO unmapped")?;
                crate::ensure!(!flags.contains(F::WRITABLE), "RELRO page {flags:?}");
                relro += 1;
            }
            count += 1;
        }
        crate::ensure!(count > 0, "no programs in /bin");
        crate::ensure_eq!(relro, count);
        Ok(())
    }
);
