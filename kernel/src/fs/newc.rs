//! The cpio "newc" record format (Linux's initramfs format): decoding one
//! record at a time from untrusted bytes.  `cpio` builds the archive on top.
//!
//! ```text
//! offset (from the record start, which is 4-byte aligned in the archive)
//!   0   magic     "070701", or "070702" for the "crc" variant
//!   6   ino       \
//!  14   mode       |
//!  22   uid        |
//!  30   gid        |
//!  38   nlink      |
//!  46   mtime      |  13 fields, each 8 ASCII hex digits (either case)
//!  54   filesize   |
//!  62   devmajor   |
//!  70   devminor   |
//!  78   rdevmajor  |
//!  86   rdevminor  |
//!  94   namesize   |  includes the name's NUL
//! 102   check     /   "crc" variant: sum of a regular file's data bytes
//! 110   name      namesize bytes, NUL-terminated
//!       padding   0..=3 bytes, so the data starts 4-byte aligned
//!       data      filesize bytes: file contents or symlink target
//!       padding   0..=3 bytes, so the next record starts 4-byte aligned
//! ```
//!
//! Alignment is relative to the start of the archive, which is what both
//! GNU cpio and the Linux unpacker assume.  Padding bytes are not checked.
//!
//! Every offset is computed with checked arithmetic and every slice taken
//! with `get`, so no input can make decoding panic.

use super::error::CpioError;

/// The header's length in bytes: the magic and 13 fields of 8 digits.
pub const HEADER_LEN: usize = 6 + 13 * 8;
/// The longest name, counting its NUL: Linux's `PATH_MAX`.
pub const PATH_MAX: usize = 4096;
/// The name of the record that ends the archive.
pub const TRAILER: &str = "TRAILER!!!";

const MAGIC_NEWC: &[u8] = b"070701";
const MAGIC_CRC: &[u8] = b"070702";

/// Field indices, in header order.
const INO: usize = 0;
const MODE: usize = 1;
const FILESIZE: usize = 6;
const NAMESIZE: usize = 11;
const CHECK: usize = 12;

/// The file-type bits of a mode.
pub const S_IFMT: u32 = 0o170_000;
/// The file type of a regular file: the only kind the checksum covers.
pub const S_IFREG: u32 = 0o100_000;

/// One decoded record.  The name is as stored, not yet normalised.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub ino: u32,
    /// The full mode: file type and permission bits.
    pub mode: u32,
    pub name: &'a str,
    pub data: &'a [u8],
    /// Where the next record starts (after padding; may be past the end).
    pub next_offset: usize,
}

/// Decodes the record at `offset` of `archive`.
///
/// For the "crc" variant a regular file's checksum is verified; other kinds
/// carry no checksum (GNU cpio writes 0 for them and ignores it on input),
/// and the plain variant's `check` field only has to be hex.
pub fn read_record(archive: &[u8], offset: usize) -> Result<Record<'_>, CpioError> {
    let rest = archive.get(offset..).unwrap_or_default();
    if rest.is_empty() {
        return Err(CpioError::MissingTrailer);
    }
    let header = rest.get(..HEADER_LEN).ok_or(CpioError::Truncated)?;
    let (magic, digits) = header.split_at(MAGIC_NEWC.len());
    let has_checksum = match magic {
        MAGIC_NEWC => false,
        MAGIC_CRC => true,
        _ => return Err(CpioError::BadMagic),
    };
    let mut fields = [0u32; 13];
    for (field, chunk) in fields.iter_mut().zip(digits.chunks_exact(8)) {
        *field = parse_hex(chunk)?;
    }

    let name_len = usize_from(fields[NAMESIZE])?;
    if name_len == 0 {
        return Err(CpioError::EmptyName);
    }
    if name_len > PATH_MAX {
        return Err(CpioError::NameTooLong);
    }
    let name_start = offset.checked_add(HEADER_LEN).ok_or(CpioError::Overflow)?;
    let name_end = name_start
        .checked_add(name_len)
        .ok_or(CpioError::Overflow)?;
    let name = archive
        .get(name_start..name_end)
        .ok_or(CpioError::Truncated)?;
    let name = decode_name(name)?;
    if name == TRAILER {
        // Whatever follows the trailer's name, padding included, is not
        // part of the archive.
        return Ok(Record {
            ino: fields[INO],
            mode: fields[MODE],
            name,
            data: &[],
            next_offset: name_end,
        });
    }

    let data_start = align4(name_end)?;
    let data_end = data_start
        .checked_add(usize_from(fields[FILESIZE])?)
        .ok_or(CpioError::Overflow)?;
    let data = archive
        .get(data_start..data_end)
        .ok_or(CpioError::Truncated)?;
    if has_checksum && fields[MODE] & S_IFMT == S_IFREG && checksum(data) != fields[CHECK] {
        return Err(CpioError::BadChecksum);
    }
    Ok(Record {
        ino: fields[INO],
        mode: fields[MODE],
        name,
        data,
        next_offset: align4(data_end)?,
    })
}

/// Checks a stored name (with its NUL) and returns it without the NUL.
fn decode_name(stored: &[u8]) -> Result<&str, CpioError> {
    let Some((&0, name)) = stored.split_last() else {
        return Err(CpioError::NameNotTerminated);
    };
    if name.contains(&0) {
        return Err(CpioError::NulInName);
    }
    if name.is_empty() {
        return Err(CpioError::EmptyName);
    }
    core::str::from_utf8(name).map_err(|_| CpioError::NameNotUtf8)
}

/// Parses exactly 8 hex digits; 8 digits always fit a `u32`.
fn parse_hex(digits: &[u8]) -> Result<u32, CpioError> {
    digits.iter().try_fold(0u32, |value, &digit| {
        let nibble = char::from(digit)
            .to_digit(16)
            .ok_or(CpioError::BadHexDigit)?;
        Ok(value << 4 | nibble)
    })
}

/// The "crc" variant's checksum: the 32-bit wrapping sum of the bytes.
pub fn checksum(data: &[u8]) -> u32 {
    data.iter()
        .fold(0u32, |sum, &byte| sum.wrapping_add(u32::from(byte)))
}

fn align4(offset: usize) -> Result<usize, CpioError> {
    Ok(offset.checked_add(3).ok_or(CpioError::Overflow)? & !3)
}

/// Widens a header field; fails only where `usize` is narrower than 32 bits.
fn usize_from(field: u32) -> Result<usize, CpioError> {
    usize::try_from(field).map_err(|_| CpioError::Overflow)
}
