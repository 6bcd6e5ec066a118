use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn every_row_reads_its_number_from_the_words_both_guests_print() {
    // What this kernel's programs and the Linux peer print (one of each
    // row's lines), as they print it.
    let transcript = lines(
        "[    0.01] I cpu0 init: boot: 14937734 TSC ticks\n\
         bench: first user instruction at tick 31958421\n\
         nopbench: 208 ticks per NOP in batches of 32, 1026 ticks per NOP one at a time\n\
         bench: kernel entry and exit: 446 ticks (empty ring_enter)\n\
         bench: thread create and join: 9000 ticks\n\
         bench: blocked thread: 900 kernel bytes each (...)\n\
         bench: max blocked threads: 180000 (3 processes; then ...)\n\
         faults: 2721 ticks per page, zeroing included (1024 pages, 8 rounds)\n\
         shootdown: 55000 ticks per mmap+touch+munmap of a page, 1 other threads\n\
         bench: READ 4 KiB: 1.545 ticks per byte\n\
         bench: READ 64 KiB: 0.148 ticks per byte\n\
         bench: cross-CPU wake: 40000 ticks per futex round trip\n\
         bench: NOP scaling: 215 ticks per NOP with 2 processes\n",
    );
    let expected = [
        208.0, 1026.0, 446.0, 9000.0, 900.0, 180000.0, 2721.0, 55000.0, 1.545, 0.148, 40000.0,
        215.0, 215.0, 215.0, 31958421.0,
    ];
    assert_eq!(ROWS.len(), expected.len());
    for (row, want) in ROWS.iter().zip(expected) {
        assert_eq!(number_after(&transcript, row.anchor), Some(want), "{row:?}");
    }
}

#[test]
fn a_missing_or_unparsable_number_is_none() {
    let transcript = lines("faults: FAIL: MMAP failed\nnopbench: a NOP failed");
    assert_eq!(number_after(&transcript, "faults: "), None);
    assert_eq!(number_after(&transcript, "bench: READ 4 KiB: "), None);
}

#[test]
fn medians_and_paired_ratios() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    let row = ROWS[7];
    // The ratio is the median of the pairs' ratios, not of the medians.
    let measured = Measured::paired(
        row,
        &[
            (Some(10.0), Some(100.0)),
            (Some(30.0), Some(20.0)),
            (Some(20.0), Some(40.0)),
            (None, Some(5.0)),
        ],
    );
    assert_eq!(measured.ours, Some(20.0));
    assert_eq!(measured.linux, Some(30.0));
    assert_eq!(measured.ratio, Some(0.5));
    assert_eq!(measured.is_better(), Some(true));
}

#[test]
fn better_depends_on_the_rows_direction() {
    let max_threads = ROWS
        .iter()
        .find(|row| row.higher_is_better)
        .copied()
        .unwrap();
    assert_eq!(
        Measured::single(max_threads, Some(10.0), Some(2.0)).is_better(),
        Some(true)
    );
    assert_eq!(
        Measured::single(ROWS[0], Some(10.0), Some(2.0)).is_better(),
        Some(false)
    );
    assert_eq!(Measured::single(ROWS[0], Some(10.0), None).ratio, None);
}

#[test]
fn the_table_shows_every_row_with_dashes_for_what_is_missing() {
    let measured: Vec<Measured> = ROWS
        .iter()
        .map(|row| Measured::single(*row, Some(1234567.0), row.linux.then_some(0.5)))
        .collect();
    let table = markdown_table(&measured);
    assert_eq!(table.lines().count(), 2 + ROWS.len());
    assert!(
        table.contains("| 1,234,567 | 0.500 | 2469134.0 | worse |"),
        "{table}"
    );
    assert!(table.contains("| 1,234,567 | — | — |  |"), "{table}");
    assert_eq!(
        chart_data(&measured).lines().count(),
        ROWS.iter().filter(|r| r.linux).count()
    );
}
