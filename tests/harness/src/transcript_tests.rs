//! Tests for `transcript`: protocol lines with and without log prefixes,
//! and every way a ktest run can be judged broken, on canned transcripts.

use std::time::Duration;

use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn log_of(text: &str) -> KtestLog {
    let mut log = KtestLog::default();
    for line in text.lines() {
        if let Some(event) = parse_ktest(line) {
            log.record(&event);
        }
    }
    log
}

const PASSED: Ending = Ending::Exited(QemuExit::TestsPassed);
const FAILED: Ending = Ending::Exited(QemuExit::TestsFailed);

#[test]
fn parses_each_verb() {
    assert_eq!(
        parse_ktest("ktest: start 12"),
        Some(KtestEvent::Start { count: 12 })
    );
    assert_eq!(
        parse_ktest("ktest: pass mm::frame::alloc"),
        Some(KtestEvent::Pass {
            name: "mm::frame::alloc"
        })
    );
    assert_eq!(
        parse_ktest("ktest: FAIL ring::sq: expected 3, got 4: off by one"),
        Some(KtestEvent::Fail {
            name: "ring::sq",
            message: "expected 3, got 4: off by one"
        })
    );
    assert_eq!(
        parse_ktest("ktest: FAIL ring::cq"),
        Some(KtestEvent::Fail {
            name: "ring::cq",
            message: ""
        })
    );
    assert_eq!(
        parse_ktest("ktest: FAIL ring::cq:"),
        Some(KtestEvent::Fail {
            name: "ring::cq",
            message: ""
        })
    );
    assert_eq!(
        parse_ktest("ktest: done 10 passed, 2 failed"),
        Some(KtestEvent::Done {
            passed: 10,
            failed: 2
        })
    );
}

#[test]
fn tolerates_log_prefixes_and_line_noise() {
    assert_eq!(
        parse_ktest("[    0.123456] I cpu0 ktest: pass sched::yield"),
        Some(KtestEvent::Pass {
            name: "sched::yield"
        })
    );
    assert_eq!(
        parse_ktest("ktest: done 3 passed, 0 failed  "),
        Some(KtestEvent::Done {
            passed: 3,
            failed: 0
        })
    );
    assert_eq!(
        parse_ktest("[ 1.0] W cpu3 ktest: start 4"),
        Some(KtestEvent::Start { count: 4 })
    );
}

#[test]
fn other_lines_are_not_events() {
    for line in [
        "",
        "cmdline: ktest",
        "ktest:pass x",
        "smp: 4/4 CPUs online",
        "ktest: running mm",
    ] {
        assert_eq!(parse_ktest(line), None, "{line:?}");
    }
}

#[test]
fn broken_protocol_lines_are_malformed() {
    for line in [
        "ktest: start many",
        "ktest: pass",
        "ktest: FAIL",
        "ktest: FAIL : no name",
        "ktest: done",
        "ktest: done 3 passed",
        "ktest: done 3 passed; 0 failed",
        "ktest: done x passed, 0 failed",
    ] {
        assert_eq!(
            parse_ktest(line),
            Some(KtestEvent::Malformed { line }),
            "{line:?}"
        );
    }
}

#[test]
fn clean_run_has_no_problems() {
    let log = log_of(
        "boot\nktest: start 2\nktest: pass a\n[ 0.5] I cpu1 ktest: pass b\nktest: done 2 passed, 0 failed\n",
    );
    assert_eq!((log.passed, log.failed, log.summary), (2, 0, Some((2, 0))));
    assert_eq!(log.problems(PASSED), Vec::<String>::new());
}

#[test]
fn failing_tests_need_status_35() {
    let log = log_of("ktest: pass a\nktest: FAIL b: boom\nktest: done 1 passed, 1 failed\n");
    assert_eq!(log.problems(FAILED), Vec::<String>::new());
    let problems = log.problems(PASSED);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("status 33") && problems[0].contains("status 35"),
        "{problems:?}"
    );
}

