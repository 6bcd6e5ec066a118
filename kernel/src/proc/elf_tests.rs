//! Host tests for `elf` and `relocations`: images are built here, field by
//! field, hostile ones included.

use super::*;
use goblin::elf::dynamic::{
    DT_FLAGS, DT_INIT_ARRAY, DT_JMPREL, DT_NEEDED, DT_NULL, DT_PLTRELSZ, DT_REL, DT_RELA,
    DT_RELAENT, DT_RELASZ, DT_TEXTREL,
};
use goblin::elf::reloc::{R_X86_64_64, R_X86_64_RELATIVE};

/// Where the tests load position-independent images.
const BIAS: u64 = 0x7f_0000_0000;

/// [`super::plan`] at [`BIAS`] (which an `ET_EXEC` ignores).
fn plan(elf: &[u8]) -> Result<LoadPlan, ElfError> {
    super::plan(elf, BIAS)
}

const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// A program header: (type, flags, offset, vaddr, filesz, memsz).
type Phdr = (u32, u32, u64, u64, u64, u64);

/// Builds an ELF64 image: header, program headers, then zeros to `len`.
fn image(e_type: u16, machine: u16, entry: u64, phdrs: &[Phdr], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF");
    out.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, version 1
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&e_type.to_le_bytes());
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&entry.to_le_bytes());
    out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    out.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    out.extend_from_slice(&(phdrs.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    for &(kind, flags, offset, vaddr, filesz, memsz) in phdrs {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        for value in [offset, vaddr, vaddr, filesz, memsz, 4096] {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out.resize(len.max(out.len()), 0);
    out
}

/// A typical static program: text at 4 MiB, data (with bss) after it.
fn program() -> Vec<u8> {
    image(
        header::ET_EXEC,
        header::EM_X86_64,
        0x40_0010,
        &[
            (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x100, 0x100),
            (PT_LOAD, R | W, 0x2000, 0x40_1000, 0x10, 0x2000),
        ],
        0x3000,
    )
}

#[test]
fn a_static_program_is_planned() {
    let plan = plan(&program()).unwrap();
    assert_eq!(plan.entry, 0x40_0010);
    assert_eq!(plan.segments.len(), 2);
    let (text, data) = (plan.segments[0], plan.segments[1]);
    assert!(text.executable && !text.writable);
    assert!(data.writable && !data.executable);
    assert_eq!((data.file_bytes, data.mem_bytes), (0x10, 0x2000));
    assert_eq!(data.pages(), (0x40_1000, 0x40_3000));
}

#[test]
fn segments_come_out_sorted() {
    let elf = image(
        header::ET_EXEC,
        header::EM_X86_64,
        0x50_0000,
        &[
            (PT_LOAD, R | W, 0x1000, 0x60_0000, 8, 8),
            (PT_LOAD, R | X, 0x2000, 0x50_0000, 8, 8),
        ],
        0x3000,
    );
    let plan = plan(&elf).unwrap();
    assert_eq!(plan.segments[0].vaddr, 0x50_0000);
    assert_eq!(plan.segments[1].vaddr, 0x60_0000);
}

fn refused(elf: &[u8]) -> ElfError {
    let error = plan(elf).unwrap_err();
    assert_eq!(error.errno(), Errno::ENOEXEC);
    error
}

#[test]
fn wrong_kinds_of_file_are_refused() {
    assert_eq!(refused(b""), ElfError::NotElf);
    assert_eq!(refused(b"#!/bin/sh\n"), ElfError::NotElf);
    let mut elf32 = program();
    elf32[4] = 1;
    assert!(matches!(
        refused(&elf32),
        ElfError::Not64BitLittleEndian | ElfError::NotElf
    ));
    let mut big_endian = program();
    big_endian[5] = 2;
    assert!(matches!(
        refused(&big_endian),
        ElfError::Not64BitLittleEndian | ElfError::NotElf
    ));
    let arm = image(
        header::ET_EXEC,
        183,
        0x40_0010,
        &[(PT_LOAD, R | X, 0, 0x40_0000, 8, 8)],
        0x1000,
    );
    assert_eq!(refused(&arm), ElfError::NotX86_64);
    let relocatable = image(
        header::ET_REL,
        header::EM_X86_64,
        0x1010,
        &[(PT_LOAD, R | X, 0, 0x1000, 8, 8)],
        0x1000,
    );
    assert_eq!(refused(&relocatable), ElfError::NotStaticExecutable);
}

#[test]
fn dynamic_programs_are_refused() {
    for kind in [PT_INTERP, PT_DYNAMIC] {
        let elf = image(
            header::ET_EXEC,
            header::EM_X86_64,
            0x40_0010,
            &[
                (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x100, 0x100),
                (kind, R, 0x1000, 0x40_0000, 8, 8),
            ],
            0x2000,
        );
        assert_eq!(refused(&elf), ElfError::NotStaticExecutable);
    }
}

#[test]
fn bad_program_header_tables_are_refused() {
    let none = image(header::ET_EXEC, header::EM_X86_64, 0x40_0010, &[], 0x1000);
    assert_eq!(refused(&none), ElfError::BadProgramHeaders);
    let mut outside = program();
    outside[32..40].copy_from_slice(&0xffff_0000u64.to_le_bytes()); // e_phoff
    assert_eq!(refused(&outside), ElfError::BadProgramHeaders);
    let mut too_many = program();
    too_many[56..58].copy_from_slice(&60_000u16.to_le_bytes()); // e_phnum
    assert_eq!(refused(&too_many), ElfError::BadProgramHeaders);
    let only_notes = image(
        header::ET_EXEC,
        header::EM_X86_64,
        0x40_0010,
        &[(4, R, 0, 0x40_0000, 8, 8)],
        0x1000,
    );
    assert_eq!(refused(&only_notes), ElfError::NoLoadableSegment);
}

fn one_segment(entry: u64, phdr: Phdr) -> Vec<u8> {
    image(header::ET_EXEC, header::EM_X86_64, entry, &[phdr], 0x2000)
}

#[test]
fn bad_segments_are_refused() {
    let cases: [(&str, Phdr); 8] = [
        ("empty", (PT_LOAD, R | X, 0x1000, 0x40_0000, 0, 0)),
        (
            "file bigger than memory",
            (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x200, 0x100),
        ),
        ("null page", (PT_LOAD, R | X, 0, 0, 0x100, 0x100)),
        (
            "kernel half",
            (PT_LOAD, R | X, 0x1000, 0xffff_ffff_8000_0000, 0x100, 0x100),
        ),
        (
            "crosses the user end",
            (PT_LOAD, R | X, 0x1000, USER_END - 0x1000, 0x100, 0x2000),
        ),
        (
            "address overflow",
            (PT_LOAD, R | X, 0x1000, u64::MAX - 0x10, 0x10, 0x100),
        ),
        (
            "outside the file",
            (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x10_0000, 0x10_0000),
        ),
        (
            "offset not congruent",
            (PT_LOAD, R | X, 0x1010, 0x40_0000, 0x100, 0x100),
        ),
    ];
    for (what, phdr) in cases {
        let entry = phdr.3.wrapping_add(1);
        assert_eq!(
            plan(&one_segment(entry, phdr)),
            Err(ElfError::BadSegment),
            "{what}"
        );
    }
    let offset_overflow = one_segment(
        0x40_0001,
        (PT_LOAD, R | X, u64::MAX - 4, 0x40_0000, 0x100, 0x100),
    );
    assert_eq!(refused(&offset_overflow), ElfError::BadSegment);
}

#[test]
fn overlapping_segments_are_refused() {
    let elf = image(
        header::ET_EXEC,
        header::EM_X86_64,
        0x40_0010,
        &[
            (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x100, 0x1800),
            (PT_LOAD, R | W, 0x1000, 0x40_1000, 8, 8),
        ],
        0x3000,
    );
    assert_eq!(refused(&elf), ElfError::OverlappingSegments);
}

#[test]
fn the_entry_must_be_executable() {
    let data_entry = image(
        header::ET_EXEC,
        header::EM_X86_64,
        0x40_1004,
        &[
            (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x100, 0x100),
            (PT_LOAD, R | W, 0x2000, 0x40_1000, 0x10, 0x10),
        ],
        0x3000,
    );
    assert_eq!(refused(&data_entry), ElfError::EntryNotExecutable);
    let nowhere = one_segment(0x90_0000, (PT_LOAD, R | X, 0x1000, 0x40_0000, 0x100, 0x100));
    assert_eq!(refused(&nowhere), ElfError::EntryNotExecutable);
}

#[test]
fn no_truncation_or_corruption_panics() {
    let good = program();
    for len in 0..good.len().min(0x200) {
        let _ = plan(&good[..len]);
    }
    let mut state = 0x9e37_79b9_u32;
    for _ in 0..20_000 {
        let mut bytes = good.clone();
        for _ in 0..4 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let at = (state >> 8) as usize % 0x100;
            bytes[at] = (state >> 24) as u8;
        }
        let _ = plan(&bytes);
    }
}

// Position-independent programs.

const PT_GNU_RELRO_: u32 = goblin::elf::program_header::PT_GNU_RELRO;

/// A static PIE as `user/user.ld` lays one out, linked at 0:
///
/// ```text
///   vaddr   file     segment
///   0x0000  0x1000   text   R X  0x100 bytes, entry 0x10
///   0x1000  0x2000   rodata R    the RELA table
///   0x2000  0x3000   relro  R W  .dynamic, then the GOT at 0x2080
///   0x3000  0x4000   data   R W  0x10 bytes in the file, 0x2000 in memory
/// ```
///
/// `dynamic` are the dynamic entries (DT_NULL added), `relas` the table:
/// (offset, type, addend), symbol 0.
fn pie_with(extra: &[Phdr], dynamic: &[(u64, u64)], relas: &[(u64, u32, i64)]) -> Vec<u8> {
    let dynamic_bytes = 16 * (dynamic.len() as u64 + 1);
    let mut phdrs = vec![
        (PT_LOAD, R | X, 0x1000, 0x0, 0x100, 0x100),
        (PT_LOAD, R, 0x2000, 0x1000, 0x800, 0x800),
        (PT_LOAD, R | W, 0x3000, 0x2000, 0x100, 0x100),
        (PT_LOAD, R | W, 0x4000, 0x3000, 0x10, 0x2000),
        (
            PT_DYNAMIC,
            R | W,
            0x3000,
            0x2000,
            dynamic_bytes,
            dynamic_bytes,
        ),
        (PT_GNU_RELRO_, R, 0x3000, 0x2000, 0x100, 0x100),
    ];
    phdrs.extend_from_slice(extra);
    let mut elf = image(header::ET_DYN, header::EM_X86_64, 0x10, &phdrs, 0x5000);
    for (index, &(tag, value)) in dynamic.iter().chain([&(DT_NULL, 0)]).enumerate() {
        let at = 0x3000 + 16 * index;
        elf[at..at + 8].copy_from_slice(&tag.to_le_bytes());
        elf[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
    }
    for (index, &(offset, kind, addend)) in relas.iter().enumerate() {
        let at = 0x2000 + 24 * index;
        elf[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        elf[at + 8..at + 16].copy_from_slice(&u64::from(kind).to_le_bytes());
        elf[at + 16..at + 24].copy_from_slice(&addend.to_le_bytes());
    }
    elf
}

/// The dynamic entries naming a RELA table of `count` entries at 0x1000.
fn rela_table(count: u64) -> Vec<(u64, u64)> {
    vec![(DT_RELA, 0x1000), (DT_RELASZ, 24 * count), (DT_RELAENT, 24)]
}

/// Two relocations: a GOT entry pointing at code, a data word at rodata.
const RELAS: [(u64, u32, i64); 2] = [
    (0x2080, R_X86_64_RELATIVE, 0x50),
    (0x3008, R_X86_64_RELATIVE, 0x1000),
];

fn pie() -> Vec<u8> {
    pie_with(&[], &rela_table(2), &RELAS)
}

#[test]
fn a_position_independent_program_is_planned_at_the_bias() {
    let plan = plan(&pie()).unwrap();
    assert_eq!(plan.load_bias, BIAS);
    assert_eq!(plan.entry, BIAS + 0x10);
    let starts: Vec<u64> = plan.segments.iter().map(|s| s.vaddr).collect();
    assert_eq!(starts, [BIAS, BIAS + 0x1000, BIAS + 0x2000, BIAS + 0x3000]);
    assert_eq!(
        plan.relocations,
        [
            Relocation {
                at: BIAS + 0x2080,
                value: BIAS + 0x50
            },
            Relocation {
                at: BIAS + 0x3008,
                value: BIAS + 0x1000
            },
        ]
    );
    // RELRO covers the GOT's segment whole, not the data segment.
    let relro: Vec<bool> = plan.segments.iter().map(|s| s.relro).collect();
    assert_eq!(relro, [false, false, true, false]);
    // Another bias moves everything by the difference.
    let other = super::plan(&pie(), 0x40_0000).unwrap();
    assert_eq!(other.entry, 0x40_0010);
    assert_eq!(other.relocations[0].value, 0x40_0050);
}

#[test]
fn a_negative_addend_and_no_relocations_are_fine() {
    let negative = plan(&pie_with(
        &[],
        &rela_table(1),
        &[(0x2080, R_X86_64_RELATIVE, -0x10)],
    ))
    .unwrap();
    assert_eq!(negative.relocations[0].value, BIAS - 0x10);
    assert!(
        plan(&pie_with(&[], &[], &[]))
            .unwrap()
            .relocations
            .is_empty()
    );
    assert!(
        plan(&pie_with(&[], &rela_table(0), &[]))
            .unwrap()
            .relocations
            .is_empty()
    );
}

#[test]
fn an_executable_stays_where_it_was_linked() {
    let plan = super::plan(&program(), 0x1234_5000).unwrap();
    assert_eq!((plan.entry, plan.load_bias), (0x40_0010, 0));
    assert_eq!(plan.segments[0].vaddr, 0x40_0000);
    assert!(plan.relocations.is_empty());
}

#[test]
fn bad_load_biases_are_refused() {
    for (bias, error) in [
        (BIAS + 1, ElfError::BadLoadBias),
        (0, ElfError::BadSegment), // text at the null page
        (u64::MAX & !0xfff, ElfError::BadSegment),
        (USER_END - 0x1000, ElfError::BadSegment),
        (0xffff_8000_0000_0000, ElfError::BadSegment),
    ] {
        assert_eq!(super::plan(&pie(), bias), Err(error), "bias {bias:#x}");
    }
}

#[test]
fn relocations_other_than_relative_ones_into_writable_segments_are_refused() {
    let cases: [(&str, (u64, u32, i64)); 8] = [
        ("absolute, with a symbol", (0x2080, R_X86_64_64, 0)),
        ("unknown type", (0x2080, 0xdead, 0)),
        ("into code", (0x0008, R_X86_64_RELATIVE, 0)),
        ("into rodata", (0x1800, R_X86_64_RELATIVE, 0)),
        ("across a segment's end", (0x4ffc, R_X86_64_RELATIVE, 0)),
        ("into a hole", (0x8000, R_X86_64_RELATIVE, 0)),
        (
            "into the kernel half",
            (0xffff_8000_0000_0000, R_X86_64_RELATIVE, 0),
        ),
        (
            "wrapping the address space",
            (u64::MAX - 3, R_X86_64_RELATIVE, 0),
        ),
    ];
    for (what, rela) in cases {
        let elf = pie_with(&[], &rela_table(2), &[RELAS[0], rela]);
        assert_eq!(refused(&elf), ElfError::BadRelocation, "{what}");
    }
    // A relative relocation naming a symbol: r_info's high half.
    let mut with_symbol = pie();
    with_symbol[0x2000 + 8 + 4..0x2000 + 16].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(refused(&with_symbol), ElfError::BadRelocation);
}

#[test]
fn what_needs_a_dynamic_linker_is_refused() {
    const DT_RELR: u64 = 36;
    for entry in [
        (DT_NEEDED, 1),
        (DT_REL, 0x1000),
        (DT_RELR, 0x1000),
        (DT_JMPREL, 0x1000),
        (DT_PLTRELSZ, 24),
        (DT_TEXTREL, 0),
        (DT_FLAGS, 0x4), // DF_TEXTREL
        (DT_INIT_ARRAY, 0x2080),
    ] {
        let mut dynamic = rela_table(2);
        dynamic.push(entry);
        let elf = pie_with(&[], &dynamic, &RELAS);
        assert_eq!(
            refused(&elf),
            ElfError::NeedsDynamicLinker,
            "tag {:#x}",
            entry.0
        );
    }
    let interpreter = pie_with(&[(PT_INTERP, R, 0x2000, 0x1000, 8, 8)], &[], &[]);
    assert_eq!(refused(&interpreter), ElfError::NeedsDynamicLinker);
    // Tags that only matter to a dynamic linker, with nothing to do: fine.
    let mut harmless = rela_table(2);
    harmless.extend([
        (DT_PLTRELSZ, 0),
        (DT_FLAGS, 0x8),
        (0x6fff_fffb, 0x0800_0001),
    ]);
    assert!(plan(&pie_with(&[], &harmless, &RELAS)).is_ok());
}

#[test]
fn hostile_dynamic_sections_are_refused() {
    let with = |dynamic: &[(u64, u64)]| refused(&pie_with(&[], dynamic, &RELAS));
    let twice = [rela_table(2), vec![(DT_RELA, 0x1000)]].concat();
    assert_eq!(with(&twice), ElfError::BadDynamicSection);
    let entry_16 = [(DT_RELA, 0x1000), (DT_RELASZ, 48), (DT_RELAENT, 16)];
    assert_eq!(with(&entry_16), ElfError::BadDynamicSection);
    let no_entry_size = [(DT_RELA, 0x1000), (DT_RELASZ, 48)];
    assert_eq!(with(&no_entry_size), ElfError::BadDynamicSection);
    let ragged = [(DT_RELA, 0x1000), (DT_RELASZ, 47), (DT_RELAENT, 24)];
    assert_eq!(with(&ragged), ElfError::BadDynamicSection);
    let size_without_table = [(DT_RELASZ, 48), (DT_RELAENT, 24)];
    assert_eq!(with(&size_without_table), ElfError::BadDynamicSection);
    for (what, address, bytes) in [
        ("outside every segment", 0x9000_0000, 48),
        ("past the segment's file bytes", 0x1000, 0x810),
        ("in the bss, not the file", 0x3018, 24),
        ("a size that wraps", 0x1000, 24 * (u64::MAX / 24)),
        ("an address that wraps", u64::MAX - 0x10, 48),
    ] {
        let dynamic = [(DT_RELA, address), (DT_RELASZ, bytes), (DT_RELAENT, 24)];
        assert_eq!(with(&dynamic), ElfError::BadRelocation, "{what}");
    }
    let two_dynamic = pie_with(&[(PT_DYNAMIC, R, 0x3000, 0x2000, 16, 16)], &[], &[]);
    assert_eq!(refused(&two_dynamic), ElfError::BadDynamicSection);
    let mut dynamic_outside = pie_with(&[], &[], &[]);
    // Program header 4 (PT_DYNAMIC): p_offset at 64 + 4 * 56 + 8.
    let at = 64 + 4 * 56 + 8;
    dynamic_outside[at..at + 8].copy_from_slice(&0xffff_0000u64.to_le_bytes());
    assert_eq!(refused(&dynamic_outside), ElfError::BadDynamicSection);
}

#[test]
fn no_corruption_of_a_position_independent_program_panics() {
    let good = pie();
    for len in 0..good.len() {
        let _ = plan(&good[..len]);
    }
    // The headers, the RELA table and the dynamic section.
    let areas = [0..0x200, 0x2000..0x2030, 0x3000..0x3040];
    let mut state = 0x2545_f491_u32;
    for round in 0..30_000 {
        let mut bytes = good.clone();
        let area = &areas[round % areas.len()];
        for _ in 0..3 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let at = area.start + (state >> 8) as usize % area.len();
            bytes[at] = (state >> 24) as u8;
        }
        let _ = plan(&bytes);
    }
}
