//! Property tests for the initfs reader, from a seeded generator: random
//! well-formed trees written by the test's `Writer` parse back to exactly
//! what was written; every truncation of them is refused; and mutated
//! headers (flipped bytes, huge or off-by-one sizes, non-hex digits) are
//! refused or parse to an archive that is consistent and whose data lies
//! inside the input.  Failures name the seed and the round.

use super::super::newc::{HEADER_LEN, TRAILER};
use super::super::{Archive, CpioError, EntryKind};
use super::{S_IFDIR, S_IFLNK, S_IFREG};
use super::{Writer, check_consistent};
use crate::test_rng::XorShift;
use std::collections::BTreeMap;

/// What the test wrote for one entry, by normalised name.
#[derive(Clone, Debug, PartialEq)]
struct Written {
    kind: EntryKind,
    mode: u32,
    data: Vec<u8>,
    ino: u32,
}

/// A random archive and what it holds.
struct Tree {
    bytes: Vec<u8>,
    /// Every entry but the root.
    entries: BTreeMap<String, Written>,
    /// Where the trailer record's name ends: the archive's true length.
    trailer_end: usize,
}

/// Characters of names: some sort before `/` (`-`, `.`, space), some
/// after, and some take more than one byte in UTF-8, so the sorted index
/// and its directory runs meet every ordering.
const NAME_CHARS: [&str; 12] = ["a", "b", "Z", "0", "-", ".", " ", "_", "~", "é", "日", "!"];

fn component(rng: &mut XorShift) -> String {
    let longest = if rng.one_in(8) { 40 } else { 4 };
    let len = 1 + rng.index(longest);
    let name: String = (0..len).map(|_| rng.pick(&NAME_CHARS)).collect();
    // "." and ".." are not names; "..." is.
    if name == "." || name == ".." {
        name + "x"
    } else {
        name
    }
}

/// How the name is stored: as is, or with a leading `/` or `./`, or (for
/// a directory) a trailing `/`, all of which normalise away.
fn stored_name(rng: &mut XorShift, name: &str, kind: EntryKind) -> String {
    let prefix = rng.pick(&["", "", "/", "./", "//", "././"]);
    let suffix = if kind == EntryKind::Directory && rng.one_in(4) {
        "/"
    } else {
        ""
    };
    format!("{prefix}{name}{suffix}")
}

fn random_data(rng: &mut XorShift, kind: EntryKind) -> Vec<u8> {
    match kind {
        EntryKind::File => {
            let longest = if rng.one_in(10) { 3000 } else { 9 };
            let len = rng.index(longest);
            rng.bytes(len)
        }
        EntryKind::Symlink => {
            let longest = if rng.one_in(10) { 4000 } else { 12 };
            let len = 1 + rng.index(longest);
            rng.bytes(len).into_iter().map(|byte| byte.max(1)).collect()
        }
        EntryKind::Directory | EntryKind::Other => Vec::new(),
    }
}

