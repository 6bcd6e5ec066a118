//! The `\_S5_` object of the DSDT: the SLP_TYP values that put the machine
//! in soft-off (ACPI S5).
//!
//! A full AML interpreter is not needed for this: firmware declares `_S5_`
//! as a static package, `Name (_S5, Package () { a, b, .. })`, which encodes
//! as
//!
//! ```text
//! 08 [5C] 5F 53 35 5F  12  PkgLength  NumElements  a  b ...
//! Name [\]  _ S 5 _   Package
//! ```
//!
//! where each element is ZeroOp (00), OneOp (01), OnesOp (FF), or a
//! Byte/Word/DWord/QWord prefix (0A/0B/0C/0E) and its value.  A `_S5_`
//! computed by a method is not recognised; the caller then reports that it
//! cannot power off.

/// SLP_TYP values for the PM1a and PM1b control registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepType {
    pub pm1a: u8,
    pub pm1b: u8,
}

const NAME_OP: u8 = 0x08;
const ROOT_PREFIX: u8 = 0x5c;
const PACKAGE_OP: u8 = 0x12;

/// Finds `_S5_` in an AML stream.  Never panics, whatever the bytes.
pub fn find(aml: &[u8]) -> Option<SleepType> {
    let mut from = 0;
    while let Some(found) = aml.get(from..)?.windows(4).position(|w| w == b"_S5_") {
        let at = from + found;
        let declared = match at {
            0 => false,
            _ if aml[at - 1] == NAME_OP => true,
            1 => false,
            _ => aml[at - 1] == ROOT_PREFIX && aml[at - 2] == NAME_OP,
        };
        if declared && let Some(sleep) = parse_package(aml.get(at + 4..)?) {
            return Some(sleep);
        }
        from = at + 1;
    }
    None
}

fn parse_package(bytes: &[u8]) -> Option<SleepType> {
    if *bytes.first()? != PACKAGE_OP {
        return None;
    }
    let lead = *bytes.get(1)?;
    let length_bytes = usize::from(lead >> 6);
    let mut cursor = 2 + length_bytes; // skip PkgLength
    let element_count = *bytes.get(cursor)?;
    if element_count < 2 {
        return None;
    }
    cursor += 1;
    let (pm1a, used) = integer(bytes.get(cursor..)?)?;
    let (pm1b, _) = integer(bytes.get(cursor + used..)?)?;
    // SLP_TYP is a 3-bit field.
    Some(SleepType {
        pm1a: (pm1a & 7) as u8,
        pm1b: (pm1b & 7) as u8,
    })
}

/// Decodes one integer data object: its value and its encoded length.
fn integer(bytes: &[u8]) -> Option<(u64, usize)> {
    let wide = |width: usize| -> Option<(u64, usize)> {
        let raw = bytes.get(1..1 + width)?;
        let value = raw
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        Some((value, 1 + width))
    };
    match *bytes.first()? {
        0x00 => Some((0, 1)),
        0x01 => Some((1, 1)),
        0xff => Some((u64::MAX, 1)),
        0x0a => wide(1),
        0x0b => wide(2),
        0x0c => wide(4),
        0x0e => wide(8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_encoding() {
        // Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }) as QEMU emits it.
        let aml = [
            0x10, 0x20, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(find(&aml), Some(SleepType { pm1a: 0, pm1b: 0 }));
    }

    #[test]
    fn root_prefix_and_byte_constants() {
        let aml = [
            0x08, 0x5c, b'_', b'S', b'5', b'_', 0x12, 0x0a, 0x04, 0x0a, 0x07, 0x0a, 0x05, 0x00,
            0x00,
        ];
        assert_eq!(find(&aml), Some(SleepType { pm1a: 7, pm1b: 5 }));
    }

    #[test]
    fn multi_byte_package_length_and_word_values() {
        let aml = [
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x41, 0x02, 0x02, 0x0b, 0x06, 0x00, 0x01,
        ];
        assert_eq!(find(&aml), Some(SleepType { pm1a: 6, pm1b: 1 }));
    }

    #[test]
    fn a_reference_that_is_not_a_declaration_is_skipped() {
        // `_S5_` first appears as a method argument (no NameOp), then declared.
        let aml = [
            0x70, b'_', b'S', b'5', b'_', 0x60, // Store (_S5_, Local0)
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x05, 0x02, 0x01, 0x01,
        ];
        assert_eq!(find(&aml), Some(SleepType { pm1a: 1, pm1b: 1 }));
    }

    #[test]
    fn missing_or_malformed_gives_none() {
        assert_eq!(find(b""), None);
        assert_eq!(find(b"no sleep state here"), None);
        // Declared, but not a package.
        assert_eq!(find(&[0x08, b'_', b'S', b'5', b'_', 0x14, 0x00]), None);
        // Package with one element.
        assert_eq!(
            find(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x03, 0x01, 0x00]),
            None
        );
        // Unknown element encoding.
        assert_eq!(
            find(&[0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0x5b, 0x00]),
            None
        );
    }

    #[test]
    fn every_truncation_is_safe() {
        let aml = [
            0x08, 0x5c, b'_', b'S', b'5', b'_', 0x12, 0x41, 0x02, 0x04, 0x0c, 1, 2, 3, 4, 0x0e, 1,
            2, 3, 4, 5, 6, 7, 8,
        ];
        for len in 0..aml.len() {
            let _ = find(&aml[..len]);
        }
        assert_eq!(find(&aml), Some(SleepType { pm1a: 1, pm1b: 1 }));
    }
}
