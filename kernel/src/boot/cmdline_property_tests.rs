//! Property tests for the command line, from a seeded generator: random
//! lines of known options (good and bad values), unknown words, `=` edge
//! cases, long words and non-ASCII text, with random ASCII whitespace and a
//! random tail after `--`.  Each generated word carries what it should do,
//! so the expected options come from the generator, not from a second
//! parser: the last good value of each option wins, every other word is
//! warned about once, in order, and the words after `--` reach the first
//! program as they were written.  Raw boot bytes (`Cmdline`) never panic
//! and keep their longest UTF-8 prefix.

use super::*;
use crate::boot::Cmdline;
use crate::test_rng::XorShift;

/// What a word should do to the options.
#[derive(Clone, Debug)]
enum Effect {
    LogLevel(Level),
    Ktest(String),
    Bench,
    Crash(CrashKind),
    Quick,
    Aslr(Aslr),
    Leak(LeakKind),
    Init(Option<String>),
    Warn,
}

/// The options a line should give, owning its strings.
#[derive(Debug, PartialEq)]
struct Expected {
    log_level: Level,
    ktest: Option<String>,
    bench: bool,
    crash: Option<CrashKind>,
    init: Option<String>,
    quick: bool,
    aslr: Aslr,
    leak: Option<LeakKind>,
    init_arguments: Vec<String>,
}

impl Expected {
    fn new() -> Self {
        Self {
            log_level: Level::Info,
            ktest: None,
            bench: false,
            crash: None,
            init: Some(DEFAULT_INIT.into()),
            quick: false,
            aslr: Aslr::Random,
            leak: None,
            init_arguments: Vec::new(),
        }
    }

    fn of(options: &Options<'_>) -> Self {
        Self {
            log_level: options.log_level,
            ktest: options.ktest.map(String::from),
            bench: options.bench,
            crash: options.crash,
            init: options.init.map(String::from),
            quick: options.quick,
            aslr: options.aslr,
            leak: options.leak,
            init_arguments: init_arguments(options).map(String::from).collect(),
        }
    }

    fn apply(&mut self, effect: &Effect) {
        match effect.clone() {
            Effect::LogLevel(level) => self.log_level = level,
            Effect::Ktest(filter) => self.ktest = Some(filter),
            Effect::Bench => self.bench = true,
            Effect::Crash(kind) => self.crash = Some(kind),
            Effect::Quick => self.quick = true,
            Effect::Aslr(aslr) => self.aslr = aslr,
            Effect::Leak(kind) => self.leak = Some(kind),
            Effect::Init(path) => self.init = path,
            Effect::Warn => {}
        }
    }
}

const KEYS: [&str; 8] = [
    "loglevel", "ktest", "bench", "crash", "quick", "aslr", "leak", "init",
];

/// Characters of values and junk: no ASCII whitespace, but `=`, `-`, `/`,
/// and non-ASCII ones, whitespace to Unicode (NBSP, NEL, U+3000) included.
const CHARS: [char; 16] = [
    'a',
    'z',
    'Q',
    '0',
    '9',
    '=',
    '-',
    '/',
    '.',
    '_',
    'é',
    '日',
    '\u{a0}',
    '\u{85}',
    '\u{3000}',
    '\u{1f600}',
];

fn text(rng: &mut XorShift, min_len: usize) -> String {
    let longest = if rng.one_in(20) { 3000 } else { 6 };
    let len = min_len + rng.index(longest);
    (0..len).map(|_| rng.pick(&CHARS)).collect()
}

/// A value none of `good` is.
fn bad_value(rng: &mut XorShift, good: &[&str]) -> String {
    loop {
        let value = if rng.one_in(2) {
            // Near misses: a good one cased or padded differently.
            let near = rng.pick(good);
            match rng.below(5) {
                0 => near.to_uppercase(),
                1 => format!("{near}="),
                2 => format!("={near}"),
                3 => format!("{near}{near}"),
                _ => near[1..].to_string(),
            }
        } else {
            text(rng, 0)
        };
        if !good.contains(&value.as_str()) {
            return value;
        }
    }
}

fn seed_text(rng: &mut XorShift) -> (String, Effect) {
    let seed = match rng.below(3) {
        0 => rng.below(1000),
        1 => u64::MAX - rng.below(3),
        _ => rng.next(),
    };
    if rng.one_in(2) {
        let hex = format!("{seed:x}");
        let hex = if rng.one_in(2) {
            hex.to_uppercase()
        } else {
            hex
        };
        (format!("0x{hex}"), Effect::Aslr(Aslr::Seed(seed)))
    } else {
        (seed.to_string(), Effect::Aslr(Aslr::Seed(seed)))
    }
}

