//! Tests for `args`: defaults, both value spellings, and that every bad
//! argument becomes an `ArgError` naming the culprit instead of a panic.

use super::*;

fn parse_strs(args: &[&str]) -> Result<Command, ArgError> {
    let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    parse(&owned)
}

fn run(args: &[&str]) -> RunOptions {
    match parse_strs(args) {
        Ok(Command::Run(options)) => options,
        other => panic!("expected run options, got {other:?}"),
    }
}

fn test(args: &[&str]) -> TestOptions {
    match parse_strs(args) {
        Ok(Command::Test(options)) => options,
        other => panic!("expected test options, got {other:?}"),
    }
}

#[test]
fn run_defaults() {
    let options = run(&["run"]);
    assert_eq!(options.smp, 4);
    assert_eq!(options.mem, "512M");
    assert_eq!(options.append, "");
    assert_eq!(options.timeout_secs, 0);
    assert!(!options.icount && !options.kvm && !options.gdb && !options.no_build);
    assert_eq!(options.initrd, None);
}

#[test]
fn run_every_option() {
    let options = run(&[
        "run",
        "--smp",
        "2",
        "--mem=4G",
        "--append",
        "ktest loglevel=debug",
        "--initrd",
        "/tmp/initfs.cpio",
        "--icount",
        "--kvm",
        "--gdb",
        "--timeout",
        "30",
        "--no-build",
    ]);
    assert_eq!(options.smp, 2);
    assert_eq!(options.mem, "4G");
    assert_eq!(options.append, "ktest loglevel=debug");
    assert_eq!(options.initrd, Some(PathBuf::from("/tmp/initfs.cpio")));
    assert!(options.icount && options.kvm && options.gdb && options.no_build);
    assert_eq!(options.timeout_secs, 30);
}

#[test]
fn repeated_appends_add_up() {
    assert_eq!(
        run(&["run", "--append", "init=bin/sh", "--append=loglevel=debug"]).append,
        "init=bin/sh loglevel=debug"
    );
}

#[test]
fn append_value_may_contain_equals_and_dashes() {
    assert_eq!(run(&["run", "--append=crash=panic"]).append, "crash=panic");
    assert_eq!(run(&["run", "--append", "--weird"]).append, "--weird");
    assert_eq!(run(&["run", "--append="]).append, "");
}

#[test]
fn test_defaults_and_options() {
    let options = test(&["test"]);
    assert_eq!(options.smp_list, vec![1, 4]);
    assert_eq!(options.timeout_secs, 300);
    assert!(!options.quick && !options.no_build);

    let options = test(&[
        "test",
        "--smp",
        "1,2, 8",
        "--timeout=60",
        "--quick",
        "--no-build",
    ]);
    assert_eq!(options.smp_list, vec![1, 2, 8]);
    assert_eq!(options.timeout_secs, 60);
    assert!(options.quick && options.no_build);
}

#[test]
fn help_forms() {
    for args in [
        &["help"][..],
        &["--help"],
        &["-h"],
        &["run", "--help"],
        &["test", "-h"],
    ] {
        assert_eq!(parse_strs(args), Ok(Command::Help), "{args:?}");
    }
}

#[test]
fn missing_and_unknown_commands() {
    assert_eq!(parse_strs(&[]), Err(ArgError::MissingCommand));
    assert_eq!(
        parse_strs(&["boot"]),
        Err(ArgError::UnknownCommand("boot".into()))
    );
}

#[test]
fn bench_needs_both_linux_paths() {
    assert_eq!(
        parse_strs(&["bench"]),
        Err(ArgError::MissingValue("--linux-kernel".into()))
    );
    assert_eq!(
        parse_strs(&["bench", "--linux-kernel", "vmlinuz"]),
        Err(ArgError::MissingValue("--linux-init".into()))
    );
    let parsed = parse_strs(&[
        "bench",
        "--linux-kernel",
        "vmlinuz",
        "--linux-init=init",
        "--rounds",
        "5",
        "--no-build",
    ]);
    let Ok(Command::Bench(options)) = parsed else {
        panic!("{parsed:?}");
    };
    assert_eq!(options.linux_kernel, PathBuf::from("vmlinuz"));
    assert_eq!(options.linux_init, PathBuf::from("init"));
    assert_eq!((options.rounds, options.no_build), (5, true));
    assert!(matches!(
        parse_strs(&["bench", "--rounds", "0"]),
        Err(ArgError::BadValue { .. })
    ));
}

#[test]
fn unknown_options_are_rejected_per_command() {
    // `--quick` belongs to `test`, `--kvm` to `run`.
    assert_eq!(
        parse_strs(&["run", "--quick"]),
        Err(ArgError::UnknownOption {
            command: "run",
            option: "--quick".into()
        })
    );
    assert_eq!(
        parse_strs(&["test", "--kvm"]),
        Err(ArgError::UnknownOption {
            command: "test",
            option: "--kvm".into()
        })
    );
    // A stray positional argument is not silently dropped.
    assert_eq!(
        parse_strs(&["run", "4"]),
        Err(ArgError::UnknownOption {
            command: "run",
            option: "4".into()
        })
    );
}

#[test]
fn missing_values() {
    assert_eq!(
        parse_strs(&["run", "--smp"]),
        Err(ArgError::MissingValue("--smp".into()))
    );
    assert_eq!(
        parse_strs(&["test", "--timeout"]),
        Err(ArgError::MissingValue("--timeout".into()))
    );
}

#[test]
fn flags_refuse_values() {
    assert_eq!(
        parse_strs(&["run", "--kvm=yes"]),
        Err(ArgError::UnexpectedValue("--kvm".into()))
    );
}

#[test]
fn bad_values_name_the_option_and_value() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["run", "--smp", "0"], "--smp", "0"),
        (&["run", "--smp", "four"], "--smp", "four"),
        (&["run", "--smp", "-1"], "--smp", "-1"),
        (&["run", "--mem", "lots"], "--mem", "lots"),
        (&["run", "--mem", "0M"], "--mem", "0M"),
        (&["run", "--mem", "512MB"], "--mem", "512MB"),
        (&["run", "--mem", "G"], "--mem", "G"),
        (&["run", "--timeout", "1.5"], "--timeout", "1.5"),
        (&["test", "--smp", "1,,4"], "--smp", "1,,4"),
        (&["test", "--smp", ""], "--smp", ""),
        (&["test", "--smp=1,x"], "--smp", "1,x"),
    ];
    for (args, option, value) in cases {
        match parse_strs(args) {
            Err(error @ ArgError::BadValue { .. }) => {
                let message = error.to_string();
                assert!(message.contains(option), "{message}");
                assert!(message.contains(&format!("`{value}`")), "{message}");
            }
            other => panic!("{args:?} gave {other:?}"),
        }
    }
}

#[test]
fn memory_sizes_qemu_accepts() {
    for size in ["128M", "4G", "512m", "1024", "65536K", "1T"] {
        assert_eq!(run(&["run", "--mem", size]).mem, size);
    }
}
