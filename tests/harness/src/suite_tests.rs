//! Tests for `suite`: the matrix's shape, and `judge` on canned boot and
//! crash transcripts, good ones and ones missing each required piece.

use std::time::Duration;

use super::*;
use crate::symbolize::Symbol;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn symbols() -> Symbolizer {
    Symbolizer::from_symbols([
        Symbol {
            start: 0xffff_ffff_8000_2000,
            size: 0x80,
            name: "_ZN6kernel5crash10page_fault17h0123456789abcdefE".into(),
        },
        Symbol {
            start: 0xffff_ffff_8000_1000,
            size: 0x100,
            name: "_ZN6kernel5kmain17h0123456789abcdefE".into(),
        },
    ])
}

fn case<'a>(cases: &'a [Case], name: &str) -> &'a Case {
    cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

const PAGE_FAULT: &str = "\
[    0.200000] I cpu0 cmdline: crash=page-fault
EXCEPTION #PF (page fault) on cpu0, error code 0x0
  CR2=0x0000000010000000 RIP=0xffffffff80002010 RSP=0xffff800000100000
backtrace:
  #0 0xffffffff80002010
  #1 0xffffffff80001040
";

#[test]
fn full_matrix() {
    let cases = matrix(&TestOptions::default());
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "smp1",
            "smp4",
            "boot/smp8-4G",
            "boot/smp1-128M",
            "pit",
            "pc-qemu64",
            "boot/bad-initfs",
            "boot/bad-cmdline",
            "stress/smp4",
            "oom/128M",
            "fork/600M",
            "munmap/2200M",
            "memcheck/leak-frame",
            "memcheck/leak-slab",
            "shell/console",
            "crash-report/protnone-smp1",
            "crash-report/stackguard-smp1",
            "crash-report/protnone-smp4",
            "crash-report/stackguard-smp4",
            "crash/page-fault",
            "crash/panic"
        ]
    );
    let stress = case(&cases, "stress/smp4");
    assert_eq!(
        (stress.smp, stress.append),
        (4, "init=bin/stress -- 20 4 4 0x5eed")
    );
    assert!(matches!(
        stress.expect,
        Expect::PowerOff { cpus: Some(4), words } if words.contains(&"stress: PASS")
    ));
    let shell = case(&cases, "shell/console");
    assert_eq!(shell.append, "init=bin/sh");
    assert!(shell.input.ends_with(b"exit 3\n"));
    assert!(
        cases
            .iter()
            .all(|c| c.name == "shell/console" || c.input.is_empty())
    );
    let smp4 = case(&cases, "smp4");
    assert_eq!(
        (smp4.smp, smp4.mem, smp4.append, &smp4.expect),
        (4, "512M", "ktest", &Expect::Ktest)
    );
    let big = case(&cases, "boot/smp8-4G");
    assert_eq!((big.smp, big.mem, big.append), (8, "4G", "quick"));
    let oom = case(&cases, "oom/128M");
    assert_eq!((oom.mem, oom.append), ("128M", "init=bin/oom"));
    let small = case(&cases, "boot/smp1-128M");
    assert_eq!((small.smp, small.mem), (1, "128M"));
    let pit = case(&cases, "pit");
    assert_eq!(
        (pit.machine, pit.cpu, &pit.expect),
        ("q35,hpet=off", "max", &Expect::Ktest)
    );
    let baseline = case(&cases, "pc-qemu64");
    assert_eq!((baseline.machine, baseline.cpu), ("pc", "qemu64"));
    assert_eq!((small.machine, small.cpu), ("q35", "max"));
    assert_eq!(case(&cases, "boot/bad-initfs").initrd, Initrd::Garbage);
    assert_eq!(small.initrd, Initrd::Built);
    let bad = case(&cases, "boot/bad-cmdline");
    assert_eq!(
        (bad.smp, bad.mem, bad.append),
        (2, "256M", "bogus=1 loglevel=loud ktest-nonsense quick")
    );
    assert_eq!(case(&cases, "crash/page-fault").append, "crash=page-fault");
    assert_eq!(case(&cases, "crash/panic").append, "crash=panic");
    let leak = case(&cases, "memcheck/leak-slab");
    assert!(leak.injects_leak && leak.append.contains("leak=slab"));
    assert!(
        cases
            .iter()
            .filter(|c| c.injects_leak)
            .all(|c| c.name.starts_with("memcheck/"))
    );
}

#[test]
fn quick_matrix_skips_boot_cases() {
    let options = TestOptions {
        quick: true,
        smp_list: vec![2],
        ..TestOptions::default()
    };
    let names: Vec<String> = matrix(&options).into_iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "smp2",
            "oom/128M",
            "fork/600M",
            "munmap/2200M",
            "memcheck/leak-frame",
            "memcheck/leak-slab",
            "shell/console",
            "crash-report/protnone-smp1",
            "crash-report/stackguard-smp1",
            "crash-report/protnone-smp4",
            "crash-report/stackguard-smp4",
            "crash/page-fault",
            "crash/panic"
        ]
    );
}

