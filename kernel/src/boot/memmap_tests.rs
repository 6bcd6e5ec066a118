//! Host tests for `memmap`.

use super::*;
use crate::test_rng::XorShift;
use MemoryKind::{AcpiNvs, AcpiReclaimable, Reserved, Unusable, Usable};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The map QEMU's q35 machine reports with 6 GiB of RAM, as
/// `(start, end, kind)`.
const Q35: [(u64, u64, MemoryKind); 8] = [
    (0x0, 0x9fc00, Usable),
    (0x9fc00, 0xa0000, Reserved),
    (0xf0000, 0x100000, Reserved),
    (0x100000, 0x7ffe0000, Usable),
    (0x7ffe0000, 0x8000_0000, Reserved),
    (0xfeffc000, 0xff00_0000, Reserved),
    (0xfffc0000, 0x1_0000_0000, Reserved),
    (0x1_0000_0000, 0x1_8000_0000, Usable),
];

fn map_of(entries: &[(u64, u64, MemoryKind)]) -> MemoryMap {
    let mut map = MemoryMap::new();
    for &(start, end, kind) in entries {
        map.push(start, end - start, kind).unwrap();
    }
    map
}

fn region(start: u64, end: u64, kind: MemoryKind) -> MemoryRegion {
    MemoryRegion { start, end, kind }
}

fn range(start: u64, end: u64) -> PhysRange {
    PhysRange { start, end }
}

fn q35_frames() -> BootFrames {
    BootFrames::from_map(&map_of(&Q35))
}

/// Sorted, non-empty, disjoint, and no two touching regions of one kind.
fn assert_normalized(map: &MemoryMap) {
    for region in map.regions() {
        assert!(region.start < region.end, "empty region {region:?}");
    }
    for pair in map.regions().windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "unsorted or overlapping: {pair:?}"
        );
        assert!(
            pair[0].end < pair[1].start || pair[0].kind != pair[1].kind,
            "not maximal: {pair:?}"
        );
    }
}

/// The kind the map gives `address`, if any.
fn kind_at(map: &MemoryMap, address: u64) -> Option<MemoryKind> {
    map.regions()
        .iter()
        .find(|region| region.start <= address && address < region.end)
        .map(|region| region.kind)
}

#[test]
fn from_e820_decodes_known_types_and_reserves_unknown_ones() {
    assert_eq!(MemoryKind::from_e820(1), Usable);
    assert_eq!(MemoryKind::from_e820(2), Reserved);
    assert_eq!(MemoryKind::from_e820(3), AcpiReclaimable);
    assert_eq!(MemoryKind::from_e820(4), AcpiNvs);
    assert_eq!(MemoryKind::from_e820(5), Unusable);
    for unknown in [0, 6, 7, 12, 0xf000_0000, u32::MAX] {
        assert_eq!(MemoryKind::from_e820(unknown), Reserved, "type {unknown}");
    }
}

#[test]
fn push_ignores_zero_length_entries() {
    let mut map = MemoryMap::new();
    map.push(0x1000, 0, Usable).unwrap();
    map.push(0x2000, 0x1000, Reserved).unwrap();
    assert_eq!(map.regions(), &[region(0x2000, 0x3000, Reserved)]);
}

#[test]
fn push_clamps_entries_that_overflow_the_address_space() {
    let mut map = MemoryMap::new();
    map.push(u64::MAX - 0x10, 0x100, Reserved).unwrap();
    map.push(u64::MAX, 5, Reserved).unwrap();
    map.push(0x1000, u64::MAX, Usable).unwrap();
    assert_eq!(
        map.regions(),
        &[
            region(u64::MAX - 0x10, u64::MAX, Reserved),
            region(0x1000, u64::MAX, Usable),
        ]
    );
}

