//! Host tests for the initfs reader (`cpio`, `newc`, `path`).
//!
//! Archives are built with a small test-only writer, itself checked against
//! the format drawing; two fixtures made by GNU cpio (see
//! `testdata/README.md`) check compatibility with the real tool.  Each
//! validation rule is tested in `cpio_validation_tests.rs`; truncated,
//! bit-flipped and random inputs in `cpio_robustness_tests.rs`; random
//! well-formed trees and mutations of them in `cpio_property_tests.rs`.

use super::newc::{TRAILER, checksum};
use super::*;
use abi::Errno;

#[path = "cpio_property_tests.rs"]
mod property;
#[path = "cpio_robustness_tests.rs"]
mod robustness;
#[path = "cpio_validation_tests.rs"]
mod validation;

const FILE: u32 = S_IFREG | 0o644;
const DIR: u32 = S_IFDIR | 0o755;
const LINK: u32 = S_IFLNK | 0o777;
const CHAR_DEVICE: u32 = 0o020_000 | 0o600;

/// Header field indices (see `newc`).
const FILESIZE: usize = 6;
const NAMESIZE: usize = 11;
const CHECK: usize = 12;

/// Where header field `index` of the record at `record` starts.
fn field_at(record: usize, index: usize) -> usize {
    record + 6 + 8 * index
}

/// A test-only newc writer.  `raw` writes any header, so tests can build
/// malformed records; the other methods write well-formed ones.
struct Writer {
    bytes: Vec<u8>,
    magic: &'static [u8; 6],
    next_ino: u32,
}

impl Writer {
    fn newc() -> Self {
        Self {
            bytes: Vec::new(),
            magic: b"070701",
            next_ino: 1,
        }
    }

    fn crc() -> Self {
        Self {
            magic: b"070702",
            ..Self::newc()
        }
    }

    /// Appends a record with exactly these fields and bytes (`stored_name`
    /// should include the NUL), padding name and data to 4 bytes.
    fn raw(
        &mut self,
        mode: u32,
        stored_name: &[u8],
        namesize: u32,
        data: &[u8],
        filesize: u32,
        check: u32,
    ) -> &mut Self {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.bytes.extend_from_slice(self.magic);
        for field in [ino, mode, 0, 0, 1, 0, filesize, 0, 0, 0, 0, namesize, check] {
            self.bytes
                .extend_from_slice(format!("{field:08X}").as_bytes());
        }
        self.bytes.extend_from_slice(stored_name);
        self.pad4();
        self.bytes.extend_from_slice(data);
        self.pad4();
        self
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        let stored: Vec<u8> = name.bytes().chain([0]).collect();
        let is_crc_file = self.magic == b"070702" && mode & S_IFMT == S_IFREG;
        let check = if is_crc_file { checksum(data) } else { 0 };
        let (namesize, filesize) = (stored.len() as u32, data.len() as u32);
        self.raw(mode, &stored, namesize, data, filesize, check)
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, FILE, data)
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, DIR, b"")
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, LINK, target.as_bytes())
    }

    fn pad4(&mut self) {
        self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
    }

    /// The records so far, without a trailer.
    fn unterminated(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The archive: the records and the trailer.  (GNU cpio also pads to a
    /// 512-byte block; `the_trailer_ends_the_archive` covers that.)
    fn finish(&mut self) -> Vec<u8> {
        self.entry(TRAILER, 0, b"");
        self.bytes.clone()
    }
}

fn parse_err(bytes: &[u8]) -> CpioError {
    Archive::parse(bytes).unwrap_err()
}

fn names<'a>(entries: impl Iterator<Item = Entry<'a>>) -> Vec<&'a str> {
    entries.map(|entry| entry.name).collect()
}

