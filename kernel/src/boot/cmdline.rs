//! Kernel command-line options.
//!
//! The line is whitespace-separated `key` or `key=value` words.  A word the
//! kernel does not understand is reported through the `warn` callback and
//! ignored; it never stops the boot.
//!
//! | option            | meaning                                           |
//! |-------------------|---------------------------------------------------|
//! | `loglevel=LEVEL`  | `error`, `warn`, `info` (default), `debug`, `trace` |
//! | `ktest[=FILTER]`  | run the in-kernel tests (those whose name contains FILTER) and exit QEMU |
//! | `bench`           | run the kernel benchmarks and exit QEMU           |
//! | `crash=KIND`      | deliberately fail: `page-fault`, `panic`, `invalid-opcode`, `stack-overflow` |
//! | `init=PATH`       | the first program (default `bin/init`); `init=none` starts none |
//! | `quick`           | tell the first program to keep its demos short (the test suite's boots) |
//! | `leak=KIND`       | leak a `frame` or a `slab` object inside every kernel leak check, to prove the check sees it |
//! | `watchdog=SECONDS` | report a CPU that makes no progress for SECONDS (default 10; 1 to 3600); `watchdog=off` turns it off |
//! | `-- ARGS...`      | everything after a lone `--` is the first program's arguments (as on Linux) |

use crate::log::Level;

/// A deliberate failure, to test the panic and exception reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    PageFault,
    Panic,
    InvalidOpcode,
    StackOverflow,
}

impl CrashKind {
    const NAMES: [(&'static str, CrashKind); 4] = [
        ("page-fault", CrashKind::PageFault),
        ("panic", CrashKind::Panic),
        ("invalid-opcode", CrashKind::InvalidOpcode),
        ("stack-overflow", CrashKind::StackOverflow),
    ];
}

/// A deliberate leak, to test the leak checks (`mm::memcheck`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakKind {
    Frame,
    Slab,
}

/// The parsed options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    pub log_level: Level,
    /// `Some(filter)` when tests were asked for; the empty filter runs all.
    pub ktest: Option<&'a str>,
    pub bench: bool,
    pub crash: Option<CrashKind>,
    /// The first program; `None` when `init=none`.
    pub init: Option<&'a str>,
    /// Pass `quick` to the first program.
    pub quick: bool,
    /// The words after `--`: the first program's arguments.
    pub init_args: &'a str,
    /// Address-space randomization: `aslr=off`, or `aslr=SEED` (hex with
    /// `0x`, or decimal) to repeat a boot's layouts.
    pub aslr: Aslr,
    /// `leak=frame|slab`: leak inside every leak check (the checks' own test).
    pub leak: Option<LeakKind>,
    /// The watchdog's threshold in seconds (`sched::watchdog`); `None`
    /// with `watchdog=off`.
    pub watchdog_secs: Option<u32>,
}

/// How user address spaces are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aslr {
    /// Randomized from a seed drawn at boot (RDRAND, else TSC jitter).
    #[default]
    Random,
    /// Randomized from this seed.
    Seed(u64),
    /// The fixed layout.
    Off,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            log_level: Level::Info,
            ktest: None,
            bench: false,
            crash: None,
            init: Some(DEFAULT_INIT),
            quick: false,
            init_args: "",
            aslr: Aslr::Random,
            leak: None,
            watchdog_secs: Some(DEFAULT_WATCHDOG_SECS),
        }
    }
}

/// The watchdog's threshold unless `watchdog=` says otherwise: generous,
/// because under TCG a loaded host can deschedule a virtual CPU.
pub const DEFAULT_WATCHDOG_SECS: u32 = 10;

/// The first program unless `init=` names another.
pub const DEFAULT_INIT: &str = "bin/init";

/// Why a word was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warning<'a> {
    pub word: &'a str,
    pub reason: &'static str,
}

