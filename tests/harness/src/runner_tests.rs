//! Tests for `runner`: whole cases against a fake QEMU, a shell script
//! that records its arguments, prints a canned transcript and exits with
//! a chosen status (or hangs), so counting, judging and killing are tested
//! end to end without a kernel.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::*;
use crate::symbolize::Symbol;

/// A fake QEMU in its own directory, removed on drop.
struct FakeQemu {
    dir: PathBuf,
    program: PathBuf,
}

impl FakeQemu {
    /// `body` is shell code run after the arguments are recorded.
    fn new(name: &str, body: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("harness-test-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let program = dir.join("qemu-system-x86_64");
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = probe ] && exit 0\nprintf '%s\\n' \"$@\" > \"$0.args\"\n{body}\n"
        );
        fs::write(&program, script).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread may have forked while our write handle was
        // open; exec fails with ETXTBSY until that child has exec'd too.
        while Command::new(&program).arg("probe").status().is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        FakeQemu { dir, program }
    }

    fn printing(name: &str, transcript: &str, status: i32) -> Self {
        FakeQemu::new(
            name,
            &format!("cat <<'EOF'\n{transcript}EOF\nexit {status}"),
        )
    }

    fn setup(&self, timeout: Duration) -> Setup {
        Setup {
            qemu: self.program.clone(),
            kernel: PathBuf::from("/images/kernel"),
            initrd: self.dir.join("initfs.cpio"),
            timeout: Some(timeout),
            logs: self.dir.join("logs"),
            symbols: Symbolizer::from_symbols([Symbol {
                start: 0xffff_ffff_8000_2000,
                size: 0x80,
                name: "_ZN6kernel5crash5panic17h0123456789abcdefE".into(),
            }]),
        }
    }

    fn args(&self) -> Vec<String> {
        let path = self.program.with_extension("args");
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FakeQemu {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn matrix_case(name: &str) -> Case {
    let options = TestOptions {
        smp_list: vec![2],
        ..TestOptions::default()
    };
    suite::matrix(&options)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
}

fn run(fake: &FakeQemu, case: &Case) -> Tally {
    let mut tally = Tally::default();
    run_case(case, &fake.setup(Duration::from_secs(30)), &mut tally);
    tally
}

#[test]
fn ktest_run_counts_each_test() {
    let fake = FakeQemu::printing(
        "ktest-ok",
        "boot\r\nktest: start 3\r\nktest: pass a\r\n[ 0.1] I cpu1 ktest: pass b\r\nktest: FAIL c: bad\r\nktest: done 2 passed, 1 failed\r\n",
        35,
    );
    let tally = run(&fake, &matrix_case("smp2"));
    assert_eq!((tally.passed, tally.failed), (2, 1));
    let args = fake.args();
    for (flag, value) in [
        ("-smp", "2"),
        ("-m", "512M"),
        ("-append", "ktest"),
        ("-kernel", "/images/kernel"),
    ] {
        let at = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} in {args:?}"));
        assert_eq!(args[at + 1], value);
    }
}

/// A case with a failure keeps its whole transcript, symbolized; one that
/// passed keeps none.
#[test]
fn a_failed_case_keeps_its_transcript() {
    let fake = FakeQemu::printing(
        "keeps-log",
        "ktest: start 2\nktest: pass a\nktest: FAIL b: bad\n  #0 0xffffffff80002010\nktest: done 1 passed, 1 failed\n",
        35,
    );
    let tally = run(&fake, &matrix_case("smp2"));
    assert_eq!((tally.passed, tally.failed), (1, 1));
    let log = fs::read_to_string(fake.dir.join("logs").join("smp2.log")).unwrap();
    assert!(log.starts_with("ktest: start 2\nktest: pass a\nktest: FAIL b: bad\n"));
    assert!(log.contains("kernel::crash::panic"), "{log}");

    let passing = FakeQemu::printing(
        "keeps-no-log",
        "ktest: start 1\nktest: pass a\nktest: done 1 passed, 0 failed\n",
        33,
    );
    let tally = run(&passing, &matrix_case("smp2"));
    assert_eq!((tally.passed, tally.failed), (1, 0));
    assert!(!passing.dir.join("logs").exists());
}

#[test]
fn crashed_ktest_run_adds_one_failure() {
    let fake = FakeQemu::printing(
        "ktest-crash",
        "ktest: start 2\nktest: pass a\nPANIC: oops\n",
        37,
    );
    let tally = run(&fake, &matrix_case("smp2"));
    assert_eq!((tally.passed, tally.failed), (1, 1));
}

#[test]
fn empty_ktest_run_fails() {
    let fake = FakeQemu::printing("ktest-empty", "ktest: done 0 passed, 0 failed\n", 33);
    let tally = run(&fake, &matrix_case("smp2"));
    assert_eq!((tally.passed, tally.failed), (0, 1));
}

#[test]
fn hung_boot_is_killed_and_fails() {
    let fake = FakeQemu::new("hang", "echo 'ktest: pass a'\nexec sleep 60");
    let start = Instant::now();
    let mut tally = Tally::default();
    run_case(
        &matrix_case("smp2"),
        &fake.setup(Duration::from_millis(500)),
        &mut tally,
    );
    assert_eq!((tally.passed, tally.failed), (1, 1));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn crash_case_passes_with_a_symbolized_frame() {
    let fake = FakeQemu::printing(
        "panic-ok",
        "PANIC on cpu0: crash=panic requested\nbacktrace:\n  #0 0xffffffff80002010\n",
        37,
    );
    let tally = run(&fake, &matrix_case("crash/panic"));
    assert_eq!((tally.passed, tally.failed), (1, 0));
    let args = fake.args();
    assert!(
        args.windows(2).any(|w| w == ["-append", "crash=panic"]),
        "{args:?}"
    );
}

#[test]
fn crash_case_fails_without_the_frame() {
    let fake = FakeQemu::printing(
        "panic-noframe",
        "PANIC on cpu0\n  #0 0xffffffff80009999\n",
        37,
    );
    let tally = run(&fake, &matrix_case("crash/panic"));
    assert_eq!((tally.passed, tally.failed), (0, 1));
}

#[test]
fn qemu_that_cannot_start_fails_the_case() {
    let mut setup = FakeQemu::new("missing", "exit 0").setup(Duration::from_secs(5));
    setup.qemu = Path::new("/nonexistent/qemu-system-x86_64").to_path_buf();
    let mut tally = Tally::default();
    run_case(&matrix_case("boot/smp1-128M"), &setup, &mut tally);
    assert_eq!((tally.passed, tally.failed), (0, 1));
}
