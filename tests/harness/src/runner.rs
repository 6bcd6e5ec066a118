//! `harness test`: builds the image, boots every `suite::Case` under its
//! own timeout, prints one `PASS <name>` / `FAIL <name>: <reason>` line per
//! result (with the last 40 symbolized transcript lines under a failed
//! boot), and ends with the one line `N passed, N failed`.  The whole
//! symbolized transcript of every case with a failure is kept in
//! `<target>/release/harness-logs/<case>.log` (emptied at each run), and
//! its path printed: a check that failed early in a long boot is there
//! even when the tail is not enough.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::args::TestOptions;
use crate::image;
use crate::lines::Lines;
use crate::memcheck;
use crate::process::{self, Io};
use crate::qemu::QemuConfig;
use crate::suite::{self, Case, Expect, Initrd};
use crate::symbolize::Symbolizer;
use crate::transcript::{self, KtestEvent, KtestLog};

/// How many transcript lines a failure shows.
const TAIL_LINES: usize = 40;

/// The running count, printed as the final line.
#[derive(Debug, Default)]
struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn pass(&mut self, name: &str) {
        self.passed += 1;
        say(&format!("PASS {name}"));
    }

    fn fail(&mut self, name: &str, reason: &str) {
        self.failed += 1;
        let reason = if reason.is_empty() {
            "failed (no message)"
        } else {
            reason
        };
        say(&format!("FAIL {name}: {reason}"));
    }
}

/// Prints a line and flushes, so results appear while later boots run.
fn say(line: &str) {
    println!("{line}");
    let _ = io::stdout().flush();
}

/// What every boot of one `harness test` shares.
struct Setup {
    qemu: PathBuf,
    kernel: PathBuf,
    /// The initfs every boot gets (`--initrd`, or the one built).
    initrd: PathBuf,
    timeout: Option<Duration>,
    symbols: Symbolizer,
    /// Where failed cases' transcripts go.
    logs: PathBuf,
}

