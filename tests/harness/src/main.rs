//! Host-side runner for the kernel: builds the image, boots it in QEMU,
//! reads the serial transcript, enforces timeouts, decodes the exit status,
//! symbolizes backtraces and reports.
//!
//! ```text
//! main ── args ─────────────── what to do
//!   ├── run (below) ─┐
//!   ├── bench ───────┤ (bench_rows: the rows, parsing, the table)
//!   └── runner ──────┤ image (build, paths, symbols)
//!        └── suite   ├ qemu (command line, exit status)
//!                    ├ process (spawn, stream, timeout, kill)
//!                    ├ lines (chunks to lines, live echo)
//!                    ├ transcript (ktest protocol, boot facts)
//!                    ├ memcheck (leak checks: begin/end pairs)
//!                    └ symbolize (backtrace frames)
//! ```
//!
//! Exit status: 0 success, 1 failure, 2 bad arguments.

mod args;
mod bench;
mod bench_rows;
mod image;
mod initfs;
mod lines;
mod memcheck;
mod process;
mod qemu;
mod runner;
mod suite;
mod symbolize;
mod transcript;

use std::env;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use args::{Command, RunOptions, USAGE};
use lines::Echo;
use process::{Ending, Io};
use qemu::QemuConfig;

fn main() -> ExitCode {
    let arguments: Vec<String> = env::args().skip(1).collect();
    match args::parse(&arguments) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run(options)) => run(&options),
        Ok(Command::Test(options)) => runner::test(&options),
        Ok(Command::Bench(options)) => bench::bench(&options),
        Err(error) => {
            eprintln!("harness: {error}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `harness run`: one boot, its serial output streamed live and
/// symbolized, the user's terminal connected to the guest's serial input.
fn run(options: &RunOptions) -> ExitCode {
    match boot_interactive(options) {
        Ok(Ending::Exited(exit)) if exit.is_success() => ExitCode::SUCCESS,
        Ok(Ending::Exited(exit)) => {
            eprintln!("harness: {exit}");
            ExitCode::FAILURE
        }
        Ok(Ending::TimedOut(after)) => {
            eprintln!(
                "harness: timed out after {} s; QEMU was killed",
                after.as_secs_f64()
            );
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("harness: {message}");
            ExitCode::FAILURE
        }
    }
}

fn boot_interactive(options: &RunOptions) -> Result<Ending, String> {
    let (program, paths) = image::ready(options.no_build)?;
    let symbols = image::load_symbols(&paths);

    let mut config = QemuConfig::new(&paths.kernel, options.smp, &options.mem, &options.append);
    config.initrd = Some(
        options
            .initrd
            .clone()
            .unwrap_or_else(|| paths.initfs.clone()),
    );
    config.icount = options.icount;
    config.kvm = options.kvm;
    config.gdb = options.gdb;
    // A debugging session may sit at a breakpoint for as long as it likes.
    let timeout = (options.timeout_secs > 0 && !options.gdb)
        .then(|| Duration::from_secs(options.timeout_secs));
    if options.gdb {
        eprintln!(
            "harness: QEMU is waiting for a debugger; from {} attach with\n    gdb {} -ex 'target remote :1234'",
            paths.workspace.display(),
            paths.kernel_for_display().display()
        );
    }

    let mut echo = Echo::new(io::stdout(), |line: &str| symbols.annotation(line));
    // A closed stdout must not stop the boot, so write errors are dropped.
    let finished = process::run(
        config.command(&program),
        Io::Interactive,
        timeout,
        &mut |chunk| {
            let _ = echo.feed(chunk);
        },
    );
    let _ = echo.finish();
    let finished = finished.map_err(|e| format!("could not start {}: {e}", qemu::QEMU))?;
    Ok(finished.ending)
}
