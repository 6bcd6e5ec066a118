//! `RegionTree` against a per-page model: thousands of random inserts,
//! placements, fixed maps, unmaps, protects and splits over a small window,
//! each checked against what the model says should happen, and the whole
//! tree compared page by page after every step.  The model knows nothing of
//! regions or splits: a page is either empty or holds its protection, kind,
//! object and offset-in-object, so a split that lost an offset shows up as
//! a page whose offset changed.

use super::*;
use crate::test_rng::XorShift;

/// Where the window starts, and its size in pages.
const BASE: u64 = 0x100_0000;
const PAGES: u64 = 128;

/// What one page is, as a region says it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PageState {
    protection: Protection,
    flags: RegionFlags,
    object: u32,
    offset: u64,
}

fn state_at(region: &Region<u32>, addr: u64) -> PageState {
    PageState {
        protection: region.protection(),
        flags: region.flags(),
        object: *region.object(),
        offset: region.offset_of(addr),
    }
}

struct Model {
    pages: Vec<Option<PageState>>,
}

impl Model {
    fn index(addr: u64) -> usize {
        ((addr - BASE) / PAGE_SIZE) as usize
    }

    fn addr(index: usize) -> u64 {
        BASE + index as u64 * PAGE_SIZE
    }

    fn pages_of(&self, range: PageRange) -> &[Option<PageState>] {
        &self.pages[Self::index(range.start())..Self::index(range.end())]
    }

    fn is_free(&self, range: PageRange) -> bool {
        self.pages_of(range).iter().all(Option::is_none)
    }

    /// `EPERM` if a page of `range` belongs to a region `MMAP` did not make.
    fn check_user_may_change(&self, range: PageRange) -> Result<(), Errno> {
        let kernel_made = |page: &Option<PageState>| {
            page.is_some_and(|state| !state.flags.contains(RegionFlags::MMAPPED))
        };
        if self.pages_of(range).iter().any(kernel_made) {
            Err(Errno::EPERM)
        } else {
            Ok(())
        }
    }

    fn fill(&mut self, region: &Region<u32>) {
        for addr in (region.start()..region.end()).step_by(PAGE_SIZE as usize) {
            self.pages[Self::index(addr)] = Some(state_at(region, addr));
        }
    }

    fn clear(&mut self, range: PageRange) {
        let (first, last) = (Self::index(range.start()), Self::index(range.end()));
        self.pages[first..last].fill(None);
    }

    /// Where `find_free` must place `len_bytes`: the hint if it fits, else
    /// the highest fit, found page by page.
    fn placement(&self, len_bytes: u64, hint: u64, bounds: PageRange) -> Result<u64, Errno> {
        let fits = |start: u64| {
            let end = start.checked_add(len_bytes);
            start >= bounds.start()
                && end.is_some_and(|end| end <= bounds.end())
                && self.is_free(range(start, start + len_bytes))
        };
        let hinted = hint.checked_next_multiple_of(PAGE_SIZE);
        if let Some(hinted) = hinted.filter(|&start| hint != 0 && fits(start)) {
            return Ok(hinted);
        }
        let highest = bounds
            .end()
            .checked_sub(len_bytes)
            .filter(|&s| s >= bounds.start());
        highest
            .and_then(|highest| {
                (bounds.start()..=highest)
                    .rev()
                    .step_by(PAGE_SIZE as usize)
                    .find(|&start| fits(start))
            })
            .ok_or(Errno::ENOMEM)
    }

    /// Checks that `pieces` are exactly the non-empty pages of `range`, in
    /// order, each with the state the model holds for it.
    fn assert_removed(&self, range: PageRange, pieces: &[Region<u32>], step: usize) {
        let mut removed = Vec::new();
        for piece in pieces {
            assert!(range.covers(piece.range()), "step {step}: {piece:?}");
            for addr in (piece.start()..piece.end()).step_by(PAGE_SIZE as usize) {
                let index = Self::index(addr);
                assert_eq!(
                    self.pages[index],
                    Some(state_at(piece, addr)),
                    "step {step}"
                );
                removed.push(index);
            }
        }
        let first = Self::index(range.start());
        let held: Vec<usize> = (first..Self::index(range.end()))
            .filter(|&index| self.pages[index].is_some())
            .collect();
        assert_eq!(removed, held, "step {step}");
    }
}

fn random_range(rng: &mut XorShift) -> PageRange {
    let first = rng.below(PAGES);
    let longest = if rng.percent(20) { 48 } else { 8 };
    let pages = 1 + rng.below(longest.min(PAGES - first));
    range(
        Model::addr(first as usize),
        Model::addr((first + pages) as usize),
    )
}