#[test]
fn power_off_boot_passes() {
    let cases = matrix(&TestOptions::default());
    let expect = &case(&cases, "boot/smp8-4G").expect;
    let transcript =
        lines("[ 0.1] I cpu0 smp: 8/8 CPUs online\n[ 0.2] I cpu0 acpi: powering off\n");
    let problems = judge(
        expect,
        Ending::Exited(QemuExit::PoweredOff),
        &transcript,
        &symbols(),
    );
    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn power_off_boot_failures() {
    let cases = matrix(&TestOptions::default());
    let expect = &case(&cases, "boot/smp8-4G").expect;
    let too_few = lines("smp: 7/8 CPUs online\n");
    let problems = judge(
        expect,
        Ending::Exited(QemuExit::PoweredOff),
        &too_few,
        &symbols(),
    );
    assert_eq!(problems, ["smp: 7/8 CPUs online, expected 8/8"]);

    let problems = judge(
        expect,
        Ending::Exited(QemuExit::KernelFatal),
        &lines("smp: 8/8 CPUs online"),
        &symbols(),
    );
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("status 37") && problems[0].contains("status 0"),
        "{problems:?}"
    );

    let problems = judge(
        expect,
        Ending::TimedOut(Duration::from_secs(5)),
        &[],
        &symbols(),
    );
    assert_eq!(
        problems,
        ["timed out after 5 s", "no `smp: 8/8 CPUs online` line"]
    );
}

#[test]
fn bad_cmdline_needs_the_warning() {
    let cases = matrix(&TestOptions::default());
    let expect = &case(&cases, "boot/bad-cmdline").expect;
    let off = Ending::Exited(QemuExit::PoweredOff);
    let warned = lines("[ 0.0] W cpu0 cmdline: ignoring unknown option `bogus=1`\n");
    assert_eq!(
        judge(expect, off, &warned, &symbols()),
        Vec::<String>::new()
    );
    let silent = lines("[ 0.0] I cpu0 cmdline: bogus=1 loglevel=loud ktest-nonsense\n");
    assert_eq!(
        judge(expect, off, &silent, &symbols()),
        ["the word `ignoring` is missing"]
    );
}

#[test]
fn page_fault_report_passes() {
    let cases = matrix(&TestOptions::default());
    let expect = &case(&cases, "crash/page-fault").expect;
    let problems = judge(
        expect,
        Ending::Exited(QemuExit::KernelFatal),
        &lines(PAGE_FAULT),
        &symbols(),
    );
    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn page_fault_report_missing_pieces() {
    let cases = matrix(&TestOptions::default());
    let expect = &case(&cases, "crash/page-fault").expect;
    let fatal = Ending::Exited(QemuExit::KernelFatal);

    let wrong_address = PAGE_FAULT.replace("CR2=0x0000000010000000", "CR2=0x0000000000000000");
    let problems = judge(expect, fatal, &lines(&wrong_address), &symbols());
    assert_eq!(problems, ["`CR2=0x0000000010000000` is missing"]);

    // Frames only in kmain: the crash function is not on the stack.
    let wrong_frames = PAGE_FAULT.replace("#0 0xffffffff80002010", "#0 0xffffffff80001010");
    let problems = judge(expect, fatal, &lines(&wrong_frames), &symbols());
    assert_eq!(
        problems,
        ["none of the 2 backtrace frames is in a function named like `crash`"]
    );

    // Right frames but no symbols to name them.
    let problems = judge(expect, fatal, &lines(PAGE_FAULT), &Symbolizer::default());
    assert_eq!(problems.len(), 1, "{problems:?}");

    let no_trace: String = PAGE_FAULT
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let problems = judge(
        expect,
        Ending::Exited(QemuExit::PoweredOff),
        &lines(&no_trace),
        &symbols(),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("status 0"));
    assert_eq!(problems[1], "no backtrace frames");
}

#[test]
fn panic_report() {
    let cases = matrix(&TestOptions::default());
    let expect = &case(&cases, "crash/panic").expect;
    let fatal = Ending::Exited(QemuExit::KernelFatal);
    let report = lines(
        "PANIC on cpu0 at kernel/src/crash.rs:9: crash=panic requested\n  #0 0xffffffff80002044\n",
    );
    assert_eq!(
        judge(expect, fatal, &report, &symbols()),
        Vec::<String>::new()
    );
    let not_a_panic = lines("EXCEPTION #GP\n  #0 0xffffffff80002044\n");
    assert_eq!(
        judge(expect, fatal, &not_a_panic, &symbols()),
        ["`PANIC` is missing"]
    );
}

#[test]
fn ktest_cases_are_not_judged_here() {
    assert!(
        judge(
            &Expect::Ktest,
            Ending::Exited(QemuExit::QemuFailed),
            &[],
            &symbols()
        )
        .is_empty()
    );
}
