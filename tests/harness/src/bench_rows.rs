//! The rows of `harness bench` (issue 6) and what turns transcripts into
//! them: `ROWS` says which boot and which printed line each number comes
//! from, `number_after` reads it, and `Table` renders the terminal table,
//! `tests/bench/results.md` and the chart's data.  Pure logic, tested on
//! canned lines; `bench.rs` runs the boots.
//!
//! Both guests print their results in the same words (this kernel's
//! `bench`, `nopbench`, `faults` and `shootdown`; the Linux peer's
//! tests/bench/linux/bench.c), so one probe reads both transcripts.

use std::fmt::Write;

/// Which boot a row's numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// One CPU under `-icount shift=0,sleep=off`: `MODE icount`.
    Icount,
    /// One CPU, 1 GiB, no icount: `MODE maxthreads`.
    MaxThreads,
    /// Two CPUs without icount, the two kernels alternating: `MODE smp`.
    Smp,
    /// This kernel only, `cpus` CPUs under icount: `nopscale cpus`.
    NopScale(u32),
}

/// One row: where its number is, in both transcripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The row number and the row's name.
    pub number: u32,
    pub name: &'static str,
    pub unit: &'static str,
    pub boot: Boot,
    /// The number printed right after this text, on the first line that
    /// holds it.
    pub anchor: &'static str,
    /// Whether Linux has the row.
    pub linux: bool,
    /// More is better (thread counts); otherwise less is.
    pub higher_is_better: bool,
}

const fn row(
    number: u32,
    name: &'static str,
    unit: &'static str,
    boot: Boot,
    anchor: &'static str,
) -> Row {
    Row {
        number,
        name,
        unit,
        boot,
        anchor,
        linux: true,
        higher_is_better: false,
    }
}

/// The rows of issue 6, in its order.
pub const ROWS: &[Row] = &[
    row(
        1,
        "NOP, batched 32 per enter",
        "ticks/op",
        Boot::Icount,
        "nopbench: ",
    ),
    row(
        2,
        "NOP, single submit and wait",
        "ticks/op",
        Boot::Icount,
        "in batches of 32, ",
    ),
    row(
        3,
        "kernel entry + exit (empty ring_enter vs getppid)",
        "ticks",
        Boot::Icount,
        "bench: kernel entry and exit: ",
    ),
    row(
        4,
        "thread create + join",
        "ticks",
        Boot::Icount,
        "bench: thread create and join: ",
    ),
    row(
        5,
        "kernel bytes per blocked thread",
        "bytes",
        Boot::Icount,
        "bench: blocked thread: ",
    ),
    Row {
        higher_is_better: true,
        ..row(
            6,
            "max blocked threads, 1 GiB guest",
            "threads",
            Boot::MaxThreads,
            "bench: max blocked threads: ",
        )
    },
    row(
        7,
        "anonymous page fault, zeroing included",
        "ticks/page",
        Boot::Icount,
        "faults: ",
    ),
    row(
        8,
        "mmap + touch + munmap, 2nd thread on CPU 1 (shootdown)",
        "ticks",
        Boot::Smp,
        "shootdown: ",
    ),
    row(
        9,
        "READ 4 KiB (initfs / tmpfs)",
        "ticks/byte",
        Boot::Icount,
        "bench: READ 4 KiB: ",
    ),
    row(
        9,
        "READ 64 KiB (initfs / tmpfs)",
        "ticks/byte",
        Boot::Icount,
        "bench: READ 64 KiB: ",
    ),
    row(
        10,
        "cross-CPU wake, futex ping-pong",
        "ticks",
        Boot::Smp,
        "bench: cross-CPU wake: ",
    ),
    Row {
        linux: false,
        ..row(
            11,
            "NOP batched, 1 CPU (ticks over all CPUs)",
            "ticks/op",
            Boot::NopScale(1),
            "bench: NOP scaling: ",
        )
    },
    Row {
        linux: false,
        ..row(
            11,
            "NOP batched, 2 CPUs (ticks over all CPUs)",
            "ticks/op",
            Boot::NopScale(2),
            "bench: NOP scaling: ",
        )
    },
    Row {
        linux: false,
        ..row(
            11,
            "NOP batched, 4 CPUs (ticks over all CPUs)",
            "ticks/op",
            Boot::NopScale(4),
            "bench: NOP scaling: ",
        )
    },
    row(
        12,
        "boot to first user instruction",
        "ticks",
        Boot::Icount,
        "bench: first user instruction at tick ",
    ),
];

