//! Robustness tests for the initfs reader: truncated, byte-flipped and
//! random inputs.  Parsing may accept or refuse them but must return, and
//! whatever it accepts must be internally consistent.

use super::super::newc::{TRAILER, checksum};
use super::super::{Archive, CpioError};
use super::{CHAR_DEVICE, DIR, FILE, LINK, Writer, check_consistent, sample};
use crate::test_rng::XorShift;

#[test]
fn truncation_at_every_length_is_an_error() {
    let bytes = sample();
    let trailer_at = bytes
        .windows(TRAILER.len())
        .position(|w| w == TRAILER.as_bytes());
    let trailer_end = trailer_at.unwrap() + TRAILER.len() + 1;
    let full = Archive::parse(&bytes).unwrap().len();
    for len in 0..=bytes.len() {
        match Archive::parse(&bytes[..len]) {
            Ok(archive) => {
                assert!(len >= trailer_end, "{len}");
                assert_eq!(archive.len(), full);
            }
            Err(error) => {
                assert!(len < trailer_end, "{len}: {error:?}");
                let expected = [CpioError::Truncated, CpioError::MissingTrailer];
                assert!(expected.contains(&error), "{len}: {error:?}");
            }
        }
    }
}

#[test]
fn flipping_any_byte_never_panics() {
    const VALUES: [u8; 9] = [0, 0xff, b'0', b'1', b'7', b'f', b'F', b'/', b'.'];
    let bytes = Writer::newc()
        .dir("d")
        .file("d/f", b"abcde")
        .symlink("l", "d")
        .finish();
    let data_at = bytes.windows(5).position(|w| w == b"abcde").unwrap();
    for (at, &original) in bytes.iter().enumerate() {
        for value in VALUES.into_iter().chain([original ^ 1, original ^ 0x80]) {
            let mut mutated = bytes.clone();
            mutated[at] = value;
            match Archive::parse(&mutated) {
                Ok(archive) => check_consistent(&archive),
                // A file's contents are not checked in the plain variant.
                Err(error) => assert!(!(data_at..data_at + 5).contains(&at), "{at}: {error:?}"),
            }
        }
    }
}

/// Random records with plausible fields, so the generator gets past the
/// header checks into names, data, paths and the tree.
fn plausible_archive(rng: &mut XorShift) -> Vec<u8> {
    let mut writer = if rng.below(2) == 0 {
        Writer::newc()
    } else {
        Writer::crc()
    };
    for index in 0..rng.below(8) as usize {
        // Usually the next name of a well-formed tree; sometimes a repeat,
        // an orphan, or random bytes.
        let good_name = [".", "a", "b", "a/b", "./b/c", "/a/b/c", "a/d"][index % 7];
        let name: Vec<u8> = match rng.below(16) {
            0 => (0..rng.below(6)).map(|_| rng.pick(b"ab/.\0\xff")).collect(),
            1 => rng.pick(&["a", "b/c", "c/d", "."]).into(),
            _ => good_name.into(),
        };
        let name: Vec<u8> = name.into_iter().chain([0]).collect();
        let any_mode = rng.next() as u32;
        let mode = match index {
            0..=3 if rng.below(8) != 0 => DIR,
            _ => rng.pick(&[FILE, FILE, DIR, LINK, CHAR_DEVICE, any_mode]),
        };
        // Directories and devices mostly come without data, as they must.
        let data: Vec<u8> = if mode == DIR || mode == CHAR_DEVICE && rng.below(4) != 0 {
            Vec::new()
        } else {
            (0..rng.below(9)).map(|_| rng.next() as u8).collect()
        };
        let sizes = [0, 1, 2, 3, 4, 5, 8, 0x7fff_ffff, u32::MAX];
        let namesize = if rng.below(16) == 0 {
            rng.pick(&sizes)
        } else {
            name.len() as u32
        };
        let filesize = if rng.below(16) == 0 {
            rng.pick(&sizes)
        } else {
            data.len() as u32
        };
        let check = if rng.below(8) != 0 {
            checksum(&data)
        } else {
            rng.next() as u32
        };
        writer.raw(mode, &name, namesize, &data, filesize, check);
    }
    if rng.below(8) == 0 {
        writer.unterminated()
    } else {
        writer.finish()
    }
}

/// Random bytes, plausible random records, and a valid archive with a few
/// bytes replaced (often by digits or path characters, which get further).
#[test]
fn random_inputs_never_panic() {
    const INTERESTING: &[u8] = b"0123456789abcdefABCDEF/.\0";
    let mut rng = XorShift::new(0x5eed);
    let base = sample();
    // Per input kind: [parsed, refused], and entries found in all parsed.
    let mut outcomes = [[0; 2]; 3];
    let mut entries_seen = [0; 3];
    let mut errors_seen = Vec::new();
    for round in 0..30_000 {
        let kind = round % 3;
        let input = match kind {
            0 => (0..rng.below(400)).map(|_| rng.next() as u8).collect(),
            1 => plausible_archive(&mut rng),
            _ => {
                let mut mutated = base.clone();
                for _ in 0..=rng.below(4) {
                    let at = rng.index(mutated.len());
                    let random = rng.next() as u8;
                    mutated[at] = if rng.below(2) == 0 {
                        random
                    } else {
                        rng.pick(INTERESTING)
                    };
                }
                mutated
            }
        };
        match Archive::parse(&input) {
            Ok(archive) => {
                check_consistent(&archive);
                entries_seen[kind] += archive.len();
                outcomes[kind][0] += 1;
            }
            Err(error) => {
                outcomes[kind][1] += 1;
                if !errors_seen.contains(&error) {
                    errors_seen.push(error);
                }
            }
        }
    }
    // The generators must reach both outcomes, or they test little.
    assert_eq!(outcomes[0], [0, 10_000]);
    for [parsed, refused] in &outcomes[1..] {
        assert!(*parsed > 500 && *refused > 500, "{outcomes:?}");
    }
    assert!(
        entries_seen[1] > 2000 && entries_seen[2] > 10_000,
        "{entries_seen:?}"
    );
    assert!(errors_seen.len() >= 15, "{errors_seen:?}");
}
