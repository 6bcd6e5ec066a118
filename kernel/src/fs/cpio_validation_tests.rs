//! Validation tests for the initfs reader: one or more tests per rule
//! `Archive::parse` enforces, each checking the exact error and its errno.

use super::*;

#[test]
fn bad_magic_is_refused() {
    let good = Writer::newc().file("f", b"").finish();
    for magic in [
        &b"070707"[..],
        b"070700",
        b"070703",
        b"\x1f\x8b\x08\0\0\0",
        b"000000",
    ] {
        let mut bytes = good.clone();
        bytes[..6].copy_from_slice(magic);
        assert_eq!(parse_err(&bytes), CpioError::BadMagic);
    }
    assert_eq!(parse_err(&[0; 512]), CpioError::BadMagic);
    assert_eq!(CpioError::BadMagic.errno(), Errno::EINVAL);
}

#[test]
fn both_hex_cases_parse_and_any_other_digit_is_refused() {
    let good = Writer::newc().dir("d").file("d/f", &[7; 0x1b]).finish();
    let lower = good.iter().take(110).map(u8::to_ascii_lowercase);
    let lower: Vec<u8> = lower.chain(good[110..].iter().copied()).collect();
    assert_ne!(lower, good);
    assert_eq!(Archive::parse(&lower).unwrap().len(), 2);

    let second = 112; // "d\0" is already aligned; no data.
    for record in [0, second] {
        for field in 0..13 {
            for (digit, bad) in [(0, b'g'), (7, b' '), (3, 0x80), (7, b'x'), (0, b'-')] {
                let mut bytes = good.clone();
                bytes[field_at(record, field) + digit] = bad;
                assert_eq!(
                    parse_err(&bytes),
                    CpioError::BadHexDigit,
                    "{record} {field}"
                );
            }
        }
    }
}

#[test]
fn names_must_be_sized_terminated_and_clean() {
    let cases: [(&[u8], u32, CpioError); 7] = [
        (b"", 0, CpioError::EmptyName),
        (b"\0", 1, CpioError::EmptyName),
        (b"abc", 3, CpioError::NameNotTerminated),
        (b"abcd", 3, CpioError::NameNotTerminated),
        (b"a\0c\0", 4, CpioError::NulInName),
        (b"\xff\xfe\0", 3, CpioError::NameNotUtf8),
        (b"a\xc3\0", 3, CpioError::NameNotUtf8),
    ];
    for (stored, namesize, error) in cases {
        let bytes = Writer::newc()
            .raw(FILE, stored, namesize, b"", 0, 0)
            .finish();
        assert_eq!(parse_err(&bytes), error, "{stored:?}");
        assert_eq!(error.errno(), Errno::EINVAL);
    }
    let unicode = Writer::newc().file("h\u{e9}llo", b"").finish();
    assert_eq!(
        Archive::parse(&unicode)
            .unwrap()
            .lookup("h\u{e9}llo")
            .unwrap()
            .size_bytes,
        0
    );
}

#[test]
fn names_may_not_reach_path_max() {
    let longest = "n".repeat(newc::PATH_MAX - 1);
    let bytes = Writer::newc().file(&longest, b"ok").finish();
    assert_eq!(
        Archive::parse(&bytes)
            .unwrap()
            .lookup(&longest)
            .unwrap()
            .data,
        b"ok"
    );
    let too_long = Writer::newc().file(&format!("{longest}n"), b"").finish();
    assert_eq!(parse_err(&too_long), CpioError::NameTooLong);
    assert_eq!(CpioError::NameTooLong.errno(), Errno::ENAMETOOLONG);
    // Refused from the header alone, before the name is read.
    let huge = Writer::newc()
        .raw(FILE, b"a\0", u32::MAX, b"", 0, 0)
        .finish();
    assert_eq!(parse_err(&huge), CpioError::NameTooLong);
}

#[test]
fn names_with_bad_components_are_refused() {
    for name in ["a//b", "a/./b", "..", "../a", "a/..", "a/../b"] {
        let bytes = Writer::newc().dir("a").dir("a/b").file(name, b"").finish();
        assert_eq!(parse_err(&bytes), CpioError::BadPath, "{name}");
    }
}