/// A small archive exercising every name and data alignment.
fn sample() -> Vec<u8> {
    let mut writer = Writer::newc();
    writer
        .dir(".")
        .dir("d")
        .dir("d/sub")
        .symlink("d/link", "../e");
    for len in 1..=5 {
        let name: String = "abcde"[..len].into();
        writer.file(&name, &b"0123456789"[..len - 1]);
        writer.file(&format!("d/sub/{name}"), &b"xyz"[..len % 4]);
    }
    writer.file("e", b"");
    writer.finish()
}

/// Checks everything a parsed archive promises: each entry is found by its
/// own name, listings agree with the names, and sizes match the data.
fn check_consistent(archive: &Archive<'_>) {
    let mut previous = "";
    for entry in archive.entries() {
        assert!(entry.name > previous, "sorted and unique");
        previous = entry.name;
        assert_eq!(archive.lookup(entry.name), Ok(entry));
        assert_eq!(entry.size_bytes, entry.data.len() as u64);
        let parent = archive.lookup(path::parent(entry.name)).unwrap();
        assert_eq!(parent.kind, EntryKind::Directory);
        let siblings = archive.children(parent.name).unwrap();
        assert_eq!(siblings.filter(|sibling| *sibling == entry).count(), 1);
    }
    let listed: usize = archive
        .entries()
        .chain([archive.root()])
        .filter(|entry| entry.kind == EntryKind::Directory)
        .map(|dir| archive.children(dir.name).unwrap().count())
        .sum();
    assert_eq!(
        listed,
        archive.len(),
        "every entry is some directory's child"
    );
}

#[test]
fn round_trip_every_alignment() {
    let bytes = sample();
    let archive = Archive::parse(&bytes).unwrap();
    check_consistent(&archive);
    assert_eq!(archive.len(), 14);
    assert!(!archive.is_empty());
    for len in 1..=5 {
        let name = &"abcde"[..len];
        let top = archive.lookup(name).unwrap();
        assert_eq!(
            (top.name, top.kind, top.mode),
            (name, EntryKind::File, 0o644)
        );
        assert_eq!(top.data, &b"0123456789"[..len - 1]);
        assert_eq!(top.size_bytes, len as u64 - 1);
        let nested = archive.lookup(&format!("d/sub/{name}")).unwrap();
        assert_eq!(nested.data, &b"xyz"[..len % 4]);
        assert_eq!(nested.file_name(), name);
    }
    let empty = archive.lookup("e").unwrap();
    assert_eq!(
        (empty.kind, empty.data, empty.size_bytes),
        (EntryKind::File, &b""[..], 0)
    );
    let link = archive.lookup("d/link").unwrap();
    assert_eq!(
        (link.kind, link.data, link.mode),
        (EntryKind::Symlink, &b"../e"[..], 0o777)
    );
    let sub = archive.lookup("d/sub").unwrap();
    assert_eq!(
        (sub.kind, sub.mode, sub.ino),
        (EntryKind::Directory, 0o755, 3)
    );
}

#[test]
fn entries_come_in_name_order_without_the_root() {
    let bytes = Writer::newc()
        .file("b", b"")
        .dir(".")
        .dir("a")
        .file("a/z", b"")
        .finish();
    let archive = Archive::parse(&bytes).unwrap();
    assert_eq!(names(archive.entries()), ["a", "a/z", "b"]);
    assert_eq!(archive.len(), 3);
}

#[test]
fn lookup_normalises_leading_dot_and_slashes() {
    let bytes = Writer::newc().dir("./d").file("/d/f", b"hi").finish();
    let archive = Archive::parse(&bytes).unwrap();
    for path in ["d/f", "/d/f", "./d/f", "//d/f", "././d/f", "/./d/f", "d/f/"] {
        assert_eq!(archive.lookup(path).unwrap().data, b"hi", "{path}");
    }
    for path in ["", "/", ".", "./", "/.", "//", "./."] {
        assert_eq!(archive.lookup(path), Ok(archive.root()), "{path:?}");
    }
    assert_eq!(archive.lookup("d").unwrap().name, "d");
}

