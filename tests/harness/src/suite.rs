//! The test matrix of `harness test`: each `Case` is one QEMU boot with an
//! `Expect`ation, and `judge` says what a finished boot got wrong.  Pure
//! logic, tested on canned transcripts; `runner.rs` boots the cases.

use crate::args::TestOptions;
use crate::process::Ending;
use crate::qemu::QemuExit;
use crate::symbolize::{Symbolizer, parse_frame};
use crate::transcript::{contains, contains_word, cpus_online};

/// What a boot must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Runs the in-kernel tests: every `ktest: pass`/`FAIL` line is a test
    /// of its own, and `KtestLog::problems` judges the run.
    Ktest,
    /// Boots, brings `cpus` CPUs online if given, prints each of `words`,
    /// and powers off through ACPI.
    PowerOff {
        cpus: Option<u32>,
        words: &'static [&'static str],
    },
    /// Dies with status 37 after printing each of `needles` and a
    /// backtrace frame whose symbol contains `frame_symbol`.
    Fatal {
        needles: &'static [&'static str],
        frame_symbol: &'static str,
    },
}

/// Which initfs a boot gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initrd {
    /// The archive built from `user/` (or `--initrd`).
    Built,
    /// Bytes that start like a newc archive and then go wrong: the kernel
    /// must report it and boot on.
    Garbage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The test's name; for `Ktest`, the prefix of its tests' names.
    pub name: String,
    pub smp: u32,
    pub mem: &'static str,
    pub append: &'static str,
    /// QEMU's machine type and CPU model (`q35` and `max` unless a case
    /// exercises another platform path).
    pub machine: &'static str,
    pub cpu: &'static str,
    pub initrd: Initrd,
    /// Bytes typed at the console, a line per `prompt` the guest prints
    /// (all at once when `prompt` is empty).
    pub input: &'static [u8],
    pub prompt: &'static [u8],
    pub expect: Expect,
    /// The kernel leaks on purpose (`leak=` in `append`): the leak checks
    /// must report it, and the case fails if they do not.
    pub injects_leak: bool,
}

/// The stress case's command line: 20 s, 4 processes x 4 threads, a fixed
/// seed (the interleaving still varies from run to run).
pub const STRESS_APPEND: &str = "init=bin/stress -- 20 4 4 0x5eed";