/// Half the time a range starting inside a region (if there is one), so
/// that protects succeed and splits pile up on splits.
fn random_target(rng: &mut XorShift, tree: &RegionTree<u32>) -> PageRange {
    let Some(region) = tree
        .iter()
        .nth(rng.below(tree.len().max(1) as u64) as usize)
    else {
        return random_range(rng);
    };
    if rng.percent(50) {
        return random_range(rng);
    }
    let pages = region.len_bytes() / PAGE_SIZE;
    let start = region.start() + rng.below(pages) * PAGE_SIZE;
    let window_end = Model::addr(PAGES as usize);
    // Up to one page past the region's end.
    let left = (region.end() - start) / PAGE_SIZE;
    let end = (start + (1 + rng.below(left + 1)) * PAGE_SIZE).min(window_end);
    range(start, end)
}

fn random_protection(rng: &mut XorShift) -> Protection {
    let prot = ProtFlags::from_bits_truncate(rng.below(8) as u32);
    Protection::from(prot)
}

fn random_region(rng: &mut XorShift, object: u32) -> Region<u32> {
    let span = random_range(rng);
    let flags = if rng.percent(95) {
        let extra = RegionFlags::from_bits_truncate(rng.next() as u8)
            & (RegionFlags::STACK | RegionFlags::SHARED | RegionFlags::COW);
        RegionFlags::USER_ACCESSIBLE | RegionFlags::MMAPPED | extra
    } else {
        RegionFlags::from_bits_truncate(rng.next() as u8) - RegionFlags::MMAPPED
    };
    let offset = rng.below(1 << 20) * PAGE_SIZE;
    Region::new(span, random_protection(rng), flags, object, offset).unwrap()
}

/// Made by `MMAP`, writable and executable: never in the tree.
fn is_user_write_execute(region: &Region<u32>) -> bool {
    let protection = region.protection();
    region.flags().contains(RegionFlags::MMAPPED) && protection.writable && protection.executable
}

/// Compares every page of the window, and the tree's own invariants.
fn assert_agrees(tree: &RegionTree<u32>, model: &Model, max_regions: usize, step: usize) {
    for (index, expected) in model.pages.iter().enumerate() {
        let addr = Model::addr(index);
        let actual = tree.find(addr).map(|region| state_at(region, addr));
        assert_eq!(actual, *expected, "step {step}, page {addr:#x}");
    }
    let mut previous_end = 0;
    for region in tree.iter() {
        assert!(
            region.start() >= previous_end,
            "step {step}: overlap at {region:?}"
        );
        assert!(region.start() >= BASE && region.end() <= Model::addr(PAGES as usize));
        assert!(!is_user_write_execute(region), "step {step}: {region:?}");
        previous_end = region.end();
    }
    assert!(
        tree.len() <= max_regions,
        "step {step}: {} regions",
        tree.len()
    );
}

/// How many steps before the tree starts empty again.
const EPOCH_STEPS: usize = 400;

/// Out of 100: insert, place, replace, unmap, protect, split.
const OPERATION_WEIGHTS: [u64; 6] = [15, 15, 15, 25, 20, 10];

/// Per operation, how many calls succeeded and how many were refused.
#[derive(Default, Debug)]
struct Tally {
    done: [u32; 6],
    refused: [u32; 6],
    /// Refusals for want of room under the ceiling.
    ceiling: u32,
}