/// A tree of up to 40 entries, each under the root or an earlier directory,
/// written in a random order (parents need not come first), in either
/// variant, with or without a `.` record for the root.
fn random_tree(rng: &mut XorShift) -> Tree {
    let mut writer = if rng.one_in(2) {
        Writer::newc()
    } else {
        Writer::crc()
    };
    let mut directories = vec![String::new()];
    let mut entries: BTreeMap<String, Written> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for _ in 0..rng.index(41) {
        let kind = rng.pick(&[
            EntryKind::File,
            EntryKind::File,
            EntryKind::Directory,
            EntryKind::Directory,
            EntryKind::Symlink,
            EntryKind::Other,
        ]);
        let parent = directories[rng.index(directories.len())].clone();
        let leaf = component(rng);
        let name = if parent.is_empty() {
            leaf
        } else {
            format!("{parent}/{leaf}")
        };
        if entries.contains_key(&name) || name.len() + 8 >= super::super::newc::PATH_MAX {
            continue;
        }
        let type_bits = match kind {
            EntryKind::File => S_IFREG,
            EntryKind::Directory => S_IFDIR,
            EntryKind::Symlink => S_IFLNK,
            // A FIFO or a character device.
            EntryKind::Other => rng.pick(&[0o010_000, 0o020_000]),
        };
        let mode = rng.below(0o10_000) as u32;
        if kind == EntryKind::Directory {
            directories.push(name.clone());
        }
        let written = Written {
            kind,
            mode: type_bits | mode,
            data: random_data(rng, kind),
            ino: 0,
        };
        order.push((name.clone(), stored_name(rng, &name, kind)));
        entries.insert(name, written);
    }
    if rng.one_in(2) {
        order.push((String::new(), rng.pick(&[".", "./", "/"]).into()));
    }
    for index in (1..order.len()).rev() {
        order.swap(index, rng.index(index + 1));
    }
    for (ino, (name, stored)) in (1..).zip(&order) {
        match entries.get_mut(name) {
            Some(written) => {
                written.ino = ino;
                writer.entry(stored, written.mode, &written.data);
            }
            None => {
                writer.entry(stored, S_IFDIR | 0o755, b"");
            }
        }
    }
    let trailer_start = writer.unterminated().len();
    let bytes = writer.finish();
    let trailer_end = trailer_start + HEADER_LEN + TRAILER.len() + 1;
    Tree {
        bytes,
        entries,
        trailer_end,
    }
}

/// The archive holds exactly `tree`'s entries, each as written, and every
/// directory lists exactly its children.
fn assert_parses_to(tree: &Tree, archive: &Archive<'_>, context: &str) {
    assert_eq!(archive.len(), tree.entries.len(), "{context}");
    for (name, written) in &tree.entries {
        let entry = archive
            .lookup(name)
            .unwrap_or_else(|error| panic!("{context}: {name:?}: {error:?}"));
        assert_eq!(entry.name, name, "{context}");
        assert_eq!(entry.kind, written.kind, "{context}: {name:?}");
        assert_eq!(entry.mode, written.mode & 0o7777, "{context}: {name:?}");
        assert_eq!(entry.data, &written.data[..], "{context}: {name:?}");
        assert_eq!(entry.size_bytes, written.data.len() as u64, "{context}");
        assert_eq!(entry.ino, written.ino, "{context}: {name:?}");
        // The same entry through its other spellings.
        assert_eq!(archive.lookup(&format!("/{name}")), Ok(entry), "{context}");
        assert_eq!(archive.lookup(&format!("./{name}")), Ok(entry), "{context}");
    }
    let directories = tree
        .entries
        .iter()
        .filter(|(_, written)| written.kind == EntryKind::Directory)
        .map(|(name, _)| name.as_str())
        .chain([""]);
    for directory in directories {
        let listed: Vec<&str> = archive
            .children(directory)
            .unwrap()
            .map(|entry| entry.name)
            .collect();
        let expected: Vec<&str> = tree
            .entries
            .keys()
            .map(String::as_str)
            .filter(|name| super::super::path::parent(name) == directory)
            .collect();
        assert_eq!(listed, expected, "{context}: children of {directory:?}");
    }
    check_consistent(archive);
}

/// Every byte an accepted archive hands out lies inside the input.
fn assert_borrows_from(input: &[u8], archive: &Archive<'_>, context: &str) {
    let bounds = input.as_ptr_range();
    for entry in archive.entries() {
        let data = entry.data.as_ptr_range();
        assert!(
            bounds.start <= data.start && data.end <= bounds.end,
            "{context}: {:?} outside the input",
            entry.name
        );
    }
}

const SEED: u64 = 0xc910_5eed;

#[test]
fn random_trees_round_trip() {
    let mut rng = XorShift::new(SEED);
    let mut entries_seen = 0;
    for round in 0..400 {
        let tree = random_tree(&mut rng);
        let context = format!("seed {SEED:#x}, round {round}");
        let archive = Archive::parse(&tree.bytes)
            .unwrap_or_else(|error| panic!("{context}: refused: {error:?}"));
        assert_parses_to(&tree, &archive, &context);
        entries_seen += tree.entries.len();
        // Whatever follows the trailer is not part of the archive.
        let mut padded = tree.bytes.clone();
        let garbage = rng.index(600);
        padded.extend(rng.bytes(garbage));
        let archive = Archive::parse(&padded).unwrap();
        assert_parses_to(&tree, &archive, &format!("{context}, padded"));
    }
    assert!(entries_seen > 5_000, "{entries_seen} entries");
}