#[test]
fn lookup_rejects_bad_paths_and_reports_missing() {
    let bytes = Writer::newc().dir("d").file("d/f", b"").finish();
    let archive = Archive::parse(&bytes).unwrap();
    for path in [
        "d//f", "d/./f", "d/../d/f", "..", "../d", "d/..", "d/.", "./..",
    ] {
        assert_eq!(archive.lookup(path), Err(CpioError::BadPath), "{path}");
    }
    assert_eq!(CpioError::BadPath.errno(), Errno::EINVAL);
    let long = "x".repeat(newc::PATH_MAX);
    assert_eq!(archive.lookup(&long), Err(CpioError::NameTooLong));
    assert_eq!(archive.lookup(&long[1..]), Err(CpioError::NotFound));
    assert_eq!(archive.lookup("d/g"), Err(CpioError::NotFound));
    assert_eq!(archive.lookup("e/f"), Err(CpioError::NotFound));
    assert_eq!(archive.lookup("d/f/g"), Err(CpioError::NotDirectory));
    assert_eq!(archive.lookup("d/f/g").unwrap_err().errno(), Errno::ENOTDIR);
    assert_eq!(archive.lookup("nope").unwrap_err().errno(), Errno::ENOENT);
}

#[test]
fn children_lists_direct_children_only() {
    // "dir-x", "dir.x" and "dir0" sort around "dir/..." and must not leak in.
    let mut writer = Writer::newc();
    for dir in ["dir", "dir/b", "dir/b/c", "dir0", "z"] {
        writer.dir(dir);
    }
    for file in [
        "dir-x",
        "dir.x",
        "dir/a",
        "dir/b/c/deep",
        "dir0/a",
        "dir/b/f",
    ] {
        writer.file(file, b"data");
    }
    let bytes = writer.finish();
    let archive = Archive::parse(&bytes).unwrap();
    check_consistent(&archive);
    let list = |path| names(archive.children(path).unwrap());
    assert_eq!(list("dir"), ["dir/a", "dir/b"]);
    assert_eq!(list("/dir/"), ["dir/a", "dir/b"]);
    assert_eq!(list("dir/b"), ["dir/b/c", "dir/b/f"]);
    assert_eq!(list("dir/b/c"), ["dir/b/c/deep"]);
    assert_eq!(list("z"), Vec::<&str>::new());
    assert_eq!(list("/"), ["dir", "dir-x", "dir.x", "dir0", "z"]);
    assert_eq!(list("."), list(""));
    let file_names: Vec<_> = archive
        .children("dir/b")
        .unwrap()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(file_names, ["c", "f"]);
    assert_eq!(
        archive.children("dir/a").err(),
        Some(CpioError::NotDirectory)
    );
    assert_eq!(archive.children("dir/q").err(), Some(CpioError::NotFound));
    assert_eq!(archive.children("dir/../z").err(), Some(CpioError::BadPath));
}

#[test]
fn root_comes_from_the_dot_record_or_is_made_up() {
    let bytes = Writer::newc().file("f", b"").finish();
    let made_up = Archive::parse(&bytes).unwrap().root();
    assert_eq!(
        (made_up.name, made_up.kind, made_up.mode),
        ("", EntryKind::Directory, 0o755)
    );

    let mut writer = Writer::newc();
    writer
        .raw(S_IFDIR | 0o700, b".\0", 2, b"", 0, 0)
        .file("f", b"");
    let bytes = writer.finish();
    let archive = Archive::parse(&bytes).unwrap();
    let root = archive.root();
    assert_eq!((root.name, root.mode, root.ino), ("", 0o700, 1));
    assert_eq!(names(archive.entries()), ["f"]);

    let only_root = Writer::newc().dir("/").finish();
    assert!(Archive::parse(&only_root).unwrap().is_empty());
    let file_root = Writer::newc().file(".", b"").finish();
    assert_eq!(parse_err(&file_root), CpioError::RootNotDirectory);
    let two_roots = Writer::newc().dir(".").dir("./").finish();
    assert_eq!(parse_err(&two_roots), CpioError::Duplicate);
}

