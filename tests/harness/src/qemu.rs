//! The QEMU side of a boot: `QemuConfig` turns options into the
//! `qemu-system-x86_64` command line (DESIGN.md section 4), and `QemuExit`
//! decodes the exit status the isa-debug-exit device leaves behind.
//! `process.rs` runs the command; `suite.rs` and `main.rs` judge the status.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

pub const QEMU: &str = "qemu-system-x86_64";

/// What to boot and how; one value per QEMU run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuConfig {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub smp: u32,
    pub mem: String,
    pub append: String,
    /// Deterministic timing: one guest TSC tick per instruction.
    pub icount: bool,
    /// Opt-in only: KVM here has been seen to stop on an SSE load.
    pub kvm: bool,
    /// Wait for gdb on :1234 before the first instruction.
    pub gdb: bool,
    /// The machine type; q35 unless a case asks for another (`pc`, or
    /// `q35,hpet=off` to make the kernel calibrate against the PIT).
    pub machine: String,
    /// The CPU model under TCG; `max` offers every feature TCG emulates.
    pub cpu: String,
}

impl QemuConfig {
    pub fn new(kernel: &Path, smp: u32, mem: &str, append: &str) -> Self {
        QemuConfig {
            kernel: kernel.to_path_buf(),
            initrd: None,
            smp,
            mem: mem.to_string(),
            append: append.to_string(),
            icount: false,
            kvm: false,
            gdb: false,
            machine: "q35".to_string(),
            cpu: "max".to_string(),
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<OsString> {
        let cpu = if self.kvm { "host" } else { &self.cpu };
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
        push(&["-machine", &self.machine, "-cpu", cpu]);
        push(&["-smp", &self.smp.to_string(), "-m", &self.mem]);
        if self.kvm {
            push(&["-enable-kvm"]);
        }
        if self.icount {
            push(&["-icount", "shift=0,sleep=off"]);
        }
        if self.gdb {
            push(&["-s", "-S"]);
        }
        push(&["-append", &self.append]);
        push(&["-serial", "stdio", "-display", "none", "-no-reboot"]);
        push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        args.push("-kernel".into());
        args.push(self.kernel.clone().into_os_string());
        if let Some(initrd) = &self.initrd {
            args.push("-initrd".into());
            args.push(initrd.clone().into_os_string());
        }
        args
    }

    /// The command, with `program` as found by `find_qemu`.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.args(self.args());
        command
    }
}

/// Looks for QEMU on PATH, so a missing install is reported up front
/// rather than as an opaque spawn error.
pub fn find_qemu() -> Result<PathBuf, String> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .map(|dir| dir.join(QEMU))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "{QEMU} is not on PATH; run scripts/run (it installs QEMU), \
                 or `apt-get install qemu-system-x86`"
            )
        })
}

/// How a QEMU run ended.  isa-debug-exit makes QEMU exit with
/// `(value << 1) | 1`; ACPI power-off exits with 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuExit {
    /// 0: the guest powered off through ACPI.
    PoweredOff,
    /// 33: the kernel wrote 0x10, all in-kernel tests passed.
    TestsPassed,
    /// 35: the kernel wrote 0x11, some in-kernel tests failed.
    TestsFailed,
    /// 37: the kernel wrote 0x12 after a panic or fatal exception.
    KernelFatal,
    /// 1: QEMU's own failure (or a forbidden write of 0 to the device).
    QemuFailed,
    /// Another odd status: a debug-exit value the protocol does not define.
    UnknownDebugExit { value: u32 },
    /// An even status other than 0.
    Unexpected { status: i32 },
    /// QEMU died from a signal, with no exit status.
    Signal { signal: i32 },
}

impl QemuExit {
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => QemuExit::PoweredOff,
            1 => QemuExit::QemuFailed,
            33 => QemuExit::TestsPassed,
            35 => QemuExit::TestsFailed,
            37 => QemuExit::KernelFatal,
            c if c > 1 && c & 1 == 1 => QemuExit::UnknownDebugExit {
                value: (c as u32) >> 1,
            },
            c => QemuExit::Unexpected { status: c },
        }
    }

    pub fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => QemuExit::from_code(code),
            (None, Some(signal)) => QemuExit::Signal { signal },
            (None, None) => QemuExit::Unexpected { status: -1 },
        }
    }

    /// `scripts/run` succeeds on power-off or on a passing test run.
    pub fn is_success(self) -> bool {
        matches!(self, QemuExit::PoweredOff | QemuExit::TestsPassed)
    }
}

impl fmt::Display for QemuExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuExit::PoweredOff => write!(f, "the guest powered off through ACPI (status 0)"),
            QemuExit::TestsPassed => {
                write!(
                    f,
                    "the kernel reported that all in-kernel tests passed (status 33)"
                )
            }
            QemuExit::TestsFailed => {
                write!(
                    f,
                    "the kernel reported that some in-kernel tests failed (status 35)"
                )
            }
            QemuExit::KernelFatal => {
                write!(
                    f,
                    "the kernel panicked or took a fatal exception (status 37)"
                )
            }
            QemuExit::QemuFailed => write!(
                f,
                "QEMU failed (status 1): it could not start the machine, \
                 or the kernel wrote 0 to isa-debug-exit"
            ),
            QemuExit::UnknownDebugExit { value } => write!(
                f,
                "the kernel wrote {value:#x} to isa-debug-exit, which the protocol \
                 does not define (status {})",
                (value << 1) | 1
            ),
            QemuExit::Unexpected { status } => {
                write!(f, "QEMU exited with unexpected status {status}")
            }
            QemuExit::Signal { signal } => write!(f, "QEMU was killed by signal {signal}"),
        }
    }
}

#[cfg(test)]
#[path = "qemu_tests.rs"]
mod tests;
