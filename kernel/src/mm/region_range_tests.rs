//! The range arithmetic of `MMAP`, `MUNMAP` and `MPROTECT` at the edges of
//! the address space, from a seeded generator: random and boundary
//! addresses, lengths, hints and offsets (page 0, the top of the user half,
//! lengths that wrap 2^64) against a reference computed in 128 bits, where
//! nothing wraps.  The per-page model (`region_model_tests.rs`) covers the
//! tree's logic in a small window; this covers the numbers it never meets.

use super::*;
use crate::test_rng::XorShift;

const PAGE: u128 = PAGE_SIZE as u128;

/// A value near one of the edges, or anywhere.
fn edgy(rng: &mut XorShift) -> u64 {
    let edges = [
        0,
        PAGE_SIZE,
        USER_MIN,
        USER_END / 2,
        USER_END - PAGE_SIZE,
        USER_END,
        USER_END + PAGE_SIZE,
        1 << 63,
        u64::MAX - PAGE_SIZE + 1,
        u64::MAX,
    ];
    match rng.below(4) {
        0 => rng.next(),
        1 => rng.next() & !(PAGE_SIZE - 1),
        // An edge, a few pages or a few bytes either side.
        2 => rng
            .pick(&edges)
            .wrapping_add(PAGE_SIZE.wrapping_mul(rng.below(5)))
            .wrapping_sub(PAGE_SIZE.wrapping_mul(rng.below(5))),
        _ => rng
            .pick(&edges)
            .wrapping_add(rng.below(3))
            .wrapping_sub(rng.below(3)),
    }
}

/// `[addr, addr + len rounded up to pages)` in 128 bits: `EINVAL` for an
/// unaligned address or a zero length, `None` past the user half.
fn reference_end(addr: u64, len_bytes: u64) -> Result<Option<u64>, Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) || len_bytes == 0 {
        return Err(Errno::EINVAL);
    }
    let end = u128::from(addr) + u128::from(len_bytes).div_ceil(PAGE) * PAGE;
    Ok((end <= u128::from(USER_END)).then_some(end as u64))
}

fn bounds_of(range: Result<PageRange, Errno>) -> Result<(u64, u64), Errno> {
    range.map(|range| (range.start(), range.end()))
}

const SEED: u64 = 0xed6e_5eed;

#[test]
fn call_ranges_agree_with_128_bit_arithmetic() {
    let mut rng = XorShift::new(SEED);
    let mut outcomes = [[0u32; 2]; 3];
    for step in 0..100_000 {
        let addr = edgy(&mut rng);
        let len_bytes = if rng.one_in(2) {
            rng.below(64 * PAGE_SIZE)
        } else {
            edgy(&mut rng)
        };
        let context = format!("seed {SEED:#x}, step {step}: {addr:#x} + {len_bytes:#x}");
        let end = reference_end(addr, len_bytes);
        let munmap = end.and_then(|end| end.map(|end| (addr, end)).ok_or(Errno::EINVAL));
        let mprotect = end.and_then(|end| end.map(|end| (addr, end)).ok_or(Errno::ENOMEM));
        let fixed = mprotect.and_then(|range| {
            if addr < USER_MIN {
                Err(Errno::EPERM)
            } else {
                Ok(range)
            }
        });
        let calls = [
            (bounds_of(PageRange::for_munmap(addr, len_bytes)), munmap),
            (
                bounds_of(PageRange::for_mprotect(addr, len_bytes)),
                mprotect,
            ),
            (bounds_of(PageRange::for_mmap_fixed(addr, len_bytes)), fixed),
        ];
        for (call, (actual, expected)) in calls.into_iter().enumerate() {
            assert_eq!(actual, expected, "{context}: call {call}");
            outcomes[call][usize::from(actual.is_err())] += 1;
        }
        let len = if len_bytes == 0 {
            Err(Errno::EINVAL)
        } else {
            let rounded = u128::from(len_bytes).div_ceil(PAGE) * PAGE;
            let room = u128::from(USER_END - USER_MIN);
            (rounded <= room)
                .then_some(rounded as u64)
                .ok_or(Errno::ENOMEM)
        };
        assert_eq!(mmap_len(len_bytes), len, "{context}");
        let (start, end) = (addr, len_bytes);
        let valid = start.is_multiple_of(PAGE_SIZE)
            && end.is_multiple_of(PAGE_SIZE)
            && start < end
            && end <= USER_END;
        let expected = if valid {
            Ok((start, end))
        } else {
            Err(Errno::EINVAL)
        };
        assert_eq!(bounds_of(PageRange::new(start, end)), expected, "{context}");
    }
    // Each call both accepted and refused often.
    for [accepted, refused] in outcomes {
        assert!(accepted > 5_000 && refused > 5_000, "{outcomes:?}");
    }
}