const LEVELS: [(&str, Level); 5] = [
    ("error", Level::Error),
    ("warn", Level::Warn),
    ("info", Level::Info),
    ("debug", Level::Debug),
    ("trace", Level::Trace),
];

/// One word of a line (never `--`) and what it should do.
fn word(rng: &mut XorShift) -> (String, Effect) {
    let level_names = LEVELS.map(|(name, _)| name);
    let crash_names = CrashKind::NAMES.map(|(name, _)| name);
    match rng.below(20) {
        0 | 1 => {
            let (name, level) = rng.pick(&LEVELS);
            (format!("loglevel={name}"), Effect::LogLevel(level))
        }
        2 => {
            let bad = bad_value(rng, &level_names);
            (format!("loglevel={bad}"), Effect::Warn)
        }
        3 => match rng.below(3) {
            0 => ("ktest".into(), Effect::Ktest(String::new())),
            _ => {
                let filter = text(rng, 0);
                (format!("ktest={filter}"), Effect::Ktest(filter))
            }
        },
        4 => match rng.below(3) {
            0 => (format!("bench={}", text(rng, 0)), Effect::Warn),
            _ => ("bench".into(), Effect::Bench),
        },
        5 => {
            let (name, kind) = rng.pick(&CrashKind::NAMES);
            (format!("crash={name}"), Effect::Crash(kind))
        }
        6 => match rng.below(2) {
            0 => ("crash".into(), Effect::Warn),
            _ => {
                let bad = bad_value(rng, &crash_names);
                (format!("crash={bad}"), Effect::Warn)
            }
        },
        7 => match rng.below(3) {
            0 => (format!("quick={}", text(rng, 0)), Effect::Warn),
            _ => ("quick".into(), Effect::Quick),
        },
        8 | 9 => match rng.below(4) {
            0 => ("aslr=off".into(), Effect::Aslr(Aslr::Off)),
            1 => {
                let bad = rng.pick(&[
                    "",
                    "0x",
                    "0xg",
                    "-1",
                    "on",
                    "OFF",
                    "0X10",
                    "18446744073709551616",
                    "0x10000000000000000",
                    "1.5",
                ]);
                let word = format!("aslr={bad}");
                let word = if rng.one_in(4) { "aslr".into() } else { word };
                (word, Effect::Warn)
            }
            _ => {
                let (seed, effect) = seed_text(rng);
                (format!("aslr={seed}"), effect)
            }
        },
        10 => match rng.below(3) {
            0 => ("leak=frame".into(), Effect::Leak(LeakKind::Frame)),
            1 => ("leak=slab".into(), Effect::Leak(LeakKind::Slab)),
            _ => {
                let bad = bad_value(rng, &["frame", "slab"]);
                let word = if rng.one_in(4) {
                    "leak".into()
                } else {
                    format!("leak={bad}")
                };
                (word, Effect::Warn)
            }
        },
        11 | 12 => match rng.below(4) {
            0 => ("init=none".into(), Effect::Init(None)),
            1 => (rng.pick(&["init", "init="]).into(), Effect::Warn),
            _ => {
                let path = loop {
                    let path = text(rng, 1);
                    if path != "none" {
                        break path;
                    }
                };
                (format!("init={path}"), Effect::Init(Some(path)))
            }
        },
        _ => {
            // Junk: an unknown key, alone or with a value, or `=` games.
            let junk = match rng.below(4) {
                0 => rng
                    .pick(&["=", "==", "=x", "x=", "-", "---", "-- x", "—"])
                    .split(' ')
                    .next()
                    .unwrap_or("=")
                    .to_string(),
                1 => format!("{}={}", rng.pick(&KEYS).to_uppercase(), text(rng, 0)),
                _ => text(rng, 1),
            };
            let key = junk.split_once('=').map_or(junk.as_str(), |(key, _)| key);
            if KEYS.contains(&key) || junk == "--" {
                return word(rng);
            }
            (junk, Effect::Warn)
        }
    }
}

