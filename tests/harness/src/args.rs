//! Command-line parsing, by hand: `Command` with its `RunOptions` and
//! `TestOptions`, and `ArgError` for every way the arguments can be wrong.
//! `main.rs` dispatches on the result; nothing here touches the outside world.

use std::fmt;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: harness run  [--smp N(4)] [--mem SIZE(512M)] [--append STR]... [--initrd PATH]
                    [--icount] [--kvm] [--gdb] [--timeout SECS(0 = none)] [--no-build]
       harness test [--smp LIST(1,4)] [--timeout SECS(300, 0 = none)] [--initrd PATH]
                    [--no-build] [--quick]
       harness bench --linux-kernel PATH --linux-init PATH [--linux-name TEXT]
                    [--rounds N(3)] [--date TEXT] [--command TEXT] [--no-build]
       harness help

Options take their value as the next argument or after `=` (`--smp=2`).
Repeated --append values are joined with spaces.
SIZE is a number with an optional K, M, G or T suffix, as QEMU's -m takes it.";

/// What the harness was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(RunOptions),
    Test(TestOptions),
    Bench(BenchOptions),
}

/// `harness bench` (`scripts/bench` fills these in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// The Linux kernel image (bzImage) and the static `/init` to pack.
    pub linux_kernel: PathBuf,
    pub linux_init: PathBuf,
    /// How results.md names the Linux kernel (its package and version).
    pub linux_name: String,
    /// Pairs of two-CPU boots (A B A B ...).
    pub rounds: u32,
    /// What results.md says about the run.
    pub date: String,
    pub command: String,
    pub no_build: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            linux_kernel: PathBuf::new(),
            linux_init: PathBuf::new(),
            linux_name: "Debian's linux-image-amd64".into(),
            rounds: 3,
            date: "an unrecorded date".into(),
            command: "scripts/bench".into(),
            no_build: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub smp: u32,
    pub mem: String,
    pub append: String,
    pub initrd: Option<PathBuf>,
    pub icount: bool,
    pub kvm: bool,
    pub gdb: bool,
    /// 0 means no timeout.
    pub timeout_secs: u64,
    pub no_build: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            smp: 4,
            mem: "512M".into(),
            append: String::new(),
            initrd: None,
            icount: false,
            kvm: false,
            gdb: false,
            timeout_secs: 0,
            no_build: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOptions {
    pub smp_list: Vec<u32>,
    /// Per QEMU run; 0 means no timeout.
    pub timeout_secs: u64,
    pub initrd: Option<PathBuf>,
    pub no_build: bool,
    pub quick: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            smp_list: vec![1, 4],
            timeout_secs: 300,
            initrd: None,
            no_build: false,
            quick: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    MissingCommand,
    UnknownCommand(String),
    UnknownOption {
        command: &'static str,
        option: String,
    },
    MissingValue(String),
    UnexpectedValue(String),
    BadValue {
        option: String,
        value: String,
        expected: &'static str,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::MissingCommand => write!(f, "no command given (expected `run` or `test`)"),
            ArgError::UnknownCommand(c) => {
                write!(f, "unknown command `{c}` (expected `run` or `test`)")
            }
            ArgError::UnknownOption { command, option } => {
                write!(f, "unknown option `{option}` for `harness {command}`")
            }
            ArgError::MissingValue(o) => write!(f, "option `{o}` needs a value"),
            ArgError::UnexpectedValue(o) => write!(f, "option `{o}` takes no value"),
            ArgError::BadValue {
                option,
                value,
                expected,
            } => {
                write!(f, "option `{option}` expects {expected}, got `{value}`")
            }
        }
    }
}

impl std::error::Error for ArgError {}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, ArgError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(ArgError::MissingCommand);
    };
    let mut options = Options::new(rest);
    match command.as_str() {
        "help" | "-h" | "--help" => Ok(Command::Help),
        "bench" => parse_bench(&mut options),
        "run" => parse_run(&mut options),
        "test" => parse_test(&mut options),
        other => Err(ArgError::UnknownCommand(other.to_string())),
    }
}

fn parse_run(options: &mut Options<'_>) -> Result<Command, ArgError> {
    let mut run = RunOptions::default();
    while let Some(option) = options.next_option()? {
        match option.as_str() {
            "-h" | "--help" => return options.no_value(&option).map(|()| Command::Help),
            "--smp" => run.smp = cpu_count(&option, &options.value(&option)?)?,
            "--mem" => run.mem = mem_size(&option, &options.value(&option)?)?,
            // Repeated --append words add up (scripts/run --shell adds one).
            "--append" => {
                let words = options.value(&option)?;
                if !run.append.is_empty() && !words.is_empty() {
                    run.append.push(' ');
                }
                run.append.push_str(&words);
            }
            "--initrd" => run.initrd = Some(options.value(&option)?.into()),
            "--timeout" => run.timeout_secs = seconds(&option, &options.value(&option)?)?,
            "--icount" => run.icount = options.flag(&option)?,
            "--kvm" => run.kvm = options.flag(&option)?,
            "--gdb" => run.gdb = options.flag(&option)?,
            "--no-build" => run.no_build = options.flag(&option)?,
            _ => {
                return Err(ArgError::UnknownOption {
                    command: "run",
                    option,
                });
            }
        }
    }
    Ok(Command::Run(run))
}

