//! The relocations of a static position-independent program (`elf::plan`
//! for an `ET_DYN` image): its dynamic section (`PT_DYNAMIC`, read from
//! the file with `goblin`) names a `DT_RELA` table, and every entry of it
//! must be an `R_X86_64_RELATIVE`: "write load bias + addend at load bias +
//! offset".  That is all a static PIE needs, and all this loader does:
//!
//! ```text
//!   accepted   DT_RELA, DT_RELASZ, DT_RELAENT (24), DT_RELACOUNT, and what
//!              only a dynamic linker reads (DT_SYMTAB, DT_STRTAB, hashes,
//!              DT_FLAGS_1, DT_DEBUG, ...): ignored
//!   refused    DT_NEEDED, DT_REL*, DT_RELR, DT_JMPREL / DT_PLTRELSZ,
//!              DT_TEXTREL or DF_TEXTREL, DT_INIT*, DT_PREINIT_ARRAY:
//!              a program that needs them needs a dynamic linker
//! ```
//!
//! The table must lie in the file-backed part of a loadable segment, and
//! each target (8 bytes) inside one writable segment, so a relocation can
//! only patch the new program's own data pages, never its code, and never
//! anything outside them.  No input makes this panic.
// `deny`, not `forbid`, like `elf`: the crate's lint levels allow no more.
#![deny(unsafe_code)]

use super::elf::{ElfError, Relocation, Segment};
use alloc::vec::Vec;
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::{
    DF_TEXTREL, DT_FLAGS, DT_INIT, DT_INIT_ARRAY, DT_INIT_ARRAYSZ, DT_JMPREL, DT_NEEDED,
    DT_PLTRELSZ, DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ, DT_REL, DT_RELA, DT_RELAENT, DT_RELASZ,
    DT_RELSZ, DT_TEXTREL, Dynamic,
};
use goblin::elf::program_header::{PT_DYNAMIC, ProgramHeader};
use goblin::elf::reloc::{R_X86_64_RELATIVE, RelocSection};

/// `DT_RELR` and `DT_RELRSZ` (packed relative relocations, gABI 2022):
/// not in goblin's tables.
const DT_RELR: u64 = 36;
const DT_RELRSZ: u64 = 35;
/// The size of one `Elf64_Rela`.
const RELA_BYTES: u64 = 24;
/// The size of one relocated word.
const WORD_BYTES: u64 = 8;

/// Where the relocation table is, as the dynamic section says.
#[derive(Default)]
struct Table {
    address: Option<u64>,
    bytes: Option<u64>,
    entry_bytes: Option<u64>,
}

/// The relocations of a position-independent image whose program headers
/// are `headers` and whose checked segments (moved by `bias`) are
/// `segments`, with their targets and values moved by `bias`.
pub fn read(
    image: &[u8],
    headers: &[ProgramHeader],
    segments: &[Segment],
    bias: u64,
) -> Result<Vec<Relocation>, ElfError> {
    if headers.iter().filter(|ph| ph.p_type == PT_DYNAMIC).count() > 1 {
        return Err(ElfError::BadDynamicSection);
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let Some(dynamic) =
        Dynamic::parse(image, headers, ctx).map_err(|_| ElfError::BadDynamicSection)?
    else {
        return Ok(Vec::new()); // nothing to relocate
    };
    let table = table(&dynamic)?;
    let Some(address) = table.address else {
        return match table.bytes {
            None | Some(0) => Ok(Vec::new()),
            Some(_) => Err(ElfError::BadDynamicSection),
        };
    };
    let bytes = table.bytes.unwrap_or(0);
    if table.entry_bytes != Some(RELA_BYTES) || bytes % RELA_BYTES != 0 {
        return Err(ElfError::BadDynamicSection);
    }
    let offset = file_offset(segments, address, bytes, bias)?;
    let (Ok(offset), Ok(len)) = (usize::try_from(offset), usize::try_from(bytes)) else {
        return Err(ElfError::BadRelocation);
    };
    let entries =
        RelocSection::parse(image, offset, len, true, ctx).map_err(|_| ElfError::BadRelocation)?;
    let mut relocations = Vec::new();
    relocations
        .try_reserve_exact(entries.len())
        .map_err(|_| ElfError::BadRelocation)?;
    for entry in entries.iter() {
        if entry.r_type != R_X86_64_RELATIVE || entry.r_sym != 0 {
            return Err(ElfError::BadRelocation);
        }
        let at = entry
            .r_offset
            .checked_add(bias)
            .ok_or(ElfError::BadRelocation)?;
        if !segments
            .iter()
            .any(|s| s.writable && holds(s, at, WORD_BYTES))
        {
            return Err(ElfError::BadRelocation);
        }
        // The value is the program's business: any 64-bit word is sound.
        let value = bias.wrapping_add_signed(entry.r_addend.unwrap_or(0));
        relocations.push(Relocation { at, value });
    }
    Ok(relocations)
}

/// The relocation table's entries from the dynamic section, refusing what
/// needs a dynamic linker.
fn table(dynamic: &Dynamic) -> Result<Table, ElfError> {
    let mut table = Table::default();
    for entry in &dynamic.dyns {
        let (tag, value) = (entry.d_tag, entry.d_val);
        let slot = match tag {
            DT_RELA => &mut table.address,
            DT_RELASZ => &mut table.bytes,
            DT_RELAENT => &mut table.entry_bytes,
            DT_NEEDED | DT_REL | DT_RELR | DT_JMPREL | DT_TEXTREL | DT_INIT | DT_INIT_ARRAY
            | DT_PREINIT_ARRAY => return Err(ElfError::NeedsDynamicLinker),
            DT_RELSZ | DT_RELRSZ | DT_PLTRELSZ | DT_INIT_ARRAYSZ | DT_PREINIT_ARRAYSZ
                if value != 0 =>
            {
                return Err(ElfError::NeedsDynamicLinker);
            }
            DT_FLAGS if value & DF_TEXTREL != 0 => return Err(ElfError::NeedsDynamicLinker),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(ElfError::BadDynamicSection); // a tag given twice
        }
    }
    Ok(table)
}

/// Where the `bytes` at link-time address `address` lie in the file: they
/// must be inside the file-backed part of one segment.
fn file_offset(segments: &[Segment], address: u64, bytes: u64, bias: u64) -> Result<u64, ElfError> {
    let at = address.checked_add(bias).ok_or(ElfError::BadRelocation)?;
    segments
        .iter()
        .find(|s| {
            let file_part = Segment {
                mem_bytes: s.file_bytes,
                ..**s
            };
            holds(&file_part, at, bytes)
        })
        .map(|s| s.file_offset + (at - s.vaddr))
        .ok_or(ElfError::BadRelocation)
}

/// Whether `segment`'s bytes include `[at, at + bytes)`.
fn holds(segment: &Segment, at: u64, bytes: u64) -> bool {
    // Checked segments end below USER_END, so their ends do not overflow.
    at >= segment.vaddr
        && at
            .checked_add(bytes)
            .is_some_and(|end| end <= segment.vaddr + segment.mem_bytes)
}