#[test]
fn normalize_table() {
    let cases = [
        ("a", Ok("a")),
        ("/a/b", Ok("a/b")),
        ("./a/b/", Ok("a/b")),
        ("a/b//", Ok("a/b")),
        ("...", Ok("...")),
        ("a/.b", Ok("a/.b")),
        ("/", Ok("")),
        ("./", Ok("")),
        ("a/./b", Err(CpioError::BadPath)),
        ("/../a", Err(CpioError::BadPath)),
    ];
    for (input, expected) in cases {
        assert_eq!(path::normalize(input), expected, "{input}");
    }
    assert_eq!((path::parent("a/b/c"), path::parent("a")), ("a/b", ""));
    assert!(path::is_child("a/b", "a") && path::is_child("a", ""));
    assert!(path::is_descendant("a/b/c", "a") && path::is_descendant("a", ""));
    assert!(!path::is_descendant("ab/c", "a") && !path::is_descendant("a", "a"));
    assert!(!path::is_child("a/b/c", "a") && !path::is_child("ab", "a"));
    assert!(path::sorts_before_contents("a.b", "a") && !path::sorts_before_contents("a/", "a"));
}

/// GNU cpio 2.13, from a tree of fixed mtime (see `testdata/README.md`).
const GNU_NEWC: &[u8] = include_bytes!("testdata/sample.cpio");
const GNU_CRC: &[u8] = include_bytes!("testdata/sample-crc.cpio");

#[test]
fn archives_made_by_gnu_cpio_parse() {
    use EntryKind::{Directory, File, Symlink};
    let expected: [(&str, EntryKind, u32, &[u8]); 9] = [
        ("bin", Directory, 0o755, b""),
        ("bin/hello", File, 0o755, b"\x7fELF\x02\x01\x01"),
        ("etc", Directory, 0o755, b""),
        ("etc/empty", File, 0o644, b""),
        ("etc/issue", Symlink, 0o777, b"motd"),
        ("etc/motd", File, 0o644, b"Welcome to the initfs.\n"),
        ("etc/rc.d", Directory, 0o755, b""),
        ("etc/rc.d/a", File, 0o644, b"x"),
        ("init", File, 0o755, b"#!/bin/sh\necho hi\n"),
    ];
    for fixture in [GNU_NEWC, GNU_CRC] {
        let archive = Archive::parse(fixture).unwrap();
        check_consistent(&archive);
        let found: Vec<_> = archive
            .entries()
            .map(|e| (e.name, e.kind, e.mode, e.data))
            .collect();
        assert_eq!(found, expected);
        // --reproducible numbers inodes in archive order, "." first.
        assert_eq!((archive.root().ino, archive.root().mode), (0, 0o755));
        assert_eq!(archive.lookup("/etc/rc.d/a").unwrap().ino, 8);
        assert_eq!(
            names(archive.children("/").unwrap()),
            ["bin", "etc", "init"]
        );
    }
    let mut corrupt = GNU_CRC.to_vec();
    let motd_at = corrupt.windows(7).position(|w| w == b"Welcome").unwrap();
    corrupt[motd_at] = b'w';
    assert_eq!(parse_err(&corrupt), CpioError::BadChecksum);
}

#[test]
fn writer_matches_the_drawing() {
    let bytes = Writer::newc().file("abc", &[1; 0x12]).finish();
    assert_eq!(&bytes[field_at(0, FILESIZE)..][..8], b"00000012");
    assert_eq!(&bytes[field_at(0, NAMESIZE)..][..8], b"00000004");
    assert_eq!(&bytes[field_at(0, CHECK)..][..8], b"00000000");
    assert_eq!(&bytes[newc::HEADER_LEN..][..4], b"abc\0");
    assert_eq!(
        vec![1; 0x12],
        Archive::parse(&bytes).unwrap().lookup("abc").unwrap().data
    );
}