#[test]
fn push_fails_once_the_map_is_full_and_keeps_the_entries() {
    let mut map = MemoryMap::new();
    for index in 0..MAX_REGIONS as u64 {
        map.push(index * 0x2000, 0x1000, Usable).unwrap();
    }
    assert!(map.push(0x1_0000_0000, 0x1000, Reserved).is_err());
    // Zero-length entries are still accepted: they store nothing.
    assert!(map.push(0x1_0000_0000, 0, Reserved).is_ok());
    assert_eq!(map.regions().len(), MAX_REGIONS);
    assert_eq!(
        map.regions()[MAX_REGIONS - 1].start,
        (MAX_REGIONS as u64 - 1) * 0x2000
    );
}

#[test]
fn normalize_keeps_the_q35_map_and_sorts_it() {
    let mut shuffled = Q35;
    shuffled.reverse();
    shuffled.swap(1, 5);
    let mut map = map_of(&shuffled);
    map.normalize();
    let expected: Vec<_> = Q35.iter().map(|&(s, e, k)| region(s, e, k)).collect();
    assert_eq!(map.regions(), expected.as_slice());
    assert_eq!(
        map.usable_bytes(),
        0x9fc00 + (0x7ffe0000 - 0x100000) + 2 * GIB
    );
    assert_eq!(map.end_of_usable(), 0x1_8000_0000);
}

#[test]
fn normalize_carves_reserved_holes_out_of_usable_ram() {
    let mut map = map_of(&[(0, 0x100000, Usable), (0x9f000, 0xa0000, Reserved)]);
    map.normalize();
    assert_eq!(
        map.regions(),
        &[
            region(0, 0x9f000, Usable),
            region(0x9f000, 0xa0000, Reserved),
            region(0xa0000, 0x100000, Usable),
        ]
    );
    assert_eq!(map.usable_bytes(), 0x100000 - 0x1000);
}

#[test]
fn normalize_never_lets_usable_win_over_reserved_that_sticks_out() {
    let mut map = map_of(&[(0x8000, 0x20000, Reserved), (0x0, 0x10000, Usable)]);
    map.normalize();
    assert_eq!(
        map.regions(),
        &[
            region(0x0, 0x8000, Usable),
            region(0x8000, 0x20000, Reserved)
        ]
    );
}

#[test]
fn normalize_merges_touching_and_overlapping_regions_of_one_kind() {
    let mut map = map_of(&[
        (0x3000, 0x5000, Usable),
        (0x0, 0x1000, Usable),
        (0x1000, 0x2000, Usable),
        (0x1800, 0x4000, Usable),
        (0x10000, 0x11000, Reserved),
        (0x11000, 0x12000, Reserved),
    ]);
    map.normalize();
    assert_eq!(
        map.regions(),
        &[
            region(0x0, 0x5000, Usable),
            region(0x10000, 0x12000, Reserved)
        ]
    );
}

#[test]
fn normalize_lets_the_strictest_kind_win_overlaps() {
    // Each stricter kind overlaps the middle of the one before it.
    let mut map = map_of(&[
        (0x0, 0xa000, Usable),
        (0x1000, 0x9000, AcpiReclaimable),
        (0x2000, 0x8000, Reserved),
        (0x3000, 0x7000, AcpiNvs),
        (0x4000, 0x6000, Unusable),
    ]);
    map.normalize();
    assert_eq!(
        map.regions(),
        &[
            region(0x0, 0x1000, Usable),
            region(0x1000, 0x2000, AcpiReclaimable),
            region(0x2000, 0x3000, Reserved),
            region(0x3000, 0x4000, AcpiNvs),
            region(0x4000, 0x6000, Unusable),
            region(0x6000, 0x7000, AcpiNvs),
            region(0x7000, 0x8000, Reserved),
            region(0x8000, 0x9000, AcpiReclaimable),
            region(0x9000, 0xa000, Usable),
        ]
    );
}

