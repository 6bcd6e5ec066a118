//! Host tests for `check`: its table against the ABI's documented one, and
//! random SQEs (seeded) against the rules: an unknown opcode or flag bit is
//! always `EINVAL`, whatever the rest holds; a valid SQE passes, and fails
//! with any field its op does not use set.

use super::*;
use crate::test_rng::XorShift;
use abi::SqeFlags;

/// Every field, with its name as `abi::opcode`'s table writes it.
const FIELDS: [(Fields, &str); 10] = [
    (Fields::IOPRIO, "ioprio"),
    (Fields::FD, "fd"),
    (Fields::OFF, "off"),
    (Fields::ADDR, "addr"),
    (Fields::LEN, "len"),
    (Fields::OP_FLAGS, "op_flags"),
    (Fields::BUF_INDEX, "buf_index"),
    (Fields::SPLICE_FD_IN, "splice_fd_in"),
    (Fields::ADDR3, "addr3"),
    (Fields::PAD, "pad"),
];

/// The flag bits the kernel implements, spelled out (DESIGN.md section 7,
/// and the `ASYNC` hint): IO_DRAIN, IO_LINK, ASYNC, CQE_SKIP_SUCCESS.
const SUPPORTED_FLAG_BITS: u8 = 0x02 | 0x04 | 0x10 | 0x40;

/// Each op's fields as the table in `abi/src/opcode.rs` gives them: the
/// `fd`, `off`, `addr`, `len` and `op_flags` columns unless empty or "0",
/// and what the "other" column names.
fn documented_fields() -> Vec<(Opcode, Fields)> {
    const COLUMNS: [Fields; 5] = [
        Fields::FD,
        Fields::OFF,
        Fields::ADDR,
        Fields::LEN,
        Fields::OP_FLAGS,
    ];
    let source = include_str!("../../../abi/src/opcode.rs");
    let rows = source
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .map(|row| row.replace("\\|", "/"));
    let mut table = Vec::new();
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let number: u8 = cells[1].parse().unwrap_or_else(|_| panic!("row {row}"));
        let op = Opcode::from_raw(number).unwrap_or_else(|| panic!("no opcode {number}"));
        let mut fields = Fields::empty();
        for (field, cell) in COLUMNS.iter().zip(&cells[2..7]) {
            if !cell.is_empty() && !cell.starts_with('0') {
                fields |= *field;
            }
        }
        for (field, name) in FIELDS {
            if cells[7].contains(&format!("`{name}`")) {
                fields |= field;
            }
        }
        table.push((op, fields));
    }
    table
}

#[test]
fn used_fields_follow_the_abi_table() {
    let table = documented_fields();
    assert_eq!(table.len(), Opcode::ALL.len(), "one row per opcode");
    for &op in Opcode::ALL {
        let rows: Vec<Fields> = table
            .iter()
            .filter(|(row_op, _)| *row_op == op)
            .map(|(_, fields)| *fields)
            .collect();
        assert_eq!(rows, [used_fields(op)], "{op:?}");
    }
    assert_eq!(SqeFlags::SUPPORTED.bits(), SUPPORTED_FLAG_BITS);
}

/// Whether `field` of `sqe` is not zero, by zeroing it and comparing (not
/// the way `set_fields` finds out).
fn is_set(sqe: &Sqe, field: Fields) -> bool {
    let mut zeroed = *sqe;
    match field {
        Fields::IOPRIO => zeroed.ioprio = 0,
        Fields::FD => zeroed.fd = 0,
        Fields::OFF => zeroed.off = 0,
        Fields::ADDR => zeroed.addr = 0,
        Fields::LEN => zeroed.len = 0,
        Fields::OP_FLAGS => zeroed.op_flags = 0,
        Fields::BUF_INDEX => zeroed.buf_index = 0,
        Fields::SPLICE_FD_IN => zeroed.splice_fd_in = 0,
        Fields::ADDR3 => zeroed.addr3 = 0,
        _ => zeroed.pad = 0,
    }
    zeroed != *sqe
}

/// Sets `field` of `sqe` to a non-zero value: a boundary or a random one.
fn set(rng: &mut XorShift, sqe: &mut Sqe, field: Fields) {
    let value = match rng.below(4) {
        0 => 1,
        1 => u64::MAX,
        2 => 1 << rng.below(64),
        _ => rng.next(),
    };
    // Narrow fields take the low bits, or the top bit if those are zero.
    let narrow = |bits: u32| {
        let low = value & ((1 << bits) - 1);
        if low == 0 { 1 << (bits - 1) } else { low }
    };
    match field {
        Fields::IOPRIO => sqe.ioprio = narrow(16) as u16,
        Fields::FD => sqe.fd = narrow(32) as u32 as i32,
        Fields::OFF => sqe.off = value,
        Fields::ADDR => sqe.addr = value,
        Fields::LEN => sqe.len = narrow(32) as u32,
        Fields::OP_FLAGS => sqe.op_flags = narrow(32) as u32,
        Fields::BUF_INDEX => sqe.buf_index = narrow(16) as u16,
        Fields::SPLICE_FD_IN => sqe.splice_fd_in = narrow(32) as u32 as i32,
        Fields::ADDR3 => sqe.addr3 = value,
        _ => sqe.pad = value,
    }
}