#[test]
fn every_truncation_of_a_random_tree_is_refused() {
    let mut rng = XorShift::new(SEED + 1);
    for round in 0..15 {
        let tree = random_tree(&mut rng);
        for len in 0..tree.trailer_end {
            let error = Archive::parse(&tree.bytes[..len]).unwrap_err();
            assert!(
                matches!(error, CpioError::Truncated | CpioError::MissingTrailer),
                "seed {:#x}, round {round}, length {len}: {error:?}",
                SEED + 1
            );
        }
        let archive = Archive::parse(&tree.bytes[..tree.trailer_end]).unwrap();
        assert_eq!(archive.len(), tree.entries.len());
    }
}

/// Header field offsets within a record (see `newc`).
const FILESIZE_AT: usize = 6 + 6 * 8;
const NAMESIZE_AT: usize = 6 + 11 * 8;

/// Where records start: every place the magic appears on a 4-byte
/// boundary (file data may hold the magic too, which is as good a place to
/// write a field as any).
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len().saturating_sub(6))
        .step_by(4)
        .filter(|&at| bytes[at..].starts_with(b"07070"))
        .collect()
}

/// One random change to `bytes`: a header size set to an extreme or an
/// off-by-one value, a digit made non-hex, a byte flipped, or a cut.
fn mutate(rng: &mut XorShift, bytes: &mut Vec<u8>) {
    let starts = record_starts(bytes);
    let record = if starts.is_empty() {
        0
    } else {
        rng.pick(&starts)
    };
    let field = record + rng.pick(&[FILESIZE_AT, NAMESIZE_AT]);
    match rng.below(5) {
        0 | 1 if field + 8 <= bytes.len() => {
            let at = field;
            let old = std::str::from_utf8(&bytes[at..at + 8])
                .ok()
                .and_then(|digits| u32::from_str_radix(digits, 16).ok())
                .unwrap_or(0);
            let any = rng.next() as u32;
            let value = rng.pick(&[
                0,
                1,
                old.wrapping_sub(1),
                old.wrapping_add(1),
                old.wrapping_add(4),
                4096,
                4097,
                0x7fff_ffff,
                0x8000_0000,
                u32::MAX - 3,
                u32::MAX,
                any,
            ]);
            bytes[at..at + 8].copy_from_slice(format!("{value:08x}").as_bytes());
        }
        2 if record + HEADER_LEN <= bytes.len() => {
            let at = record + 6 + rng.index(13 * 8);
            bytes[at] = rng.pick(b"gG xX-+\0\xff");
        }
        0..=3 => {
            let at = rng.index(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        _ => bytes.truncate(rng.index(bytes.len())),
    }
}

#[test]
fn mutated_headers_are_refused_or_parse_consistently() {
    let mut rng = XorShift::new(SEED + 2);
    let (mut parsed, mut refused) = (0, 0);
    let mut errors_seen: Vec<CpioError> = Vec::new();
    for round in 0..3_000 {
        let tree = random_tree(&mut rng);
        if tree.entries.is_empty() {
            continue;
        }
        let mut bytes = tree.bytes.clone();
        for _ in 0..1 + rng.index(3) {
            if !bytes.is_empty() {
                mutate(&mut rng, &mut bytes);
            }
        }
        let context = format!("seed {:#x}, round {round}", SEED + 2);
        match Archive::parse(&bytes) {
            Ok(archive) => {
                check_consistent(&archive);
                assert_borrows_from(&bytes, &archive, &context);
                parsed += 1;
            }
            Err(error) => {
                refused += 1;
                if !errors_seen.contains(&error) {
                    errors_seen.push(error);
                }
            }
        }
    }
    // Both outcomes, and most of the refusals the header can cause.
    assert!(parsed > 50 && refused > 1_000, "{parsed} / {refused}");
    assert!(errors_seen.len() >= 10, "{errors_seen:?}");
}
