//! The checks every SQE passes before its op starts, whatever the op:
//! flag bits the kernel implements, an opcode the ABI defines, and zero in
//! every field the op does not use.  Each refusal is `EINVAL`.
//!
//! The last rule is `abi::opcode`'s ("fields the table does not name must
//! be zero"): it keeps those fields free to gain a meaning later, which
//! they could not if old programs left garbage in them.  [`used_fields`] is
//! that table's columns, one row per op; the ops check the values of the
//! fields they use.  Pure, so the host tests run it (`check_tests.rs`),
//! and cheap: it runs for every SQE, so it works on the SQE's eight words
//! with a mask per word and op, computed at compile time.
//!
//! ```text
//!  every SQE    opcode, flags, user_data, personality (a thread to deliver to)
//!  per op       ioprio fd off addr len op_flags buf_index splice_fd_in addr3 pad
//!               as used_fields(op) says; the others must be 0
//! ```

use abi::{Errno, Opcode, Sqe};
use bitflags::bitflags;

bitflags! {
    /// The SQE fields whose meaning depends on the op.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Fields: u16 {
        const IOPRIO = 1 << 0;
        const FD = 1 << 1;
        const OFF = 1 << 2;
        const ADDR = 1 << 3;
        const LEN = 1 << 4;
        const OP_FLAGS = 1 << 5;
        const BUF_INDEX = 1 << 6;
        const SPLICE_FD_IN = 1 << 7;
        const ADDR3 = 1 << 8;
        /// Reserved for every op.
        const PAD = 1 << 9;
    }
}

/// The fields `op` uses, as `abi::opcode`'s table names them.  A column
/// that says "0" there (`ASYNC_CANCEL`'s `op_flags`, `LINK_TIMEOUT`'s
/// `off`, `MSG_RING`'s `addr`) is a field the op does not use.
pub const fn used_fields(op: Opcode) -> Fields {
    const IOPRIO: u16 = Fields::IOPRIO.bits();
    const FD: u16 = Fields::FD.bits();
    const OFF: u16 = Fields::OFF.bits();
    const ADDR: u16 = Fields::ADDR.bits();
    const LEN: u16 = Fields::LEN.bits();
    const OP_FLAGS: u16 = Fields::OP_FLAGS.bits();
    const ADDR3: u16 = Fields::ADDR3.bits();
    let bits = match op {
        Opcode::Nop => 0,
        Opcode::Timeout => OFF | ADDR | LEN | OP_FLAGS,
        Opcode::AsyncCancel => ADDR,
        Opcode::LinkTimeout => ADDR | LEN | OP_FLAGS,
        Opcode::OpenAt => FD | ADDR | LEN | OP_FLAGS,
        Opcode::Close => FD,
        Opcode::Statx => FD | OFF | ADDR | LEN | OP_FLAGS,
        Opcode::Read | Opcode::Write => FD | OFF | ADDR | LEN,
        Opcode::MsgRing => FD | OFF | LEN,
        Opcode::FutexWait | Opcode::FutexWake => FD | OFF | ADDR | ADDR3,
        Opcode::Pipe => ADDR | OP_FLAGS,
        Opcode::Mmap => IOPRIO | FD | OFF | ADDR | LEN | OP_FLAGS | ADDR3,
        Opcode::Munmap => ADDR | LEN,
        Opcode::Mprotect => ADDR | LEN | OP_FLAGS,
        Opcode::ThreadSpawn => OFF | ADDR | ADDR3,
        Opcode::ProcessSpawn => OFF | ADDR | LEN | OP_FLAGS | ADDR3,
        Opcode::Wait => FD,
        Opcode::VmQuery | Opcode::MemStats => ADDR | LEN,
        Opcode::SpaceClone => FD | OFF | ADDR | ADDR3,
        Opcode::RemapPages => FD | OFF | ADDR | LEN | OP_FLAGS,
    };
    Fields::from_bits_truncate(bits)
}

/// Where each field lies in the SQE's words (`Sqe::to_words`): the word,
/// and the field's bits in it.
const fn field_bits(field: Fields) -> (usize, u64) {
    const HIGH_HALF: u64 = 0xffff_ffff_0000_0000;
    const LOW_HALF: u64 = 0xffff_ffff;
    const FIELDS: [(Fields, usize, u64); 10] = [
        (Fields::IOPRIO, 0, 0xffff_0000),
        (Fields::FD, 0, HIGH_HALF),
        (Fields::OFF, 1, u64::MAX),
        (Fields::ADDR, 2, u64::MAX),
        (Fields::LEN, 3, LOW_HALF),
        (Fields::OP_FLAGS, 3, HIGH_HALF),
        (Fields::BUF_INDEX, 5, 0xffff),
        (Fields::SPLICE_FD_IN, 5, HIGH_HALF),
        (Fields::ADDR3, 6, u64::MAX),
        (Fields::PAD, 7, u64::MAX),
    ];
    let mut index = 0;
    while FIELDS[index].0.bits() != field.bits() {
        index += 1;
    }
    (FIELDS[index].1, FIELDS[index].2)
}

/// Per opcode value, the bits of each SQE word that must be zero: those of
/// every field the op does not use.  A table of one cache line per op, so
/// the check costs a load and an AND per word, not a test per field.
static UNUSED_BITS: [[u64; Sqe::WORDS]; 256] = {
    let mut table = [[0; Sqe::WORDS]; 256];
    let mut op_index = 0;
    while op_index < Opcode::ALL.len() {
        let op = Opcode::ALL[op_index];
        let unused = used_fields(op).complement();
        let mut bit = 0;
        while bit < 16 {
            if let Some(field) = Fields::from_bits(1 << bit)
                && unused.contains(field)
            {
                let (word, bits) = field_bits(field);
                table[op as usize][word] |= bits;
            }
            bit += 1;
        }
        op_index += 1;
    }
    table
};

/// The op `sqe` names, if it passes every check that does not depend on
/// the op: `EINVAL` for a flag bit the kernel does not implement, an
/// opcode the ABI does not define, or a field the op does not use that is
/// not zero.
pub fn check(sqe: &Sqe) -> Result<Opcode, Errno> {
    sqe.sqe_flags()?;
    let op = sqe.op()?;
    let unused = &UNUSED_BITS[op as usize];
    // `sqe.to_words()`, read straight from its bytes: the same words on a
    // little-endian machine, without taking the fields apart and putting
    // them together again (6 instructions per SQE on the NOP path; through
    // a helper function, even an `inline(always)` one, the gain was lost).
    // The random SQEs of `check_tests` would catch a wrong word.
    // SAFETY: `Sqe` is `repr(C)`, 64 bytes of integer fields and no
    // padding (`abi::sqe` asserts every offset), so its bytes are eight
    // initialized words (`transmute_copy` assumes no alignment).
    let words: [u64; Sqe::WORDS] = unsafe { core::mem::transmute_copy(sqe) };
    let stray = words
        .iter()
        .zip(unused)
        .fold(0, |stray, (word, unused)| stray | word & unused);
    if stray == 0 {
        Ok(op)
    } else {
        Err(Errno::EINVAL)
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
