//! Tests for `symbolize`: frame recognition, lookups in a synthetic table
//! with real mangled names, and reading a real ELF (this test binary).

use super::*;

const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

fn table() -> Symbolizer {
    let symbol = |start: u64, size: u64, name: &str| Symbol {
        start: KERNEL_BASE + start,
        size,
        name: name.to_string(),
    };
    Symbolizer::from_symbols([
        // Deliberately unsorted.
        symbol(
            0x2000,
            0x80,
            "_ZN6kernel5crash10page_fault17h0123456789abcdefE",
        ),
        symbol(0x1000, 0x100, "_ZN6kernel4main5kmain17hfedcba9876543210E"),
        symbol(0x3000, 0, "trap_entry_common"),
        symbol(0x2100, 0x10, "_RNvNtCs1234_6kernel5crash5panic"),
    ])
}

#[test]
fn recognises_frame_lines() {
    let frame = |index, address| Some(Frame { index, address });
    assert_eq!(
        parse_frame("#0 0xffffffff80002010"),
        frame(0, 0xffff_ffff_8000_2010)
    );
    assert_eq!(
        parse_frame("  #12 0xFFFFFFFF80002010 rbp=0x1"),
        frame(12, 0xffff_ffff_8000_2010)
    );
    assert_eq!(parse_frame("\t#3\t0x0000000000100000"), frame(3, 0x10_0000));
    assert_eq!(
        parse_frame("[    0.123456] E cpu0   #1 0xffffffff80001000"),
        frame(1, 0xffff_ffff_8000_1000)
    );
}

#[test]
fn rejects_lines_that_are_not_frames() {
    for line in [
        "",
        "#PF at RIP=0xffffffff80002010",
        "# 0xffffffff80002010",
        "#1 ffffffff80002010",
        "#1 0xffffffff8000201",    // 15 digits
        "#1 0xffffffff800020100",  // 17 digits
        "#1 0xffffffff8000201g",   // not hex
        "#10xffffffff80002010",    // no separator
        "x#1 0xffffffff80002010",  // '#' glued to a word
        "ktest: pass mm::frame#1", // no address
    ] {
        assert_eq!(parse_frame(line), None, "{line:?}");
    }
}

/// User frames of a crash report are the kernel's to name (at address -
/// the program's load bias, which only the kernel knows): the kernel's
/// symbol table must not annotate them, at any load bias.
#[test]
fn leaves_user_crash_frames_to_the_kernel() {
    for line in [
        "crash:   #0 0x40003c stackguard::leave_the_stack+0x1c",
        "crash:   #1 0x2b2766758c __rt_main+0x31c",
        "crash:   #2 0x10000400000",
    ] {
        assert_eq!(parse_frame(line), None, "{line:?}");
        assert_eq!(table().annotation(line), None, "{line:?}");
    }
}

#[test]
fn demangles_and_strips_hashes() {
    let table = table();
    let (symbol, offset) = table.lookup(KERNEL_BASE + 0x2010).unwrap();
    assert_eq!(symbol.name, "kernel::crash::page_fault");
    assert_eq!(offset, 0x10);
    // v0 mangling too.
    assert_eq!(
        table.lookup(KERNEL_BASE + 0x2100).unwrap().0.name,
        "kernel::crash::panic"
    );
}

#[test]
fn lookup_respects_bounds() {
    let table = table();
    assert_eq!(
        table.lookup(KERNEL_BASE + 0x1000).unwrap().0.name,
        "kernel::main::kmain"
    );
    assert_eq!(table.lookup(KERNEL_BASE + 0x10ff).unwrap().1, 0xff);
    // One past the end still names the function (a return address after a
    // final call), two past does not.
    assert_eq!(
        table.lookup(KERNEL_BASE + 0x1100).unwrap(),
        (&table.functions[0], 0x100)
    );
    assert!(table.lookup(KERNEL_BASE + 0x1101).is_none());
    assert!(table.lookup(KERNEL_BASE + 0xfff).is_none());
    assert!(table.lookup(0).is_none());
    assert!(
        table.lookup(u64::MAX).is_some(),
        "the label runs to the end"
    );
}

#[test]
fn labels_name_code_after_them() {
    let table = table();
    let (symbol, offset) = table.lookup(KERNEL_BASE + 0x3042).unwrap();
    assert_eq!((symbol.name.as_str(), offset), ("trap_entry_common", 0x42));
    // Between functions and before the label: unknown, not the label.
    assert!(table.lookup(KERNEL_BASE + 0x2200).is_none());
}

#[test]
fn annotations() {
    let table = table();
    assert_eq!(
        table.annotate("  #0 0xffffffff80002010"),
        "  #0 0xffffffff80002010 kernel::crash::page_fault+0x10"
    );
    assert_eq!(
        table.annotation("#1 0x0000000000000010").as_deref(),
        Some(" ??")
    );
    assert_eq!(table.annotation("RIP=0xffffffff80002010"), None);
    assert_eq!(table.annotate("plain line"), "plain line");
    let (symbol, _) = table.frame_symbol("#2 0xffffffff80002108").unwrap();
    assert!(symbol.name.contains("crash"));
}

#[test]
fn empty_table_annotates_unknown() {
    let table = Symbolizer::default();
    assert!(table.is_empty());
    assert_eq!(
        table.annotation("#0 0xffffffff80002010").as_deref(),
        Some(" ??")
    );
}

#[test]
fn rejects_non_elf_input() {
    assert!(Symbolizer::from_elf(b"not an elf").is_err());
    assert!(Symbolizer::from_elf(&[]).is_err());
}

#[inline(never)]
fn symbolize_marker() -> u32 {
    std::hint::black_box(7)
}

#[test]
fn reads_a_real_elf() {
    assert_eq!(std::hint::black_box(symbolize_marker as fn() -> u32)(), 7);
    let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let table = Symbolizer::from_elf(&bytes).unwrap();
    let marker = table
        .functions
        .iter()
        .find(|s| s.name.ends_with("symbolize::tests::symbolize_marker"))
        .expect("the marker function is in .symtab, demangled without its hash");
    assert!(!marker.name.contains("::h"), "{}", marker.name);
    let line = format!("#0 0x{:016x}", marker.start + 1);
    assert_eq!(
        table.annotation(&line),
        Some(format!(" {}+0x1", marker.name))
    );
}