#[test]
fn normalize_agrees_with_a_per_page_model_on_random_maps() {
    const PAGES: u64 = 72;
    let kinds = [Usable, Reserved, AcpiReclaimable, AcpiNvs, Unusable];
    let mut rng = XorShift::new(0x5eed);
    for _ in 0..500 {
        let mut map = MemoryMap::new();
        let mut model = [None::<MemoryKind>; PAGES as usize];
        for _ in 0..=rng.below(24) {
            let start = rng.below(64);
            let len = rng.below(9);
            let kind = kinds[rng.below(5) as usize];
            map.push(start * PAGE_SIZE, len * PAGE_SIZE, kind).unwrap();
            for page in &mut model[start as usize..(start + len) as usize] {
                *page = Some(page.map_or(kind, |old| old.strictest(kind)));
            }
        }
        let raw = map.clone();
        map.normalize();
        assert_normalized(&map);
        assert!(map.is_normalized());
        for (page, expected) in model.iter().enumerate() {
            let address = page as u64 * PAGE_SIZE;
            assert_eq!(kind_at(&map, address), *expected, "page {page} of {raw:?}");
        }
    }
}

#[test]
fn normalize_over_capacity_merges_the_newest_pieces_before_dropping_ram() {
    // 63 reservations split one usable range into 127 pieces; the map
    // fills up just as the next pieces arrive, an AcpiNvs range split by
    // an unusable page: only merging them into one keeps all the RAM.
    let mut map = MemoryMap::new();
    map.push(0, 1000 * PAGE_SIZE, Usable).unwrap();
    for index in 0..63 {
        map.push((10 + index * 10) * PAGE_SIZE, PAGE_SIZE, Reserved)
            .unwrap();
    }
    map.push(2000 * PAGE_SIZE, 10 * PAGE_SIZE, AcpiNvs).unwrap();
    map.push(2005 * PAGE_SIZE, PAGE_SIZE, Unusable).unwrap();
    map.normalize();
    assert_normalized(&map);
    assert_eq!(map.regions().len(), MAX_REGIONS);
    assert_eq!(map.usable_bytes(), (1000 - 63) * PAGE_SIZE);
    assert_eq!(
        map.regions().last(),
        Some(&region(2000 * PAGE_SIZE, 2010 * PAGE_SIZE, Unusable))
    );
}

#[test]
fn normalize_over_capacity_never_weakens_a_kind_on_random_maps() {
    // Four large regions, each usable or loosely reserved, tiling the
    // space, with small regions of any kind inside: often more than
    // MAX_REGIONS pieces, so both ways of degrading get exercised.
    const PAGES: u64 = 1024;
    let large_kinds = [Usable, Usable, Reserved, AcpiReclaimable];
    let kinds = [Usable, Reserved, AcpiReclaimable, AcpiNvs, Unusable];
    let mut rng = XorShift::new(0xcafe);
    let (mut maps_losing_ram, mut maps_strengthening_kinds) = (0, 0);
    for _ in 0..200 {
        let mut map = MemoryMap::new();
        let mut model = [None::<MemoryKind>; PAGES as usize];
        for index in 0..MAX_REGIONS as u64 {
            let (start, len, kind) = if index < 4 {
                let kind = large_kinds[rng.below(large_kinds.len() as u64) as usize];
                (index * PAGES / 4, PAGES / 4, kind)
            } else {
                let len = 1 + rng.below(2);
                let kind = kinds[rng.below(kinds.len() as u64) as usize];
                (rng.below(PAGES - len), len, kind)
            };
            map.push(start * PAGE_SIZE, len * PAGE_SIZE, kind).unwrap();
            for page in &mut model[start as usize..(start + len) as usize] {
                *page = Some(page.map_or(kind, |old| old.strictest(kind)));
            }
        }
        map.normalize();
        assert_normalized(&map);
        assert!(map.regions().len() <= MAX_REGIONS);
        let (mut lost_ram, mut strengthened) = (false, false);
        for (page, expected) in model.iter().enumerate() {
            let actual = kind_at(&map, page as u64 * PAGE_SIZE);
            match (expected, actual) {
                (None, None) | (Some(Usable), Some(Usable)) => {}
                (Some(Usable), None) => lost_ram = true,
                (Some(expected), Some(actual)) if !expected.is_usable() && !actual.is_usable() => {
                    assert!(
                        actual.restriction() >= expected.restriction(),
                        "page {page}: {expected:?} became {actual:?}"
                    );
                    strengthened |= actual != *expected;
                }
                _ => panic!("page {page}: {expected:?} became {actual:?}"),
            }
        }
        maps_losing_ram += usize::from(lost_ram);
        maps_strengthening_kinds += usize::from(strengthened);
    }
    assert!(
        maps_losing_ram > 10,
        "too few maps dropped RAM: {maps_losing_ram}"
    );
    assert!(
        maps_strengthening_kinds > 10,
        "too few maps merged kinds: {maps_strengthening_kinds}"
    );
}