#[test]
fn all_passing_needs_status_33() {
    let log = log_of("ktest: pass a\nktest: done 1 passed, 0 failed\n");
    let problems = log.problems(FAILED);
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[test]
fn inconsistent_summary() {
    let log = log_of("ktest: pass a\nktest: pass b\nktest: done 3 passed, 0 failed\n");
    let problems = log.problems(PASSED);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("3 passed, 0 failed") && problems[0].contains("2 passed, 0 failed")
    );
    // A failure the summary forgot.
    let log = log_of("ktest: pass a\nktest: FAIL b: x\nktest: done 1 passed, 0 failed\n");
    assert!(!log.problems(PASSED).is_empty());
}

#[test]
fn missing_summary_after_a_crash() {
    let log = log_of("ktest: start 3\nktest: pass a\nPANIC at kernel/src/mm.rs:1\n");
    let problems = log
        .problems(Ending::Exited(QemuExit::KernelFatal))
        .join("; ");
    assert!(problems.contains("no `ktest: done`"), "{problems}");
    assert!(problems.contains("panicked"), "{problems}");
    assert!(problems.contains("start 3"), "{problems}");
}

#[test]
fn zero_tests_is_a_failure_even_with_a_tidy_summary() {
    let log = log_of("ktest: start 0\nktest: done 0 passed, 0 failed\n");
    assert_eq!(log.problems(PASSED), ["no tests ran"]);
    let log = log_of("booted, nothing else\n");
    assert!(
        log.problems(Ending::Exited(QemuExit::PoweredOff))
            .iter()
            .any(|p| p == "no tests ran")
    );
}

#[test]
fn timeout_is_a_problem() {
    let log = log_of("ktest: pass a\n");
    let problems = log.problems(Ending::TimedOut(Duration::from_secs(300)));
    assert!(
        problems[0].contains("timed out after 300 s"),
        "{problems:?}"
    );
}

#[test]
fn malformed_lines_are_problems() {
    let log = log_of("ktest: pass a\nktest: done lots\nktest: done 1 passed, 0 failed\n");
    let problems = log.problems(PASSED);
    assert_eq!(problems, ["malformed protocol line `ktest: done lots`"]);
}

#[test]
fn cpus_online_reads_the_last_report() {
    let transcript = lines(
        "[ 0.1] I cpu0 smp: 1/8 CPUs online\n[ 0.9] I cpu0 smp: 8/8 CPUs online (took 3 ms)\n",
    );
    assert_eq!(cpus_online(&transcript), Some((8, 8)));
    assert_eq!(cpus_online(&lines("smp: 3/4 CPUs online")), Some((3, 4)));
    assert_eq!(
        cpus_online(&lines("smp: starting 4 CPUs\nsmp: x/4 CPUs online")),
        None
    );
}

#[test]
fn word_matching() {
    let transcript = lines("cmdline: ignoring unknown option `bogus`\n");
    assert!(contains_word(&transcript, "ignoring"));
    assert!(contains_word(&lines("(ignoring)"), "ignoring"));
    assert!(!contains_word(&lines("not_ignoring_this"), "ignoring"));
    assert!(!contains_word(&lines("ignoringly"), "ignoring"));
    assert!(!contains_word(&lines("unignoring it"), "ignoring"));
    assert!(
        contains_word(&lines("Ignoring `x`"), "ignoring"),
        "case does not matter"
    );
    assert!(contains(&transcript, "unknown option"));
}

#[test]
fn tail_takes_the_last_lines() {
    let transcript = lines("1\n2\n3\n");
    assert_eq!(tail(&transcript, 2), ["2", "3"]);
    assert_eq!(tail(&transcript, 40), ["1", "2", "3"]);
}

#[test]
fn watchdog_reports_are_problems_and_its_test_stall_is_not() {
    let transcript = lines(
        "[ 1.0 cpu0] watchdog: a CPU that makes no progress for 10 s is reported\n\
         watchdog (the stall its test makes): cpu3 made no progress for 200 ms\n\
         watchdog: cpu3 was interrupted in kernel mode, interrupts off:\n\
         WATCHDOG: cpu2 made no progress for 10000 ms (not idle; threshold 10000 ms)\n\
         watchdog: cpu2 is making progress again",
    );
    let problems = watchdog_problems(&transcript);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("cpu2 made no progress"),
        "{problems:?}"
    );
    assert!(watchdog_problems(&transcript[..3]).is_empty());
}