/// What the rules say of `sqe`, worked out from the spelled-out flags, the
/// ABI's opcode list and the fields one at a time.
fn expected(sqe: &Sqe) -> Result<Opcode, Errno> {
    if sqe.flags & !SUPPORTED_FLAG_BITS != 0 {
        return Err(Errno::EINVAL);
    }
    let op = *Opcode::ALL
        .iter()
        .find(|op| **op as u8 == sqe.opcode)
        .ok_or(Errno::EINVAL)?;
    let used = used_fields(op);
    for (field, _) in FIELDS {
        if is_set(sqe, field) && !used.contains(field) {
            return Err(Errno::EINVAL);
        }
    }
    Ok(op)
}

/// An SQE with random bits in every field, or (mostly) one shaped to get
/// past the first checks: a known opcode, supported flags, and each field
/// zero or not at random.
fn random_sqe(rng: &mut XorShift) -> Sqe {
    if rng.one_in(8) {
        let words = core::array::from_fn(|_| rng.next());
        return Sqe::from_words(words);
    }
    let mut sqe = Sqe {
        opcode: if rng.one_in(8) {
            rng.next() as u8
        } else {
            rng.pick(Opcode::ALL) as u8
        },
        flags: match rng.below(8) {
            0 => rng.next() as u8,
            1 => 1 << rng.below(8),
            2..=4 => rng.next() as u8 & SUPPORTED_FLAG_BITS,
            _ => 0,
        },
        user_data: rng.next(),
        personality: rng.next() as u16,
        ..Sqe::default()
    };
    for (field, _) in FIELDS {
        if rng.percent(20) {
            set(rng, &mut sqe, field);
        }
    }
    sqe
}

const SEED: u64 = 0x5a1d_c4ec;

#[test]
fn random_sqes_are_judged_as_the_rules_say() {
    let mut rng = XorShift::new(SEED);
    let mut accepted = [0u32; 256];
    let mut refused = 0;
    for step in 0..200_000 {
        let sqe = random_sqe(&mut rng);
        let result = check(&sqe);
        assert_eq!(
            result,
            expected(&sqe),
            "seed {SEED:#x}, step {step}: {sqe:?}"
        );
        match result {
            Ok(op) => accepted[op as usize] += 1,
            Err(_) => refused += 1,
        }
    }
    // Every op passed many times, so every row of the table was tried.
    for &op in Opcode::ALL {
        assert!(accepted[op as usize] > 100, "{op:?}: {accepted:?}");
    }
    assert!(refused > 50_000, "{refused}");
}

#[test]
fn an_unknown_opcode_or_flag_bit_is_einval_whatever_else_is_set() {
    let mut rng = XorShift::new(SEED + 1);
    for step in 0..50_000 {
        let mut sqe = random_sqe(&mut rng);
        if rng.one_in(2) {
            sqe.opcode = loop {
                let raw = rng.next() as u8;
                if Opcode::from_raw(raw).is_none() {
                    break raw;
                }
            };
        } else {
            let unsupported = !SUPPORTED_FLAG_BITS;
            let bit = loop {
                let bit = 1u8 << rng.below(8);
                if bit & unsupported != 0 {
                    break bit;
                }
            };
            sqe.flags |= bit;
        }
        assert_eq!(
            check(&sqe),
            Err(Errno::EINVAL),
            "seed {:#x}, step {step}: {sqe:?}",
            SEED + 1
        );
    }
}

#[test]
fn a_valid_sqe_with_a_field_its_op_does_not_use_set_is_refused() {
    let mut rng = XorShift::new(SEED + 2);
    let mut refusals = 0;
    for step in 0..20_000 {
        let op = rng.pick(Opcode::ALL);
        let mut sqe = Sqe {
            flags: rng.next() as u8 & SUPPORTED_FLAG_BITS,
            user_data: rng.next(),
            personality: rng.next() as u16,
            ..Sqe::new(op)
        };
        let used = used_fields(op);
        for (field, _) in FIELDS {
            if used.contains(field) && rng.one_in(2) {
                set(&mut rng, &mut sqe, field);
            }
        }
        let context = format!("seed {:#x}, step {step}: {sqe:?}", SEED + 2);
        assert_eq!(check(&sqe), Ok(op), "{context}");
        let unused: Vec<Fields> = FIELDS
            .iter()
            .map(|(field, _)| *field)
            .filter(|field| !used.contains(*field))
            .collect();
        let field = rng.pick(&unused);
        set(&mut rng, &mut sqe, field);
        assert_eq!(check(&sqe), Err(Errno::EINVAL), "{context}, {field:?} set");
        refusals += 1;
    }
    assert_eq!(refusals, 20_000);
}

#[test]
fn reserved_fields_are_refused_for_every_op() {
    // The regression: `pad` (reserved for all), `buf_index` and
    // `splice_fd_in` were never looked at by most ops, so an SQE with them
    // set ran as if they were zero.
    for &op in Opcode::ALL {
        for field in [Fields::PAD, Fields::BUF_INDEX, Fields::SPLICE_FD_IN] {
            assert!(!used_fields(op).contains(field), "{op:?} {field:?}");
            let mut sqe = Sqe::new(op);
            assert_eq!(check(&sqe), Ok(op));
            sqe.pad = u64::from(field == Fields::PAD);
            sqe.buf_index = u16::from(field == Fields::BUF_INDEX);
            sqe.splice_fd_in = i32::from(field == Fields::SPLICE_FD_IN);
            assert_eq!(check(&sqe), Err(Errno::EINVAL), "{op:?} {field:?}");
        }
    }
}