/// The cases `options` select, in the order they run.
pub fn matrix(options: &TestOptions) -> Vec<Case> {
    let case = |name: &str, smp, mem, append, expect| Case {
        name: name.to_string(),
        smp,
        mem,
        append,
        machine: "q35",
        cpu: "max",
        initrd: Initrd::Built,
        input: b"",
        prompt: b"",
        expect,
        injects_leak: false,
    };
    let mut cases: Vec<Case> = options
        .smp_list
        .iter()
        .map(|&n| case(&format!("smp{n}"), n, "512M", "ktest", Expect::Ktest))
        .collect();
    if !options.quick {
        let power_off = |cpus| Expect::PowerOff {
            cpus: Some(cpus),
            words: &[],
        };
        // `quick`: init keeps its demos short (300 threads, not 10,000).
        cases.push(case("boot/smp8-4G", 8, "4G", "quick", power_off(8)));
        cases.push(case("boot/smp1-128M", 1, "128M", "quick", power_off(1)));
        // The in-kernel tests again on other platform paths.  Without an
        // HPET the kernel calibrates against the PIT (the timer tests check
        // the result); on the i440FX machine with the baseline CPU there is
        // no SMEP, SMAP, UMIP or 1 GiB pages, and the CPU tests check that
        // the kernel left them off.
        cases.push(Case {
            machine: "q35,hpet=off",
            ..case("pit", 2, "256M", "ktest", Expect::Ktest)
        });
        cases.push(Case {
            machine: "pc",
            cpu: "qemu64",
            ..case("pc-qemu64", 2, "256M", "ktest", Expect::Ktest)
        });
        cases.push(Case {
            initrd: Initrd::Garbage,
            ..case(
                "boot/bad-initfs",
                2,
                "256M",
                "",
                Expect::PowerOff {
                    cpus: Some(2),
                    words: &["malformed"],
                },
            )
        });
        cases.push(case(
            "boot/bad-cmdline",
            2,
            "256M",
            "bogus=1 loglevel=loud ktest-nonsense quick",
            Expect::PowerOff {
                cpus: None,
                words: &["ignoring"],
            },
        ));
        // The SMP stress (issue 7), bounded to about half a minute of TCG
        // time: 4 processes of 4 threads doing ring I/O, faults, shootdowns,
        // forks and spawns, every byte checked, and the kernel's frames,
        // slab objects, tasks and threads back to baseline after it.  The
        // watchdog's reports fail any boot (`transcript::watchdog_problems`).
        cases.push(case(
            "stress/smp4",
            4,
            "512M",
            STRESS_APPEND,
            Expect::PowerOff {
                cpus: Some(4),
                words: &["stress: PASS", "init: bin/stress ended: Exited(0)"],
            },
        ));
    }
    // Processes that run a small guest out of memory, through demand-zero
    // and copy-on-write faults, are killed; the kernel lives.
    cases.push(case(
        "oom/128M",
        2,
        "128M",
        "init=bin/oom",
        Expect::PowerOff {
            cpus: Some(2),
            words: &["init: bin/oom ended: Exited(0)"],
        },
    ));
    // A fork of a space with 600 MiB touched (a list of every page in one
    // heap block panicked the kernel past 512 MiB).
    cases.push(case(
        "fork/600M",
        2,
        "1G",
        "init=bin/cow -- big 600",
        Expect::PowerOff {
            cpus: Some(2),
            words: &["init: bin/cow ended: Exited(0)"],
        },
    ));
    // One MUNMAP of 2,200 MiB touched (its list of frames to free was one
    // heap block, which past 2 GiB no block could hold: a panic).
    cases.push(case(
        "munmap/2200M",
        2,
        "3G",
        "init=bin/cow -- unmap 2200",
        Expect::PowerOff {
            cpus: Some(2),
            words: &["init: bin/cow ended: Exited(0)"],
        },
    ));
    // The leak checks' own test: a kernel that leaks a frame, or a slab
    // object, inside every check must be caught by them.
    for (name, append) in [
        ("memcheck/leak-frame", "ktest=hello_writes leak=frame"),
        ("memcheck/leak-slab", "ktest=hello_writes leak=slab"),
    ] {
        cases.push(Case {
            injects_leak: true,
            ..case(name, 2, "256M", append, Expect::Ktest)
        });
    }
    // The shell, driven through the console as a person would: typed lines
    // (echoed by the kernel's line discipline), pipelines, a redirect, a
    // builtin, a bad command, and `exit 3`, whose status the kernel logs
    // as init's.  The words checked are outputs the typed lines do not
    // contain.
    cases.push(Case {
        prompt: b"$ ",
        input: b"echo one two three | wc\n\
                 cat < etc/motd | cat | wc\n\
                 echo a\\ \\ b | cat\n\
                 mem\n\
                 nosuchprogram arg\n\
                 cat | | wc\n\
                 spawn 1\n\
                 exit 3\n",
        ..case(
            "shell/console",
            2,
            "256M",
            "init=bin/sh",
            Expect::PowerOff {
                cpus: None,
                words: &[
                    "type `help`",
                    "1 3 14",
                    "3 28 173",
                    "a  b",
                    "kernel heap:",
                    "nosuchprogram: not found",
                    "a `|` with no command beside it",
                    "is 5, expected 5",
                    "bin/sh ended: Exited(3)",
                ],
            },
        )
    });
    // Crash reports of killed processes: the kill's reason and a user
    // backtrace whose frames are named from the program's symbol table.
    for smp in [1, 4] {
        cases.push(case(
            if smp == 1 {
                "crash-report/protnone-smp1"
            } else {
                "crash-report/protnone-smp4"
            },
            smp,
            "256M",
            "init=bin/protnone",
            Expect::PowerOff {
                cpus: None,
                words: &[
                    "crash: process 1 (protnone) killed: page fault (signal 11)",
                    "crash: user backtrace:",
                    "protnone::read_the_forbidden_page",
                    "bin/protnone ended: Killed",
                ],
            },
        ));
        cases.push(case(
            if smp == 1 {
                "crash-report/stackguard-smp1"
            } else {
                "crash-report/stackguard-smp4"
            },
            smp,
            "256M",
            "init=bin/stackguard",
            Expect::PowerOff {
                cpus: None,
                words: &[
                    "crash: process 1 (stackguard) killed: bad stack (signal 11)",
                    "stackguard::leave_the_stack",
                    "stackguard::runaway_thread",
                    "bin/stackguard ended: BadStack",
                ],
            },
        ));
    }
    cases.push(case(
        "crash/page-fault",
        1,
        "256M",
        "crash=page-fault",
        Expect::Fatal {
            // The kernel's trigger reads virtual address 0x1000_0000.
            needles: &["EXCEPTION", "#PF", "CR2=0x0000000010000000", "RIP="],
            frame_symbol: "crash",
        },
    ));
    cases.push(case(
        "crash/panic",
        1,
        "256M",
        "crash=panic",
        Expect::Fatal {
            needles: &["PANIC"],
            frame_symbol: "crash",
        },
    ));
    cases
}