/// Runs `steps` random operations from `seed` on a tree holding at most
/// `max_regions` regions, checking each against the model.
fn run(seed: u64, steps: usize, max_regions: usize) -> Tally {
    let mut rng = XorShift::new(seed);
    let mut tree = RegionTree::with_max_regions(max_regions);
    let mut model = Model {
        pages: vec![None; PAGES as usize],
    };
    let mut tally = Tally::default();
    for step in 0..steps {
        // Start afresh now and then: regions MMAP did not make can never be
        // removed, and would fill the window in the end.
        if step % EPOCH_STEPS == 0 {
            tree = RegionTree::with_max_regions(max_regions);
            model.pages.fill(None);
        }
        let object = step as u32;
        let before = tree.clone();
        let roll = rng.below(100);
        let operation = OPERATION_WEIGHTS
            .iter()
            .scan(0, |total, weight| {
                *total += weight;
                Some(*total)
            })
            .position(|total| roll < total)
            .unwrap();
        // What the model expects, and what the tree did.
        let (expected, outcome) = match operation {
            0 => {
                let region = random_region(&mut rng, object);
                let expected = if is_user_write_execute(&region) {
                    Err(Errno::EACCES)
                } else if !model.is_free(region.range()) {
                    Err(Errno::EEXIST)
                } else {
                    Ok(())
                };
                let outcome = tree.insert(region.clone()).map(|()| model.fill(&region));
                (expected, outcome)
            }
            1 => {
                let len_bytes = (1 + rng.below(8)) * PAGE_SIZE;
                let hint = match rng.below(3) {
                    0 => 0,
                    1 => BASE + rng.below(PAGES * PAGE_SIZE),
                    _ => rng.next(),
                };
                let bounds = random_range(&mut rng);
                let expected = model.placement(len_bytes, hint, bounds);
                let placed = tree.find_free(len_bytes, hint, bounds);
                assert_eq!(placed, expected, "step {step}: {len_bytes:#x} at {hint:#x}");
                let outcome = placed.and_then(|start| {
                    let span = range(start, start + len_bytes);
                    let region = Region::new(span, RW, MMAPPED, object, 0)?;
                    tree.insert(region.clone()).map(|()| model.fill(&region))
                });
                (expected.map(|_| ()), outcome)
            }
            2 => {
                let region = random_region(&mut rng, object);
                let span = region.range();
                let expected = if is_user_write_execute(&region) {
                    Err(Errno::EACCES)
                } else {
                    model.check_user_may_change(span)
                };
                let replacement = region.clone();
                let outcome = tree.replace(region).map(|removed| {
                    model.assert_removed(span, &removed, step);
                    model.clear(span);
                    model.fill(&replacement);
                });
                (expected, outcome)
            }
            3 => {
                let span = random_target(&mut rng, &tree);
                let expected = model.check_user_may_change(span);
                let outcome = tree.unmap(span).map(|removed| {
                    model.assert_removed(span, &removed, step);
                    model.clear(span);
                });
                (expected, outcome)
            }
            4 => {
                let span = random_target(&mut rng, &tree);
                let protection = random_protection(&mut rng);
                let expected = expected_protect(&model, span, protection);
                let changes = expected_changes(&model, span, protection);
                let outcome = tree.protect(span, protection).map(|changed| {
                    assert_eq!(changed, changes, "step {step}");
                    for index in Model::index(span.start())..Model::index(span.end()) {
                        if let Some(state) = &mut model.pages[index] {
                            state.protection = protection;
                        }
                    }
                });
                (expected, outcome)
            }
            _ => {
                let addr = Model::addr(rng.below(PAGES) as usize) + rng.below(4) / 3 * 8;
                let expected = if addr.is_multiple_of(PAGE_SIZE) {
                    Ok(())
                } else {
                    Err(Errno::EINVAL)
                };
                let outcome = tree.split_at(addr).map(|split| {
                    assert_eq!(split, tree.len() == before.len() + 1, "step {step}");
                });
                (expected, outcome)
            }
        };
        match outcome {
            Ok(()) => {
                assert_eq!(expected, Ok(()), "step {step}: operation {operation}");
                tally.done[operation] += 1;
            }
            Err(errno) => {
                // The ceiling is the one refusal the model cannot predict:
                // it depends on how the tree happens to be split.
                let ceiling = expected == Ok(()) && errno == Errno::ENOMEM;
                assert!(ceiling || expected == Err(errno), "step {step}: {errno}");
                assert!(!ceiling || tree.len() + 2 > max_regions, "step {step}");
                assert_eq!(tree, before, "step {step}: refused, but changed");
                tally.ceiling += u32::from(ceiling);
                tally.refused[operation] += 1;
            }
        }
        assert_agrees(&tree, &model, max_regions, step);
    }
    tally
}

/// `MPROTECT`'s answer by the rules, page by page in address order.
fn expected_protect(model: &Model, span: PageRange, protection: Protection) -> Result<(), Errno> {
    if protection.is_write_execute() {
        return Err(Errno::EACCES);
    }
    for page in model.pages_of(span) {
        match page {
            None => return Err(Errno::ENOMEM),
            Some(state) if !state.flags.contains(RegionFlags::MMAPPED) => {
                return Err(Errno::EPERM);
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The ranges an `MPROTECT` changes: runs of pages whose protection differs.
fn expected_changes(model: &Model, span: PageRange, protection: Protection) -> Vec<(u64, u64)> {
    let mut changes: Vec<(u64, u64)> = Vec::new();
    let first = Model::index(span.start());
    for (index, page) in model.pages_of(span).iter().enumerate() {
        let addr = Model::addr(first + index);
        if page.is_none_or(|state| state.protection == protection) {
            continue;
        }
        match changes.last_mut() {
            Some((_, end)) if *end == addr => *end += PAGE_SIZE,
            _ => changes.push((addr, addr + PAGE_SIZE)),
        }
    }
    changes
}

#[test]
fn random_operations_agree_with_a_per_page_model() {
    for seed in [1, 0x5eed_1e55, 0xdead_beef_cafe] {
        let tally = run(seed, 8_000, MAX_REGIONS);
        // Every operation both succeeded and was refused many times, so
        // each path was exercised.
        for operation in 0..6 {
            let (done, refused) = (tally.done[operation], tally.refused[operation]);
            assert!(done > 50 && refused > 20, "seed {seed:#x}: {tally:?}");
        }
        assert_eq!(tally.ceiling, 0);
    }
}

#[test]
fn random_operations_near_the_ceiling_refuse_without_changing_anything() {
    let tally = run(0xc0ffee, 8_000, 12);
    assert!(tally.done.iter().all(|&done| done > 50), "{tally:?}");
    assert!(tally.ceiling > 100, "{tally:?}");
}
