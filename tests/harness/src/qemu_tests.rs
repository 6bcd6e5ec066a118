//! Tests for `qemu`: the command line each option produces, and the
//! decoding of every kind of exit status.

use super::*;

fn strings(config: &QemuConfig) -> Vec<String> {
    config
        .args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// True if `needle` appears in `args` as consecutive arguments.
fn has_run(args: &[String], needle: &[&str]) -> bool {
    args.windows(needle.len())
        .any(|w| w.iter().zip(needle).all(|(a, b)| a == b))
}

#[test]
fn base_command_line() {
    let config = QemuConfig::new(Path::new("/t/release/kernel"), 4, "512M", "ktest");
    let args = strings(&config);
    for run in [
        &["-machine", "q35"][..],
        &["-cpu", "max"],
        &["-smp", "4"],
        &["-m", "512M"],
        &["-kernel", "/t/release/kernel"],
        &["-append", "ktest"],
        &["-serial", "stdio"],
        &["-display", "none"],
        &["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
    ] {
        assert!(has_run(&args, run), "{run:?} missing from {args:?}");
    }
    assert!(args.contains(&"-no-reboot".to_string()));
    for absent in ["-enable-kvm", "-icount", "-s", "-S", "-initrd"] {
        assert!(!args.contains(&absent.to_string()), "{absent} in {args:?}");
    }
}

#[test]
fn empty_append_is_still_passed() {
    let args = strings(&QemuConfig::new(Path::new("k"), 1, "128M", ""));
    assert!(has_run(&args, &["-append", ""]));
}

#[test]
fn optional_flags() {
    let mut config = QemuConfig::new(Path::new("k"), 1, "128M", "");
    config.icount = true;
    config.kvm = true;
    config.gdb = true;
    config.initrd = Some(PathBuf::from("initfs.cpio"));
    let args = strings(&config);
    assert!(has_run(&args, &["-icount", "shift=0,sleep=off"]));
    assert!(has_run(&args, &["-cpu", "host"]));
    assert!(!has_run(&args, &["-cpu", "max"]));
    assert!(args.contains(&"-enable-kvm".to_string()));
    assert!(has_run(&args, &["-s", "-S"]));
    assert!(has_run(&args, &["-initrd", "initfs.cpio"]));
}

#[test]
fn exit_codes_decode() {
    assert_eq!(QemuExit::from_code(0), QemuExit::PoweredOff);
    assert_eq!(QemuExit::from_code(1), QemuExit::QemuFailed);
    assert_eq!(QemuExit::from_code(33), QemuExit::TestsPassed);
    assert_eq!(QemuExit::from_code(35), QemuExit::TestsFailed);
    assert_eq!(QemuExit::from_code(37), QemuExit::KernelFatal);
    assert_eq!(
        QemuExit::from_code(3),
        QemuExit::UnknownDebugExit { value: 1 }
    );
    assert_eq!(
        QemuExit::from_code(0x27),
        QemuExit::UnknownDebugExit { value: 0x13 }
    );
    assert_eq!(QemuExit::from_code(2), QemuExit::Unexpected { status: 2 });
    assert_eq!(QemuExit::from_code(-1), QemuExit::Unexpected { status: -1 });
}

#[test]
fn exit_statuses_from_the_os() {
    use std::os::unix::process::ExitStatusExt;
    // Wait statuses: exit code in bits 8..16, or a signal number.
    assert_eq!(
        QemuExit::from_status(ExitStatus::from_raw(33 << 8)),
        QemuExit::TestsPassed
    );
    assert_eq!(
        QemuExit::from_status(ExitStatus::from_raw(9)),
        QemuExit::Signal { signal: 9 }
    );
}

#[test]
fn success_and_sentences() {
    assert!(QemuExit::PoweredOff.is_success() && QemuExit::TestsPassed.is_success());
    for failing in [
        QemuExit::TestsFailed,
        QemuExit::KernelFatal,
        QemuExit::QemuFailed,
    ] {
        assert!(!failing.is_success(), "{failing:?}");
    }
    assert!(QemuExit::KernelFatal.to_string().contains("panicked"));
    assert!(QemuExit::from_code(3).to_string().contains("0x1"));
    assert!(QemuExit::from_code(3).to_string().contains("status 3"));
    assert!(
        QemuExit::Signal { signal: 9 }
            .to_string()
            .contains("signal 9")
    );
}

#[test]
fn machine_and_cpu_reach_the_command_line() {
    let mut config = QemuConfig::new(Path::new("k"), 2, "256M", "ktest");
    config.machine = "q35,hpet=off".to_string();
    config.cpu = "qemu64".to_string();
    let args = strings(&config);
    assert!(has_run(
        &args,
        &["-machine", "q35,hpet=off", "-cpu", "qemu64"]
    ));
    assert!(!args.iter().any(|a| a == "max"));
}