#[test]
fn is_normalized_spots_each_way_a_map_can_be_raw() {
    let good = [
        (0x0, 0x1000, Usable),
        (0x1000, 0x2000, Reserved),
        (0x3000, 0x4000, Reserved),
    ];
    assert!(map_of(&good).is_normalized());
    assert!(MemoryMap::new().is_normalized());
    let unsorted = [(0x3000, 0x4000, Reserved), (0x0, 0x1000, Usable)];
    let overlapping = [(0x0, 0x2000, Usable), (0x1000, 0x3000, Reserved)];
    let not_maximal = [(0x0, 0x1000, Usable), (0x1000, 0x2000, Usable)];
    for raw in [&unsorted[..], &overlapping, &not_maximal] {
        let mut map = map_of(raw);
        assert!(!map.is_normalized(), "{map:?}");
        map.normalize();
        assert!(map.is_normalized(), "{map:?}");
    }
}

#[test]
fn normalize_is_idempotent_and_handles_empty_maps() {
    let mut empty = MemoryMap::new();
    empty.normalize();
    assert!(empty.regions().is_empty());
    assert_eq!(empty.usable_bytes(), 0);
    assert_eq!(empty.end_of_usable(), 0);

    let mut map = map_of(&Q35);
    map.push(0x9000, 0x20000, AcpiNvs).unwrap();
    map.normalize();
    let once = map.clone();
    map.normalize();
    assert_eq!(map.regions(), once.regions());
}

#[test]
fn normalize_handles_regions_reaching_u64_max() {
    let mut map = MemoryMap::new();
    map.push(u64::MAX - 0x3000, u64::MAX, Usable).unwrap();
    map.push(u64::MAX - 0x2000, 0x1000, Reserved).unwrap();
    map.normalize();
    assert_eq!(
        map.regions(),
        &[
            region(u64::MAX - 0x3000, u64::MAX - 0x2000, Usable),
            region(u64::MAX - 0x2000, u64::MAX - 0x1000, Reserved),
            region(u64::MAX - 0x1000, u64::MAX, Usable),
        ]
    );
    assert_eq!(map.end_of_usable(), u64::MAX);
}

#[test]
fn normalize_over_capacity_drops_the_smallest_usable_pieces_only() {
    // One usable range cut by 127 reservations into 128 pieces of
    // different sizes: 255 regions would be needed. The last piece is the
    // largest.
    let mut map = MemoryMap::new();
    map.push(0, 1 << 40, Usable).unwrap();
    let mut holes = Vec::new();
    let mut address = 0;
    for index in 0..(MAX_REGIONS as u64 - 1) {
        address += (index % 7 + 1) * 0x10000 + index * PAGE_SIZE;
        map.push(address, PAGE_SIZE, Reserved).unwrap();
        holes.push(region(address, address + PAGE_SIZE, Reserved));
        address += PAGE_SIZE;
    }
    map.normalize();
    assert_normalized(&map);
    assert_eq!(map.regions().len(), MAX_REGIONS);
    let reserved: Vec<_> = map
        .regions()
        .iter()
        .copied()
        .filter(|r| r.kind == Reserved)
        .collect();
    assert_eq!(reserved, holes, "every reservation survives unchanged");
    let usable: Vec<_> = map
        .regions()
        .iter()
        .copied()
        .filter(|r| r.kind == Usable)
        .collect();
    assert_eq!(usable, [region(address, 1 << 40, Usable)]);
}