/// ASCII whitespace, as the parser splits on.
fn gap(rng: &mut XorShift) -> String {
    (0..1 + rng.index(3))
        .map(|_| rng.pick(&[' ', ' ', '\t', '\n', '\r', '\x0c']))
        .collect()
}

const SEED: u64 = 0xc3d1_11e5;

#[test]
fn random_lines_give_the_last_good_value_and_warn_about_the_rest() {
    let mut rng = XorShift::new(SEED);
    let mut warned = 0;
    let mut argument_lines = 0;
    for round in 0..20_000 {
        let mut line = if rng.one_in(3) {
            gap(&mut rng)
        } else {
            String::new()
        };
        let mut expected = Expected::new();
        let mut expected_warnings = Vec::new();
        for _ in 0..rng.index(12) {
            let (word, effect) = word(&mut rng);
            expected.apply(&effect);
            if matches!(effect, Effect::Warn) {
                expected_warnings.push(word.clone());
            }
            line += &word;
            line += &gap(&mut rng);
        }
        if rng.one_in(3) {
            // What follows a lone `--` is the first program's, even known
            // options and more `--`s.
            line += "--";
            for _ in 0..rng.index(6) {
                line += &gap(&mut rng);
                let argument = match rng.below(3) {
                    0 => word(&mut rng).0,
                    1 => "--".into(),
                    _ => text(&mut rng, 1),
                };
                line += &argument;
                expected.init_arguments.push(argument);
            }
            if rng.one_in(2) {
                line += &gap(&mut rng);
            }
            argument_lines += 1;
        }
        let mut warnings = Vec::new();
        let options = parse(&line, |warning| warnings.push(warning.word.to_string()));
        let context = format!("seed {SEED:#x}, round {round}: {line:?}");
        assert_eq!(Expected::of(&options), expected, "{context}");
        assert_eq!(warnings, expected_warnings, "{context}");
        warned += warnings.len();
    }
    assert!(
        warned > 10_000 && argument_lines > 5_000,
        "{warned} {argument_lines}"
    );
}

/// The longest UTF-8 prefix of `bytes` up to the first NUL and at most
/// `Cmdline::CAPACITY` bytes.
fn kept_prefix(bytes: &[u8]) -> &str {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len())
        .min(Cmdline::CAPACITY);
    match std::str::from_utf8(&bytes[..end]) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap(),
    }
}

#[test]
fn raw_boot_bytes_keep_their_utf8_prefix_and_parse() {
    let mut rng = XorShift::new(SEED + 1);
    for round in 0..5_000 {
        // Mostly text with a few raw bytes in it; sometimes longer than
        // the buffer, sometimes with a NUL inside.
        let mut bytes: Vec<u8> = Vec::new();
        let longest = if rng.one_in(8) { 3000 } else { 40 };
        while bytes.len() < rng.index(longest) {
            match rng.below(8) {
                0 => bytes.push(rng.next() as u8 | 0x80),
                1 if rng.one_in(4) => bytes.push(0),
                _ => bytes.extend(word(&mut rng).0.bytes().chain(gap(&mut rng).bytes())),
            }
        }
        bytes.push(0);
        let mut cmdline = Cmdline::empty();
        // SAFETY: `bytes` is readable up to its NUL (there is one at the
        // end at least).
        unsafe { cmdline.fill_from(bytes.as_ptr()) };
        let context = format!("seed {:#x}, round {round}", SEED + 1);
        assert_eq!(cmdline.as_str(), kept_prefix(&bytes), "{context}");
        let mut warnings = 0;
        let options = parse(cmdline.as_str(), |_| warnings += 1);
        // Every word is either an option or a warning: none is lost.
        let (before, _) = split_init_args(cmdline.as_str());
        assert!(
            warnings <= before.split_ascii_whitespace().count(),
            "{context}"
        );
        assert!(
            options.init_args.len() <= cmdline.as_str().len(),
            "{context}"
        );
    }
}

#[test]
fn arguments_keep_their_non_ascii_whitespace() {
    // The regression the random lines found: the text after `--` was
    // trimmed of Unicode whitespace, though words split on ASCII
    // whitespace only, so an argument lost its leading NBSP or U+3000.
    let options = parse("init=bin/echo -- \u{a0}x y\u{3000} \t", |_| {});
    assert_eq!(
        init_arguments(&options).collect::<Vec<_>>(),
        ["\u{a0}x", "y\u{3000}"]
    );
    assert_eq!(options.init_args, "\u{a0}x y\u{3000}");
}