/// The number printed right after `anchor` on the first line holding it
/// (digits with an optional fraction).
pub fn number_after(lines: &[String], anchor: &str) -> Option<f64> {
    lines.iter().find_map(|line| {
        let at = line.find(anchor)? + anchor.len();
        let text: String = line[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        text.parse().ok()
    })
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(match values.len() % 2 {
        1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    })
}

/// A measured row: this kernel's number, Linux's, and their ratio (this
/// kernel / Linux; for the SMP rows, the median of the ratios of runs
/// taken side by side).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub row: Row,
    pub ours: Option<f64>,
    pub linux: Option<f64>,
    pub ratio: Option<f64>,
}

impl Measured {
    /// From one number per side.
    pub fn single(row: Row, ours: Option<f64>, linux: Option<f64>) -> Self {
        let ratio = match (ours, linux) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        Measured {
            row,
            ours,
            linux,
            ratio,
        }
    }

    /// From paired runs (A B A B ...): medians of each side and of the
    /// pairs' ratios.
    pub fn paired(row: Row, pairs: &[(Option<f64>, Option<f64>)]) -> Self {
        let mut ours: Vec<f64> = pairs.iter().filter_map(|p| p.0).collect();
        let mut linux: Vec<f64> = pairs.iter().filter_map(|p| p.1).collect();
        let mut ratios: Vec<f64> = pairs
            .iter()
            .filter_map(|&(a, b)| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            })
            .collect();
        Measured {
            row,
            ours: median(&mut ours),
            linux: median(&mut linux),
            ratio: median(&mut ratios),
        }
    }

    /// Whether this kernel does better than Linux on the row.
    pub fn is_better(&self) -> Option<bool> {
        let ratio = self.ratio?;
        Some(if self.row.higher_is_better {
            ratio > 1.0
        } else {
            ratio < 1.0
        })
    }
}

/// A number as the table shows it: thousands separated, fractions kept
/// to three places below 10.
pub fn format_number(value: Option<f64>) -> String {
    let Some(value) = value else {
        return "—".into();
    };
    if value < 10.0 && value.fract() != 0.0 {
        return format!("{value:.3}");
    }
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn format_ratio(measured: &Measured) -> String {
    match measured.ratio {
        Some(ratio) if ratio >= 10.0 => format!("{ratio:.1}"),
        Some(ratio) => format!("{ratio:.2}"),
        None => "—".into(),
    }
}

fn verdict(measured: &Measured) -> &'static str {
    match measured.is_better() {
        Some(true) => "better",
        Some(false) => "worse",
        None => "",
    }
}

/// The table as Markdown (the terminal shows the same text).
pub fn markdown_table(rows: &[Measured]) -> String {
    let mut out = String::from(
        "| # | benchmark | unit | this kernel | Linux | ratio | this kernel is |\n\
         |---:|---|---|---:|---:|---:|---|\n",
    );
    for measured in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            measured.row.number,
            measured.row.name,
            measured.row.unit,
            format_number(measured.ours),
            format_number(measured.linux),
            format_ratio(measured),
            verdict(measured),
        );
    }
    out
}

/// The chart's data for gnuplot: one line per row with a ratio, `label
/// ratio`, the label quoted.
pub fn chart_data(rows: &[Measured]) -> String {
    let mut out = String::new();
    for measured in rows {
        if let Some(ratio) = measured.ratio {
            let label = format!("{} {}", measured.row.number, measured.row.name).replace('"', "'");
            let _ = writeln!(out, "\"{label}\" {ratio}");
        }
    }
    out
}

#[cfg(test)]
#[path = "bench_rows_tests.rs"]
mod tests;