#[test]
fn normalize_over_capacity_merges_non_usable_kinds_before_dropping_ram() {
    // A reserved range with 126 unusable pages inside (253 regions), and
    // one usable range elsewhere.
    let mut map = MemoryMap::new();
    map.push(0, GIB, Reserved).unwrap();
    let mut bad_pages = Vec::new();
    for index in 1..=(MAX_REGIONS as u64 - 2) {
        let address = index * 0x10_0000;
        map.push(address, PAGE_SIZE, Unusable).unwrap();
        bad_pages.push(address);
    }
    map.push(4 * GIB, 2 * GIB, Usable).unwrap();
    map.normalize();
    assert_normalized(&map);
    assert!(map.regions().len() <= MAX_REGIONS);
    assert_eq!(
        map.regions().last(),
        Some(&region(4 * GIB, 6 * GIB, Usable))
    );
    assert_eq!(map.usable_bytes(), 2 * GIB);
    for page in 0..GIB / PAGE_SIZE {
        let kind = kind_at(&map, page * PAGE_SIZE);
        assert!(
            matches!(kind, Some(Reserved | Unusable)),
            "page {page}: {kind:?}"
        );
    }
    for address in bad_pages {
        assert_eq!(kind_at(&map, address), Some(Unusable));
    }
}

#[test]
fn end_of_usable_ignores_higher_non_usable_regions() {
    let map = map_of(&[(0x1000, 0x5000, Usable), (0x10000, 0x20000, Reserved)]);
    assert_eq!(map.end_of_usable(), 0x5000);
    let no_ram = map_of(&[(0x10000, 0x20000, Reserved)]);
    assert_eq!(no_ram.end_of_usable(), 0);
    assert_eq!(no_ram.usable_bytes(), 0);
}

#[test]
fn boot_frames_take_usable_ram_aligned_inward() {
    let frames = q35_frames();
    assert_eq!(
        frames.ranges(),
        &[
            range(0x0, 0x9f000),
            range(0x100000, 0x7ffe0000),
            range(0x1_0000_0000, 0x1_8000_0000),
        ]
    );
    assert_eq!(
        frames.free_bytes(),
        0x9f000 + (0x7ffe0000 - 0x100000) + 2 * GIB
    );
}

#[test]
fn boot_frames_drop_usable_regions_smaller_than_a_page() {
    let frames = BootFrames::from_map(&map_of(&[
        (0x1800, 0x2800, Usable),
        (0x3001, 0x3fff, Usable),
        (0x5000, 0x6000, Usable),
    ]));
    assert_eq!(frames.ranges(), &[range(0x5000, 0x6000)]);
}

#[test]
fn boot_frames_normalize_a_map_that_was_not_normalized() {
    let map = map_of(&[
        (0x0, 0x10_0000, Usable),
        (0x4000, 0x6000, AcpiNvs),
        (0x8000, 0x20000, Usable),
    ]);
    let frames = BootFrames::from_map(&map);
    assert_eq!(
        frames.ranges(),
        &[range(0x0, 0x4000), range(0x6000, 0x10_0000)]
    );
    assert_eq!(map.regions().len(), 3, "the caller's map is left as it was");
}

#[test]
fn reserve_in_the_middle_splits_a_range() {
    let mut frames = q35_frames();
    frames.reserve(0x20_0000, 0x40_0000);
    assert_eq!(
        &frames.ranges()[..3],
        &[
            range(0x0, 0x9f000),
            range(0x10_0000, 0x20_0000),
            range(0x40_0000, 0x7ffe0000)
        ]
    );
    assert_eq!(frames.ranges().len(), 4);
}