/// Parses `line`, reporting each ignored word to `warn`.
pub fn parse<'a>(line: &'a str, mut warn: impl FnMut(Warning<'a>)) -> Options<'a> {
    let mut options = Options::default();
    let (line, init_args) = split_init_args(line);
    options.init_args = init_args;
    for word in line.split_ascii_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (word, None),
        };
        let mut ignore = |reason| warn(Warning { word, reason });
        match (key, value) {
            ("loglevel", Some(value)) => match Level::from_name(value) {
                Some(level) => options.log_level = level,
                None => ignore("unknown log level (error, warn, info, debug, trace)"),
            },
            ("loglevel", None) => ignore("loglevel needs a value"),
            ("ktest", value) => options.ktest = Some(value.unwrap_or("")),
            ("bench", None) => options.bench = true,
            ("bench", Some(_)) => ignore("bench takes no value"),
            ("crash", Some(value)) => {
                match CrashKind::NAMES.iter().find(|(name, _)| *name == value) {
                    Some(&(_, kind)) => options.crash = Some(kind),
                    None => ignore(
                        "unknown crash kind (page-fault, panic, invalid-opcode, stack-overflow)",
                    ),
                }
            }
            ("crash", None) => ignore("crash needs a value"),
            ("quick", None) => options.quick = true,
            ("aslr", Some("off")) => options.aslr = Aslr::Off,
            ("aslr", Some(value)) => match parse_seed(value) {
                Some(seed) => options.aslr = Aslr::Seed(seed),
                None => ignore("aslr takes off, or a seed (0x... or decimal)"),
            },
            ("aslr", None) => ignore("aslr needs off or a seed"),
            ("leak", Some("frame")) => options.leak = Some(LeakKind::Frame),
            ("leak", Some("slab")) => options.leak = Some(LeakKind::Slab),
            ("leak", _) => ignore("leak needs a kind: frame or slab"),
            ("watchdog", Some("off")) => options.watchdog_secs = None,
            ("watchdog", value) => match value.and_then(|v| v.parse().ok()) {
                Some(seconds @ 1..=3600) => options.watchdog_secs = Some(seconds),
                _ => ignore("watchdog takes off, or a threshold of 1 to 3600 seconds"),
            },
            ("init", Some("none")) => options.init = None,
            ("init", Some("")) | ("init", None) => ignore("init needs a path, or none"),
            ("init", Some(path)) => options.init = Some(path),
            _ => ignore("unknown option"),
        }
    }
    options
}

/// A seed as `aslr=` takes it: `0x` and hex digits, or decimal.
fn parse_seed(value: &str) -> Option<u64> {
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// The line before a lone `--` word, and what follows it (trimmed).
fn split_init_args(line: &str) -> (&str, &str) {
    let mut at = 0;
    for word in line.split_ascii_whitespace() {
        // `word` is a slice of `line`: its offset is where it starts.
        let start = word.as_ptr() as usize - line.as_ptr() as usize;
        if word == "--" {
            return (&line[..start], line[start + 2..].trim_ascii());
        }
        at = start + word.len();
    }
    (&line[..at], "")
}

/// The first program's arguments from `--` on, one word each.
pub fn init_arguments<'a>(options: &Options<'a>) -> impl Iterator<Item = &'a str> {
    options.init_args.split_ascii_whitespace()
}