#[test]
fn offsets_near_the_top_of_an_object_split_without_wrapping() {
    let mut rng = XorShift::new(SEED + 1);
    let mut made = 0;
    for step in 0..20_000 {
        let context = format!("seed {:#x}, step {step}", SEED + 1);
        let (start, pages) = (rng.below(64) * PAGE_SIZE + USER_MIN, 1 + rng.below(16));
        let range = PageRange::new(start, start + pages * PAGE_SIZE).unwrap();
        let offset = edgy(&mut rng);
        let fits = u128::from(offset) + u128::from(range.len_bytes()) <= u128::from(u64::MAX);
        let expected = if !offset.is_multiple_of(PAGE_SIZE) {
            Err(Errno::EINVAL)
        } else if !fits {
            Err(Errno::EOVERFLOW)
        } else {
            Ok(())
        };
        let protection = Protection::from(ProtFlags::READ);
        let region = Region::new(range, protection, RegionFlags::MMAPPED, 0u32, offset);
        assert_eq!(
            region.as_ref().map(|_| ()).map_err(|e| *e),
            expected,
            "{context}"
        );
        let Ok(region) = region else { continue };
        made += 1;
        // Split at every page: each piece starts as far into the object as
        // it lies from the region's start.
        let mut tree = RegionTree::new();
        tree.insert(region).unwrap();
        for page in 1..pages {
            assert_eq!(
                tree.split_at(start + page * PAGE_SIZE),
                Ok(true),
                "{context}"
            );
        }
        for (index, piece) in tree.iter().enumerate() {
            let expected = u128::from(offset) + index as u128 * PAGE;
            assert_eq!(u128::from(piece.offset()), expected, "{context}");
            assert_eq!(
                piece.offset_of(piece.end() - 1),
                offset_end(piece),
                "{context}"
            );
        }
    }
    assert!(made > 2_000, "{made}");
}

/// The object offset of a piece's last byte, in 128 bits.
fn offset_end(piece: &Region<u32>) -> u64 {
    (u128::from(piece.offset()) + u128::from(piece.len_bytes()) - 1) as u64
}

#[test]
fn placements_near_the_top_and_with_wild_hints_stay_in_bounds() {
    let mut rng = XorShift::new(SEED + 2);
    let mut placed = 0;
    for step in 0..20_000 {
        let context = format!("seed {:#x}, step {step}", SEED + 2);
        // Bounds ending at or near the top of the user half, and maybe one
        // region right under the top.
        let end = USER_END - rng.below(4) * PAGE_SIZE;
        let start = end - (1 + rng.below(32)) * PAGE_SIZE;
        let bounds = PageRange::new(start, end).unwrap();
        let mut tree = RegionTree::new();
        let taken = if rng.one_in(2) {
            let first = start + rng.below((end - start) / PAGE_SIZE) * PAGE_SIZE;
            let span = PageRange::new(first, first + PAGE_SIZE).unwrap();
            let region = Region::new(span, Protection::default(), RegionFlags::MMAPPED, 0, 0);
            tree.insert(region.unwrap()).unwrap();
            Some(first)
        } else {
            None
        };
        let len_bytes = (1 + rng.below(8)) * PAGE_SIZE;
        let hint = edgy(&mut rng);
        let is_free =
            |at: u64| taken.is_none_or(|page| page + PAGE_SIZE <= at || page >= at + len_bytes);
        // The hint rounded up, if that range fits the bounds and is free.
        let rounded = u128::from(hint).div_ceil(PAGE) * PAGE;
        let hinted = (rounded != 0
            && rounded >= u128::from(start)
            && rounded + u128::from(len_bytes) <= u128::from(end)
            && is_free(rounded as u64))
        .then_some(rounded as u64);
        // Else the highest free place.
        let highest = (start..=end.saturating_sub(len_bytes))
            .rev()
            .step_by(PAGE_SIZE as usize)
            .find(|&at| is_free(at));
        let expected = hinted.or(highest).ok_or(Errno::ENOMEM);
        let actual = tree.find_free(len_bytes, hint, bounds);
        assert_eq!(actual, expected, "{context}: {len_bytes:#x} at {hint:#x}");
        placed += usize::from(actual.is_ok());
    }
    assert!(placed > 5_000, "{placed}");
}