pub fn test(options: &TestOptions) -> ExitCode {
    let mut tally = Tally::default();
    match prepare(options) {
        Ok(setup) => {
            // Only this run's failures: an old log must not pass for one.
            let _ = std::fs::remove_dir_all(&setup.logs);
            for case in suite::matrix(options) {
                run_case(&case, &setup, &mut tally);
            }
        }
        // Still a result line and a summary, so a broken setup reads as a
        // failure, never as a run that tested nothing.
        Err(reason) => tally.fail("setup", &reason),
    }
    say(&format!("{} passed, {} failed", tally.passed, tally.failed));
    if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn prepare(options: &TestOptions) -> Result<Setup, String> {
    let (qemu, paths) = image::ready(options.no_build)?;
    let logs = paths.kernel.with_file_name("harness-logs");
    Ok(Setup {
        qemu,
        logs,
        symbols: image::load_symbols(&paths),
        kernel: paths.kernel,
        initrd: options
            .initrd
            .clone()
            .unwrap_or_else(|| paths.initfs.clone()),
        timeout: (options.timeout_secs > 0).then(|| Duration::from_secs(options.timeout_secs)),
    })
}

fn run_case(case: &Case, setup: &Setup, tally: &mut Tally) {
    let failed_before = tally.failed;
    let Some((transcript, stderr)) = boot_case(case, setup, tally) else {
        return;
    };
    if tally.failed > failed_before {
        match save_transcript(
            &setup.logs,
            &case.name,
            &transcript,
            &stderr,
            &setup.symbols,
        ) {
            Ok(path) => say(&format!("    transcript: {}", path.display())),
            Err(e) => say(&format!("    (could not keep the transcript: {e})")),
        }
    }
}

/// Boots `case` and judges it, counting its results in `tally`; its
/// transcript and QEMU's stderr, unless it could not boot at all.
fn boot_case(case: &Case, setup: &Setup, tally: &mut Tally) -> Option<(Vec<String>, String)> {
    let mut config = QemuConfig::new(&setup.kernel, case.smp, case.mem, case.append);
    config.machine = case.machine.to_string();
    config.cpu = case.cpu.to_string();
    config.initrd = Some(match case.initrd {
        Initrd::Built => setup.initrd.clone(),
        Initrd::Garbage => match garbage_initrd(&setup.initrd) {
            Ok(path) => path,
            Err(e) => {
                tally.fail(
                    &case.name,
                    &format!("could not write a garbage initrd: {e}"),
                );
                return None;
            }
        },
    });

    let mut transcript = Vec::new();
    let mut log = KtestLog::default();
    let mut on_line = |line: &str| {
        let event = (case.expect == Expect::Ktest)
            .then(|| transcript::parse_ktest(line))
            .flatten();
        if let Some(event) = event {
            log.record(&event);
            match event {
                KtestEvent::Pass { name } => tally.pass(&format!("{}/{name}", case.name)),
                KtestEvent::Fail { name, message } => {
                    tally.fail(&format!("{}/{name}", case.name), message)
                }
                _ => {}
            }
        }
        transcript.push(line.to_string());
    };
    let mut lines = Lines::default();
    let finished = process::run(
        config.command(&setup.qemu),
        Io::Batch {
            input: case.input,
            prompt: case.prompt,
        },
        setup.timeout,
        &mut |chunk| lines.feed(chunk, &mut on_line),
    );
    lines.finish(&mut on_line);

    let (problems, stderr) = match finished {
        Err(e) => (
            vec![format!("could not start {}: {e}", setup.qemu.display())],
            String::new(),
        ),
        Ok(finished) => {
            let mut problems = match case.expect {
                Expect::Ktest => log.problems(finished.ending),
                _ => suite::judge(&case.expect, finished.ending, &transcript, &setup.symbols),
            };
            problems.extend(memcheck::judge(case.injects_leak, &transcript));
            problems.extend(transcript::watchdog_problems(&transcript));
            (problems, finished.stderr)
        }
    };
    if problems.is_empty() {
        // A ktest run that went well adds no result of its own, unless
        // what it checks is the run as a whole.
        if case.expect != Expect::Ktest || case.injects_leak {
            tally.pass(&case.name);
        }
    } else {
        tally.fail(&result_name(case), &problems.join("; "));
        show_tail(&transcript, &stderr, &setup.symbols);
    }
    Some((transcript, stderr))
}

/// Writes a case's whole transcript, symbolized, and QEMU's stderr to
/// `<logs>/<case name, '/' as '_'>.log`; returns the path.
fn save_transcript(
    logs: &std::path::Path,
    name: &str,
    transcript: &[String],
    stderr: &str,
    symbols: &Symbolizer,
) -> io::Result<PathBuf> {
    std::fs::create_dir_all(logs)?;
    let path = logs.join(format!("{}.log", name.replace('/', "_")));
    let mut text = String::new();
    for line in transcript {
        text.push_str(&symbols.annotate(line));
        text.push('\n');
    }
    for line in stderr.lines() {
        text.push_str("qemu stderr | ");
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The run-level result of a ktest boot is `<name>/run`.
fn result_name(case: &Case) -> String {
    match case.expect {
        Expect::Ktest => format!("{}/run", case.name),
        _ => case.name.clone(),
    }
}

/// The end of a failed boot's transcript, symbolized, indented under its
/// result line so no transcript line can pass for the summary.
fn show_tail(transcript: &[String], stderr: &str, symbols: &Symbolizer) {
    let shown = transcript::tail(transcript, TAIL_LINES);
    if shown.is_empty() {
        println!("    | (no serial output)");
    } else if shown.len() < transcript.len() {
        println!(
            "    | ... last {} of {} lines:",
            shown.len(),
            transcript.len()
        );
    }
    for line in shown {
        println!("    | {}", symbols.annotate(line));
    }
    for line in stderr.lines() {
        println!("    qemu stderr | {line}");
    }
    let _ = io::stdout().flush();
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;

/// Writes a deterministic garbage archive next to `initfs`: a newc magic,
/// then bytes that are not hex, then noise.
fn garbage_initrd(initfs: &std::path::Path) -> std::io::Result<PathBuf> {
    let path = initfs.with_extension("garbage.cpio");
    let mut bytes = b"070701zz".to_vec();
    let mut state = 0x2545_f491_u32;
    bytes.extend((0..4096).map(|_| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as u8
    }));
    std::fs::write(&path, bytes)?;
    Ok(path)
}