#[test]
fn reserve_at_the_edges_shrinks_a_range() {
    let mut frames = q35_frames();
    frames.reserve(0x10_0000, 0x20_0000);
    frames.reserve(0x7ff0_0000, 0x7ffe_0000);
    frames.reserve(0x0, 0x1000);
    assert_eq!(
        frames.ranges(),
        &[
            range(0x1000, 0x9f000),
            range(0x20_0000, 0x7ff0_0000),
            range(0x1_0000_0000, 0x1_8000_0000),
        ]
    );
}

#[test]
fn reserve_spanning_several_ranges_removes_and_trims_them() {
    let mut frames = q35_frames();
    frames.reserve(0x5_0000, 0x1_0001_0000);
    assert_eq!(
        frames.ranges(),
        &[range(0x0, 0x5_0000), range(0x1_0001_0000, 0x1_8000_0000)]
    );
    frames.reserve(0, u64::MAX);
    assert!(frames.ranges().is_empty());
    assert_eq!(frames.free_bytes(), 0);
}

#[test]
fn reserve_rounds_unaligned_bounds_outward() {
    let mut frames = q35_frames();
    frames.reserve(0x20_0001, 0x20_1001);
    assert_eq!(frames.ranges()[1], range(0x10_0000, 0x20_0000));
    assert_eq!(frames.ranges()[2].start, 0x20_2000);
    // One byte reserves its whole page.
    frames.reserve(0x9e_fff, 0x9f_000);
    assert_eq!(frames.ranges()[0], range(0x0, 0x9e_000));
}

#[test]
fn reserve_of_nothing_or_of_a_gap_changes_nothing() {
    let mut frames = q35_frames();
    let before = frames.free_bytes();
    frames.reserve(0x5000, 0x5000);
    frames.reserve(0x9000, 0x5000);
    frames.reserve(0xa0000, 0x100000);
    frames.reserve(0x8000_0000, 0x1_0000_0000);
    frames.reserve(0x2_0000_0000, u64::MAX);
    assert_eq!(frames.free_bytes(), before);
    assert_eq!(frames.ranges().len(), 3);
}

#[test]
fn reserve_reaching_the_top_of_the_address_space_does_not_overflow() {
    let mut frames = q35_frames();
    frames.reserve(0x1_7fff_f001, u64::MAX);
    assert_eq!(frames.ranges()[2], range(0x1_0000_0000, 0x1_7fff_f000));
    frames.reserve(u64::MAX - 1, u64::MAX);
    assert_eq!(frames.ranges().len(), 3);
}

#[test]
fn reserve_that_must_split_a_full_set_keeps_the_lower_part() {
    // 128 separate usable ranges of 16 pages, each then split once: the
    // set is full.
    let mut map = MemoryMap::new();
    for index in 0..MAX_REGIONS as u64 {
        map.push(index * 32 * PAGE_SIZE, 16 * PAGE_SIZE, Usable)
            .unwrap();
    }
    let mut frames = BootFrames::from_map(&map);
    for index in 0..MAX_REGIONS as u64 {
        let base = index * 32 * PAGE_SIZE;
        frames.reserve(base + 8 * PAGE_SIZE, base + 9 * PAGE_SIZE);
    }
    assert_eq!(frames.ranges().len(), MAX_FREE_RANGES);
    let before = frames.free_bytes();
    let last_before = *frames.ranges().last().unwrap();

    // Splitting [0, 8 pages) needs a slot that is not there.
    frames.reserve(2 * PAGE_SIZE, 3 * PAGE_SIZE);
    assert_eq!(frames.ranges().len(), MAX_FREE_RANGES);
    assert_eq!(frames.ranges()[0], range(0, 2 * PAGE_SIZE));
    assert_eq!(frames.ranges()[1], range(9 * PAGE_SIZE, 16 * PAGE_SIZE));
    assert_eq!(frames.free_bytes(), before - 6 * PAGE_SIZE);
    assert_eq!(*frames.ranges().last().unwrap(), last_before);
}

