//! Host tests for `elf`: images are built here, field by field.

use super::*;

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
    let pie = image(
        header::ET_DYN,
        header::EM_X86_64,
        0x1010,
        &[(PT_LOAD, R | X, 0, 0x1000, 8, 8)],
        0x1000,
    );
    assert_eq!(refused(&pie), ElfError::NotStaticExecutable);
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