/// What is wrong with a finished `PowerOff` or `Fatal` boot; empty if
/// nothing.  `Ktest` runs are judged by `KtestLog::problems` instead.
pub fn judge(
    expect: &Expect,
    ending: Ending,
    lines: &[String],
    symbols: &Symbolizer,
) -> Vec<String> {
    let mut problems = Vec::new();
    let wanted_exit = match expect {
        Expect::Ktest => return problems,
        Expect::PowerOff { .. } => QemuExit::PoweredOff,
        Expect::Fatal { .. } => QemuExit::KernelFatal,
    };
    match ending {
        Ending::TimedOut(after) => {
            problems.push(format!("timed out after {} s", after.as_secs_f64()))
        }
        Ending::Exited(exit) if exit != wanted_exit => {
            problems.push(format!("{exit}; expected: {wanted_exit}"))
        }
        Ending::Exited(_) => {}
    }
    match *expect {
        Expect::Ktest => {}
        Expect::PowerOff { cpus, words } => {
            if let Some(cpus) = cpus {
                match cpus_online(lines) {
                    Some((online, total)) if online == cpus && total == cpus => {}
                    Some((online, total)) => problems.push(format!(
                        "smp: {online}/{total} CPUs online, expected {cpus}/{cpus}"
                    )),
                    None => problems.push(format!("no `smp: {cpus}/{cpus} CPUs online` line")),
                }
            }
            for word in words {
                if !contains_word(lines, word) {
                    problems.push(format!("the word `{word}` is missing"));
                }
            }
        }
        Expect::Fatal {
            needles,
            frame_symbol,
        } => {
            for needle in needles {
                if !contains(lines, needle) {
                    problems.push(format!("`{needle}` is missing"));
                }
            }
            let frames: Vec<&String> = lines
                .iter()
                .filter(|line| parse_frame(line).is_some())
                .collect();
            let named = |line: &&String| {
                symbols
                    .frame_symbol(line)
                    .is_some_and(|(s, _)| s.name.contains(frame_symbol))
            };
            if frames.is_empty() {
                problems.push("no backtrace frames".into());
            } else if !frames.iter().any(named) {
                problems.push(format!(
                    "none of the {} backtrace frames is in a function named like `{frame_symbol}`",
                    frames.len()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
#[path = "suite_tests.rs"]
mod tests;