#[test]
fn sizes_past_the_end_are_truncation() {
    let mut writer = Writer::newc();
    writer.raw(FILE, b"f\0", 2, b"", u32::MAX, 0);
    assert_eq!(parse_err(&writer.finish()), CpioError::Truncated);
    let mut writer = Writer::newc();
    writer.raw(FILE, b"f\0", 2, b"", 600, 0);
    assert_eq!(
        parse_err(&writer.finish()),
        CpioError::Truncated,
        "past the trailer too"
    );
    let mut writer = Writer::newc();
    writer.raw(FILE, b"f\0", newc::PATH_MAX as u32, b"", 0, 0);
    assert_eq!(parse_err(&writer.unterminated()), CpioError::Truncated);
    assert_eq!(CpioError::Truncated.errno(), Errno::EIO);
}

#[test]
fn a_missing_trailer_is_an_error() {
    assert_eq!(parse_err(b""), CpioError::MissingTrailer);
    let records = Writer::newc().file("f", b"data").unterminated();
    assert_eq!(parse_err(&records), CpioError::MissingTrailer);
    assert_eq!(CpioError::MissingTrailer.errno(), Errno::EIO);
    // Zero padding where the trailer should be is not a record.
    let padded: Vec<u8> = records.iter().copied().chain([0; 512]).collect();
    assert_eq!(parse_err(&padded), CpioError::BadMagic);
}

