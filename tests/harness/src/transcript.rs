//! The kernel's serial protocol.  `parse_ktest` reads one `ktest: ...`
//! line into a `KtestEvent`; `KtestLog` accumulates a run's events and
//! `KtestLog::problems` says what is wrong with the run as a whole.  Also
//! the boot facts the suite checks: `cpus_online` and `contains_word`.
//! Lines may carry a log prefix, so markers are found by substring.

use crate::process::Ending;
use crate::qemu::QemuExit;

const KTEST: &str = "ktest: ";

/// One line of the in-kernel test protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KtestEvent<'a> {
    /// `ktest: start <N>`
    Start { count: u32 },
    /// `ktest: pass <name>`
    Pass { name: &'a str },
    /// `ktest: FAIL <name>: <message>`
    Fail { name: &'a str, message: &'a str },
    /// `ktest: done <P> passed, <F> failed`
    Done { passed: u32, failed: u32 },
    /// A known verb whose arguments do not parse: a protocol error.
    Malformed { line: &'a str },
}

/// Reads the ktest event on `line`, if it has one.  Lines with other verbs
/// after `ktest: ` are not protocol lines and give `None`.
pub fn parse_ktest(line: &str) -> Option<KtestEvent<'_>> {
    let at = line.find(KTEST)?;
    let body = line[at + KTEST.len()..].trim_end();
    let (verb, rest) = body.split_once(' ').unwrap_or((body, ""));
    let rest = rest.trim();
    let malformed = KtestEvent::Malformed { line };
    let event = match verb {
        "start" => rest
            .parse()
            .map_or(malformed, |count| KtestEvent::Start { count }),
        "pass" if !rest.is_empty() => KtestEvent::Pass { name: rest },
        "FAIL" => {
            let (name, message) = rest
                .split_once(": ")
                .unwrap_or((rest.trim_end_matches(':'), ""));
            if name.is_empty() {
                malformed
            } else {
                KtestEvent::Fail { name, message }
            }
        }
        "done" => parse_done(rest).map_or(malformed, |(passed, failed)| KtestEvent::Done {
            passed,
            failed,
        }),
        "pass" => malformed,
        _ => return None,
    };
    Some(event)
}

/// `<P> passed, <F> failed`
fn parse_done(rest: &str) -> Option<(u32, u32)> {
    let (passed, failed) = rest.split_once(", ")?;
    let passed = passed.strip_suffix(" passed")?.parse().ok()?;
    let failed = failed.strip_suffix(" failed")?.parse().ok()?;
    Some((passed, failed))
}

/// Everything a ktest run reported.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KtestLog {
    pub announced: Option<u32>,
    pub passed: u32,
    pub failed: u32,
    /// The last `done` line's counts.
    pub summary: Option<(u32, u32)>,
    pub malformed: Vec<String>,
}

impl KtestLog {
    pub fn record(&mut self, event: &KtestEvent<'_>) {
        match *event {
            KtestEvent::Start { count } => self.announced = Some(count),
            KtestEvent::Pass { .. } => self.passed += 1,
            KtestEvent::Fail { .. } => self.failed += 1,
            KtestEvent::Done { passed, failed } => self.summary = Some((passed, failed)),
            KtestEvent::Malformed { line } => self.malformed.push(line.to_string()),
        }
    }

    /// What is wrong with the run as a whole; empty if nothing.  Failures
    /// of single tests are not problems of the run as long as the kernel
    /// counted them and exited with 35.
    pub fn problems(&self, ending: Ending) -> Vec<String> {
        let mut problems = Vec::new();
        let counted = (self.passed, self.failed);
        match ending {
            Ending::TimedOut(after) => {
                problems.push(format!("timed out after {} s", after.as_secs_f64()))
            }
            Ending::Exited(exit) => {
                let expected = if self.summary.unwrap_or(counted).1 == 0 {
                    QemuExit::TestsPassed
                } else {
                    QemuExit::TestsFailed
                };
                if exit != expected {
                    problems.push(format!("{exit}; expected: {expected}"));
                }
            }
        }
        match self.summary {
            None => problems.push("no `ktest: done` summary line".into()),
            Some(summary) if summary != counted => problems.push(format!(
                "summary says {} passed, {} failed, but the transcript has {} passed, {} failed",
                summary.0, summary.1, counted.0, counted.1
            )),
            Some(_) => {}
        }
        if let Some(announced) = self.announced.filter(|&n| n != counted.0 + counted.1) {
            problems.push(format!(
                "`ktest: start {announced}` but {} tests reported",
                counted.0 + counted.1
            ));
        }
        if counted == (0, 0) {
            problems.push("no tests ran".into());
        }
        for line in &self.malformed {
            problems.push(format!("malformed protocol line `{line}`"));
        }
        problems
    }
}

/// The last `smp: <online>/<total> CPUs online` report, as (online, total).
pub fn cpus_online(lines: &[String]) -> Option<(u32, u32)> {
    lines.iter().rev().find_map(|line| {
        let at = line.find("smp: ")?;
        let rest = &line[at + "smp: ".len()..];
        let (counts, tail) = rest.split_once(' ')?;
        if !tail.starts_with("CPUs online") {
            return None;
        }
        let (online, total) = counts.split_once('/')?;
        Some((online.parse().ok()?, total.parse().ok()?))
    })
}

/// True if `word` occurs in some line, ignoring ASCII case, with no
/// letter, digit or `_` glued to either side.
pub fn contains_word(lines: &[String], word: &str) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let word = word.to_ascii_lowercase();
    lines.iter().any(|line| {
        let line = line.to_ascii_lowercase();
        line.match_indices(&word).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let after = line[at + word.len()..].chars().next();
            !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
        })
    })
}

/// What the kernel's watchdog reported: each `WATCHDOG:` line (a CPU
/// that made no progress) as a problem of the boot, whatever the case
/// expects.  The stall the watchdog's own test makes is worded otherwise.
pub fn watchdog_problems(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| {
            let at = line.find(WATCHDOG)?;
            Some(format!(
                "the watchdog reported a stuck CPU: {}",
                &line[at..]
            ))
        })
        .collect()
}

const WATCHDOG: &str = "WATCHDOG: ";

/// True if some line contains `needle`.
pub fn contains(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|line| line.contains(needle))
}

/// The last `count` lines.
pub fn tail(lines: &[String], count: usize) -> &[String] {
    &lines[lines.len().saturating_sub(count)..]
}

#[cfg(test)]
#[path = "transcript_tests.rs"]
mod tests;