#[test]
fn take_2mib_aligned_below_4gib_picks_the_highest_fit() {
    let mut frames = q35_frames();
    let start = frames.take(2 * MIB, 2 * MIB, 4 * GIB).unwrap();
    assert_eq!(start, 0x7fc0_0000);
    assert_eq!(
        &frames.ranges()[1..3],
        &[
            range(0x10_0000, 0x7fc0_0000),
            range(0x7fe0_0000, 0x7ffe_0000)
        ]
    );
    let second = frames.take(2 * MIB, 2 * MIB, 4 * GIB).unwrap();
    assert_eq!(second, 0x7fa0_0000);
}

#[test]
fn take_without_a_limit_uses_the_top_of_ram() {
    let mut frames = q35_frames();
    let before = frames.free_bytes();
    assert_eq!(frames.take(2 * MIB, 2 * MIB, u64::MAX), Some(0x1_7fe0_0000));
    assert_eq!(frames.ranges()[2], range(0x1_0000_0000, 0x1_7fe0_0000));
    assert_eq!(frames.free_bytes(), before - 2 * MIB);
}

#[test]
fn take_of_1gib_aligned_fits_only_above_4gib() {
    let mut frames = q35_frames();
    assert_eq!(frames.take(GIB, GIB, 4 * GIB), None);
    assert_eq!(frames.ranges().len(), 3, "a failed take changes nothing");
    assert_eq!(frames.take(GIB, GIB, u64::MAX), Some(0x1_4000_0000));
    assert_eq!(frames.take(GIB, GIB, u64::MAX), Some(0x1_0000_0000));
    assert_eq!(frames.take(GIB, GIB, u64::MAX), None);
}

#[test]
fn take_below_1mib_uses_the_top_of_low_memory() {
    let mut frames = q35_frames();
    assert_eq!(frames.take(PAGE_SIZE, PAGE_SIZE, MIB), Some(0x9e000));
    // An unaligned limit counts as the page boundary below it.
    assert_eq!(frames.take(PAGE_SIZE, PAGE_SIZE, 0x9dfff), Some(0x9c000));
    assert_eq!(frames.take(64 * KIB, 64 * KIB, MIB), Some(0x80000));
    assert_eq!(frames.take(PAGE_SIZE, PAGE_SIZE, PAGE_SIZE - 1), None);
    assert_eq!(frames.take(PAGE_SIZE, PAGE_SIZE, 0), None);
}

#[test]
fn take_rounds_the_length_up_to_whole_pages() {
    let mut frames = BootFrames::from_map(&map_of(&[(0x10000, 0x20000, Usable)]));
    assert_eq!(frames.take(5000, PAGE_SIZE, u64::MAX), Some(0x1e000));
    assert_eq!(frames.ranges(), &[range(0x10000, 0x1e000)]);
}

#[test]
fn take_rejects_zero_length_bad_alignment_and_huge_lengths() {
    let mut frames = q35_frames();
    for align in [0, 1, 512, 2048, PAGE_SIZE + 1, 3 * PAGE_SIZE, u64::MAX] {
        assert_eq!(
            frames.take(PAGE_SIZE, align, u64::MAX),
            None,
            "align {align}"
        );
    }
    assert_eq!(frames.take(0, PAGE_SIZE, u64::MAX), None);
    assert_eq!(frames.take(u64::MAX, PAGE_SIZE, u64::MAX), None);
    assert_eq!(frames.take(4 * GIB, PAGE_SIZE, u64::MAX), None);
    assert_eq!(frames.free_bytes(), q35_frames().free_bytes());
}

#[test]
fn take_until_exhausted_hands_out_each_page_once() {
    let mut frames = BootFrames::from_map(&map_of(&[
        (0x1000, 0x3000, Usable),
        (0x8000, 0xa000, Usable),
    ]));
    let taken: Vec<_> =
        core::iter::from_fn(|| frames.take(PAGE_SIZE, PAGE_SIZE, u64::MAX)).collect();
    assert_eq!(taken, [0x9000, 0x8000, 0x2000, 0x1000]);
    assert!(frames.ranges().is_empty());
    assert_eq!(frames.take(PAGE_SIZE, PAGE_SIZE, u64::MAX), None);
}
