//! Host tests for `symbols`, on this test binary's own ELF file: its
//! symbol table names the functions the lookups must find.

use super::*;
use std::string::ToString;

#[inline(never)]
fn a_function_to_find() -> u32 {
    std::hint::black_box(7)
}

fn own_image() -> Vec<u8> {
    std::fs::read(std::env::current_exe().unwrap()).unwrap()
}

#[test]
fn an_address_inside_a_function_is_named_with_its_offset() {
    assert_eq!(a_function_to_find(), 7);
    let image = own_image();
    let symbols = Symbols::new(&image).expect("the test binary is an ELF file");
    assert!(symbols.len() > 100, "only {} functions", symbols.len());
    // Where the function is in the file's addresses (the binary may be
    // position-independent, so not its address at run time).
    let (start, size) = symbols
        .functions
        .iter()
        .find(|(_, _, name)| name.contains("a_function_to_find"))
        .map(|&(start, size, _)| (start, size))
        .expect("the symbol table has the test's function");
    assert!(size > 1);
    let (name, offset) = symbols.lookup(start + 1).unwrap();
    assert!(
        name.ends_with("symbols::tests::a_function_to_find"),
        "{name}"
    );
    assert!(!name.contains("17h"), "the hash stays off: {name}");
    assert_eq!(offset, 1);
    // Past its end is someone else's (or nobody's).
    let after = symbols.lookup(start + size);
    assert!(after.is_none_or(|(name, _)| !name.contains("a_function_to_find")));
}

#[test]
fn a_frame_of_a_moved_program_is_named_at_its_link_time_address() {
    assert_eq!(a_function_to_find(), 7);
    let image = own_image();
    let symbols = Symbols::new(&image).unwrap();
    let (start, size) = symbols
        .functions
        .iter()
        .find(|(_, _, name)| name.contains("a_function_to_find"))
        .map(|&(start, size, _)| (start, size))
        .unwrap();
    let bias = 0x7_1234_5000;
    let (name, offset) = symbols.frame(bias + start + 1, bias, false).unwrap();
    assert!(name.ends_with("a_function_to_find"), "{name}");
    assert_eq!(offset, 1);
    // A return address just past the function's end: a call that ended it.
    let (name, offset) = symbols.frame(bias + start + size, bias, true).unwrap();
    assert!(name.ends_with("a_function_to_find"), "{name}");
    assert_eq!(offset, size);
    // Without the bias taken off, the address names nothing of this one.
    let unmoved = symbols.frame(bias + start + 1, 0, false);
    assert!(unmoved.is_none_or(|(name, _)| !name.contains("a_function_to_find")));
    // An address below the bias wraps to nowhere, without a panic.
    assert_eq!(symbols.frame(0x10, bias, true), None);
}

#[test]
fn not_an_elf_file_gives_none_and_no_address_below_the_first_symbol() {
    assert!(Symbols::new(b"not an elf file").is_none());
    let image = own_image();
    let symbols = Symbols::new(&image).unwrap();
    assert_eq!(symbols.lookup(0).map(|(name, _)| name.to_string()), None);
}

/// A stack as `read` sees it: address -> word.
fn memory(words: &[(u64, u64)]) -> impl Fn(u64) -> Option<u64> + '_ {
    |at| {
        words
            .iter()
            .find(|&&(address, _)| address == at)
            .map(|&(_, word)| word)
    }
}

#[test]
fn the_chain_is_followed_up_the_stack_to_rbp_zero() {
    let stack = [
        (0x1000, 0x1040),
        (0x1008, 0xa1),
        (0x1040, 0),
        (0x1048, 0xa2),
    ];
    assert_eq!(
        frame_chain(0xa0, 0x1000, 32, memory(&stack)),
        [0xa0, 0xa1, 0xa2]
    );
}

#[test]
fn a_corrupt_chain_ends_the_walk() {
    // A frame pointing down the stack (a loop), and one off the map.
    let looping = [(0x1000, 0x1000), (0x1008, 0xa1)];
    assert_eq!(
        frame_chain(0xa0, 0x1000, 32, memory(&looping)),
        [0xa0, 0xa1]
    );
    let unmapped = [(0x1000, 0x9000), (0x1008, 0xa1)];
    assert_eq!(
        frame_chain(0xa0, 0x1000, 32, memory(&unmapped)),
        [0xa0, 0xa1]
    );
    assert_eq!(frame_chain(0xa0, 0x5000, 32, memory(&unmapped)), [0xa0]);
    // A long, well-formed chain stops at the limit.
    let long: Vec<(u64, u64)> = (0..100u64)
        .flat_map(|i| {
            [
                (0x1000 + 16 * i, 0x1010 + 16 * i),
                (0x1008 + 16 * i, 0xb00 + i),
            ]
        })
        .collect();
    assert_eq!(frame_chain(0xa0, 0x1000, 8, memory(&long)).len(), 8);
}