#[test]
fn the_trailer_ends_the_archive() {
    let mut bytes = Writer::newc().file("f", b"1").finish();
    assert_eq!(Archive::parse(&bytes).unwrap().len(), 1);
    // Block padding, a second archive, or garbage after the trailer is
    // ignored.
    bytes.resize(512, 0);
    bytes.extend_from_slice(&Writer::newc().file("g", b"2").finish());
    bytes.extend_from_slice(b"garbage");
    assert_eq!(names(Archive::parse(&bytes).unwrap().entries()), ["f"]);
    // The trailer's own padding may be missing.
    let mut bare_trailer = b"070701".to_vec();
    for field in [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 0] {
        bare_trailer.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    bare_trailer.extend_from_slice(b"TRAILER!!!\0");
    assert_eq!(bare_trailer.len(), 121);
    assert!(Archive::parse(&bare_trailer).unwrap().is_empty());
}

#[test]
fn only_files_and_symlinks_carry_data() {
    let dir = Writer::newc().entry("d", DIR, b"x").finish();
    assert_eq!(parse_err(&dir), CpioError::UnexpectedData);
    let device = Writer::newc().entry("tty", CHAR_DEVICE, b"xy").finish();
    assert_eq!(parse_err(&device), CpioError::UnexpectedData);
    assert_eq!(CpioError::UnexpectedData.errno(), Errno::EINVAL);

    let bytes = Writer::newc().entry("tty", CHAR_DEVICE, b"").finish();
    let tty = Archive::parse(&bytes).unwrap().lookup("tty").unwrap();
    assert_eq!((tty.kind, tty.mode), (EntryKind::Other, 0o600));
    let setuid = Writer::newc().entry("su", S_IFREG | 0o4755, b"").finish();
    assert_eq!(
        Archive::parse(&setuid).unwrap().lookup("su").unwrap().mode,
        0o4755
    );
}

#[test]
fn symlink_targets_are_checked() {
    let longest = "t".repeat(newc::PATH_MAX - 1);
    let bytes = Writer::newc().symlink("l", &longest).finish();
    assert_eq!(
        Archive::parse(&bytes).unwrap().lookup("l").unwrap().data,
        longest.as_bytes()
    );
    for target in ["", "a\0b", &format!("{longest}t")] {
        let bytes = Writer::newc().symlink("l", target).finish();
        assert_eq!(
            parse_err(&bytes),
            CpioError::BadSymlinkTarget,
            "{}",
            target.len()
        );
    }
}

#[test]
fn duplicate_names_are_refused() {
    for (first, second) in [("a", "a"), ("a", "./a"), ("/a", "a/"), ("a", "/a")] {
        let bytes = Writer::newc()
            .file(first, b"1")
            .file("b", b"")
            .file(second, b"2")
            .finish();
        assert_eq!(parse_err(&bytes), CpioError::Duplicate, "{first} {second}");
    }
    let dir_and_file = Writer::newc().dir("a").file("a", b"").finish();
    assert_eq!(parse_err(&dir_and_file), CpioError::Duplicate);
    assert_eq!(CpioError::Duplicate.errno(), Errno::EEXIST);
}

#[test]
fn parents_must_be_directories_in_the_archive() {
    let orphan = Writer::newc().dir("a").file("a/b/c", b"").finish();
    assert_eq!(parse_err(&orphan), CpioError::ParentMissing);
    assert_eq!(CpioError::ParentMissing.errno(), Errno::ENOENT);
    let under_file = Writer::newc().file("a", b"").file("a/b", b"").finish();
    assert_eq!(parse_err(&under_file), CpioError::ParentNotDirectory);
    let under_link = Writer::newc()
        .dir("t")
        .symlink("a", "t")
        .file("a/b", b"")
        .finish();
    assert_eq!(parse_err(&under_link), CpioError::ParentNotDirectory);
    // Record order does not matter.
    let child_first = Writer::newc()
        .file("a/b/c", b"")
        .dir("a/b")
        .dir("a")
        .finish();
    assert_eq!(Archive::parse(&child_first).unwrap().len(), 3);
}

#[test]
fn entry_count_is_limited() {
    let mut writer = Writer::newc();
    for index in 0..MAX_ENTRIES {
        writer.entry(&format!("{index:x}"), FILE, b"");
    }
    let full = writer.unterminated();
    assert_eq!(Archive::parse(&writer.finish()).unwrap().len(), MAX_ENTRIES);
    let mut writer = Writer {
        bytes: full,
        magic: b"070701",
        next_ino: 0,
    };
    writer.dir(".");
    assert_eq!(parse_err(&writer.finish()), CpioError::TooManyEntries);
    assert_eq!(CpioError::TooManyEntries.errno(), Errno::EFBIG);
}

#[test]
fn crc_variant_checks_file_data() {
    let mut writer = Writer::crc();
    writer
        .dir("d")
        .file("d/f", b"\xff\xff\x01")
        .symlink("l", "d/f");
    let mut bytes = writer.finish();
    let archive = Archive::parse(&bytes).unwrap();
    assert_eq!(archive.lookup("d/f").unwrap().data, b"\xff\xff\x01");
    let data_at = bytes.windows(3).position(|w| w == b"\xff\xff\x01").unwrap();
    bytes[data_at + 2] = 0x02;
    assert_eq!(parse_err(&bytes), CpioError::BadChecksum);
    assert_eq!(CpioError::BadChecksum.errno(), Errno::EIO);
    // A wrong check on a file fails; on other kinds, as in GNU cpio, and in
    // the plain variant, it is ignored.
    for (writer, mode, data, ok) in [
        (Writer::crc(), FILE, &b"abc"[..], false),
        (Writer::crc(), LINK, b"abc", true),
        (Writer::crc(), DIR, b"", true),
        (Writer::newc(), FILE, b"abc", true),
    ] {
        let mut writer = writer;
        writer.raw(mode, b"x\0", 2, data, data.len() as u32, 0x1234);
        assert_eq!(Archive::parse(&writer.finish()).is_ok(), ok, "{mode:o}");
    }
    // 16_843_010 * 255 = 2^32 + 254: the sum wraps instead of overflowing.
    assert_eq!(checksum(&vec![0xff; 16_843_010]), 254);
}

#[test]
fn every_error_has_an_errno_and_a_message() {
    use CpioError::*;
    let all = [
        BadMagic,
        BadHexDigit,
        EmptyName,
        NameNotTerminated,
        NulInName,
        NameNotUtf8,
        NameTooLong,
        BadPath,
        Truncated,
        Overflow,
        MissingTrailer,
        BadChecksum,
        UnexpectedData,
        BadSymlinkTarget,
        RootNotDirectory,
        Duplicate,
        ParentMissing,
        ParentNotDirectory,
        TooManyEntries,
        OutOfMemory,
        NotFound,
        NotDirectory,
    ];
    for error in all {
        assert!(!error.message().is_empty());
        assert!(format!("{error}").contains(error.errno().name()));
    }
    assert_eq!(Overflow.errno(), Errno::EOVERFLOW);
    assert_eq!(OutOfMemory.errno(), Errno::ENOMEM);
}