#[cfg(test)]
#[path = "cmdline_property_tests.rs"]
mod property_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_collect(line: &str) -> (Options<'_>, Vec<Warning<'_>>) {
        let mut warnings = Vec::new();
        let options = parse(line, |w| warnings.push(w));
        (options, warnings)
    }

    #[test]
    fn empty_line_gives_defaults() {
        let (options, warnings) = parse_collect("   ");
        assert_eq!(options, Options::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn known_options_parse() {
        let (options, warnings) =
            parse_collect("loglevel=debug ktest=apic crash=page-fault bench quick leak=slab");
        assert_eq!(options.leak, Some(LeakKind::Slab));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(options.log_level, Level::Debug);
        assert_eq!(options.ktest, Some("apic"));
        assert_eq!(options.crash, Some(CrashKind::PageFault));
        assert!(options.bench);
        assert!(options.quick);
    }

    #[test]
    fn aslr_is_on_by_default_and_takes_off_or_a_seed() {
        assert_eq!(parse_collect("").0.aslr, Aslr::Random);
        assert_eq!(parse_collect("aslr=off").0.aslr, Aslr::Off);
        assert_eq!(parse_collect("aslr=0x1F").0.aslr, Aslr::Seed(0x1f));
        assert_eq!(parse_collect("aslr=42").0.aslr, Aslr::Seed(42));
        for bad in ["aslr", "aslr=", "aslr=0xzz", "aslr=on", "aslr=-1"] {
            let (options, warnings) = parse_collect(bad);
            assert_eq!(options.aslr, Aslr::Random, "{bad}");
            assert_eq!(warnings.len(), 1, "{bad}");
        }
    }

    #[test]
    fn watchdog_takes_seconds_or_off() {
        assert_eq!(
            parse_collect("").0.watchdog_secs,
            Some(DEFAULT_WATCHDOG_SECS)
        );
        assert_eq!(parse_collect("watchdog=off").0.watchdog_secs, None);
        assert_eq!(parse_collect("watchdog=30").0.watchdog_secs, Some(30));
        for bad in [
            "watchdog",
            "watchdog=",
            "watchdog=0",
            "watchdog=3601",
            "watchdog=1.5",
        ] {
            let (options, warnings) = parse_collect(bad);
            assert_eq!(options.watchdog_secs, Some(DEFAULT_WATCHDOG_SECS), "{bad}");
            assert_eq!(warnings.len(), 1, "{bad}");
        }
    }

    #[test]
    fn bare_ktest_runs_everything() {
        let (options, _) = parse_collect("ktest");
        assert_eq!(options.ktest, Some(""));
    }

    #[test]
    fn bad_words_are_reported_and_ignored() {
        let (options, warnings) = parse_collect(
            "bogus=1 loglevel=loud ktest-nonsense crash crash=melt loglevel bench=3 =",
        );
        assert_eq!(options, Options::default());
        let words: Vec<&str> = warnings.iter().map(|w| w.word).collect();
        assert_eq!(
            words,
            [
                "bogus=1",
                "loglevel=loud",
                "ktest-nonsense",
                "crash",
                "crash=melt",
                "loglevel",
                "bench=3",
                "="
            ]
        );
        assert!(warnings[1].reason.contains("log level"));
    }

    #[test]
    fn good_options_survive_bad_neighbours() {
        let (options, warnings) = parse_collect("junk loglevel=warn more=junk");
        assert_eq!(options.log_level, Level::Warn);
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn words_after_a_lone_double_dash_are_the_first_programs() {
        let (options, warnings) = parse_collect("init=bin/nopbench -- 5000  x=1 --");
        assert!(warnings.is_empty());
        assert_eq!(options.init, Some("bin/nopbench"));
        assert_eq!(
            init_arguments(&options).collect::<Vec<_>>(),
            ["5000", "x=1", "--"]
        );
        let (options, warnings) = parse_collect("quick --x -- ");
        assert_eq!(warnings.len(), 1, "--x is an unknown option");
        assert!(options.quick);
        assert_eq!(init_arguments(&options).count(), 0);
        assert_eq!(parse_collect("a--b").0.init_args, "");
    }

    #[test]
    fn init_defaults_and_can_be_changed_or_turned_off() {
        assert_eq!(parse_collect("").0.init, Some(DEFAULT_INIT));
        assert_eq!(parse_collect("init=bin/sh").0.init, Some("bin/sh"));
        assert_eq!(parse_collect("init=none").0.init, None);
        let (options, warnings) = parse_collect("init= init");
        assert_eq!(options.init, Some(DEFAULT_INIT));
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn later_words_win() {
        let (options, _) = parse_collect("loglevel=error loglevel=trace");
        assert_eq!(options.log_level, Level::Trace);
    }
}