fn parse_test(options: &mut Options<'_>) -> Result<Command, ArgError> {
    let mut test = TestOptions::default();
    while let Some(option) = options.next_option()? {
        match option.as_str() {
            "-h" | "--help" => return options.no_value(&option).map(|()| Command::Help),
            "--smp" => {
                let list = options.value(&option)?;
                test.smp_list = list
                    .split(',')
                    .map(|n| cpu_count(&option, n.trim()))
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad(&option, &list, "a comma-separated list of CPU counts"))?;
            }
            "--timeout" => test.timeout_secs = seconds(&option, &options.value(&option)?)?,
            "--initrd" => test.initrd = Some(options.value(&option)?.into()),
            "--no-build" => test.no_build = options.flag(&option)?,
            "--quick" => test.quick = options.flag(&option)?,
            _ => {
                return Err(ArgError::UnknownOption {
                    command: "test",
                    option,
                });
            }
        }
    }
    Ok(Command::Test(test))
}

fn parse_bench(options: &mut Options<'_>) -> Result<Command, ArgError> {
    let mut bench = BenchOptions::default();
    while let Some(option) = options.next_option()? {
        match option.as_str() {
            "-h" | "--help" => return options.no_value(&option).map(|()| Command::Help),
            "--linux-kernel" => bench.linux_kernel = options.value(&option)?.into(),
            "--linux-init" => bench.linux_init = options.value(&option)?.into(),
            "--linux-name" => bench.linux_name = options.value(&option)?,
            "--rounds" => {
                let value = options.value(&option)?;
                bench.rounds = match value.parse::<u32>() {
                    Ok(n) if (1..=99).contains(&n) => n,
                    _ => return Err(bad(&option, &value, "a round count from 1 to 99")),
                };
            }
            "--date" => bench.date = options.value(&option)?,
            "--command" => bench.command = options.value(&option)?,
            "--no-build" => bench.no_build = options.flag(&option)?,
            _ => {
                return Err(ArgError::UnknownOption {
                    command: "bench",
                    option,
                });
            }
        }
    }
    if bench.linux_kernel.as_os_str().is_empty() {
        return Err(ArgError::MissingValue("--linux-kernel".into()));
    }
    if bench.linux_init.as_os_str().is_empty() {
        return Err(ArgError::MissingValue("--linux-init".into()));
    }
    Ok(Command::Bench(bench))
}

/// A cursor over `--name value` / `--name=value` arguments.
struct Options<'a> {
    rest: std::slice::Iter<'a, String>,
    /// The `=value` part of the option just returned, if it had one.
    inline_value: Option<String>,
}

impl<'a> Options<'a> {
    fn new(args: &'a [String]) -> Self {
        Options {
            rest: args.iter(),
            inline_value: None,
        }
    }

    /// Returns the next option's name; anything not starting with `--`/`-`
    /// is reported as an unknown option too, so typos never pass silently.
    fn next_option(&mut self) -> Result<Option<String>, ArgError> {
        self.inline_value = None;
        let Some(arg) = self.rest.next() else {
            return Ok(None);
        };
        match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                self.inline_value = Some(value.to_string());
                Ok(Some(name.to_string()))
            }
            _ => Ok(Some(arg.clone())),
        }
    }

    fn value(&mut self, option: &str) -> Result<String, ArgError> {
        if let Some(value) = self.inline_value.take() {
            return Ok(value);
        }
        self.rest
            .next()
            .cloned()
            .ok_or_else(|| ArgError::MissingValue(option.to_string()))
    }

    fn no_value(&mut self, option: &str) -> Result<(), ArgError> {
        match self.inline_value.take() {
            Some(_) => Err(ArgError::UnexpectedValue(option.to_string())),
            None => Ok(()),
        }
    }

    fn flag(&mut self, option: &str) -> Result<bool, ArgError> {
        self.no_value(option).map(|()| true)
    }
}

fn bad(option: &str, value: &str, expected: &'static str) -> ArgError {
    ArgError::BadValue {
        option: option.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn cpu_count(option: &str, value: &str) -> Result<u32, ArgError> {
    match value.parse::<u32>() {
        Ok(n) if (1..=255).contains(&n) => Ok(n),
        _ => Err(bad(option, value, "a CPU count from 1 to 255")),
    }
}

fn seconds(option: &str, value: &str) -> Result<u64, ArgError> {
    value
        .parse()
        .map_err(|_| bad(option, value, "a whole number of seconds"))
}

/// Accepts what QEMU's `-m` accepts in practice: digits, then at most one
/// K/M/G/T suffix (a bare number is MiB to QEMU).
fn mem_size(option: &str, value: &str) -> Result<String, ArgError> {
    let digits = value.trim_end_matches(|c: char| "kKmMgGtT".contains(c));
    let suffix_len = value.len() - digits.len();
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && suffix_len <= 1 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(value.to_string())
        }
        _ => Err(bad(option, value, "a memory size such as 512M or 4G")),
    }
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
