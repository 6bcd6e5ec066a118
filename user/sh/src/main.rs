//! `sh`: a small interactive shell on the serial console.
//!
//! It reads a line at a time from standard input (the console's line
//! discipline does the editing), and runs what the line names:
//!
//! - `PROGRAM ARGS...`: `bin/PROGRAM` from the initfs (a name with a `/`
//!   is taken as a path), waited for; an exit status other than 0, or a
//!   kill, is reported;
//! - `A | B | C`: a pipeline, each `|` a PIPE whose ends become the
//!   neighbours' standard output and input;
//! - `PROGRAM < FILE`: an initfs file as standard input;
//! - builtins: `help`, `mem` (the kernel's MEM_STATS), `exit [STATUS]`.
//!
//! `sh -c LINE` runs one line and exits with its status.
//!
//! Every step is an SQE on the shell's ring: READ, PIPE, OPENAT,
//! PROCESS_SPAWN with a `SpawnStdio`, CLOSE, WAIT, MEM_STATS.  End of file
//! (Ctrl-D on an empty line) exits.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Errno, SpawnStdio};
use core::fmt::Write;
use rt::io::{Writer, write_with};
use rt::process::{self, WaitStatus};
use rt::ring::Ring;
use sh::{MAX_STAGES, Pipeline, Stage, parse};

rt::entry!(main);

const HELP: &str = "\
This is sh, the kernel's small shell.  Everything it does goes through its ring.
  PROGRAM ARGS...      run bin/PROGRAM from the initfs: hello, echo, cat, wc,
                       spawn 3, threads 500, nopbench, pingpong, timeouts, fault,
                       faults, shootdown 1
  A | B                a pipeline: A's output is B's input (PIPE)
  PROGRAM < FILE       FILE from the initfs as standard input (wc < etc/motd)
  'a b' \"a b\" a\\ b     quoting, as in a POSIX shell
  mem                  what the kernel holds (MEM_STATS)
  help                 this text
  exit [STATUS]        leave; so does Ctrl-D on an empty line (the kernel then
                       powers off)
Keys: Backspace, Ctrl-U (erase the line).  `cat` and `wc` alone read the
console until Ctrl-D.  Programs cannot be interrupted (no signals yet); in
QEMU on a terminal, Ctrl-C stops the whole machine.
";

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let mut args = rt::args().skip(1);
    if let Some(flag) = args.next() {
        return match (flag, args.next(), args.next()) {
            ("-c", Some(line), None) => match execute(&mut ring, line) {
                Builtin::Ran(status) | Builtin::Exit(status) => status,
            },
            _ => {
                let _ = writeln!(Writer(&mut ring), "usage: sh [-c LINE]");
                2
            }
        };
    }
    let _ = writeln!(
        Writer(&mut ring),
        "sh: type `help` for what this shell can do"
    );
    let mut status = 0;
    let mut line = [0u8; 1024];
    loop {
        let _ = write_with(&mut ring, 1, b"$ ");
        let count = match rt::fs::read(&mut ring, 0, &mut line) {
            Ok(0) => {
                let _ = writeln!(Writer(&mut ring), "exit");
                return status;
            }
            Ok(count) => count,
            Err(errno) => {
                let _ = writeln!(Writer(&mut ring), "sh: reading the console: {errno}");
                return 1;
            }
        };
        let Ok(text) = core::str::from_utf8(&line[..count]) else {
            let _ = writeln!(Writer(&mut ring), "sh: the line is not UTF-8");
            continue;
        };
        match execute(&mut ring, text) {
            Builtin::Exit(code) => return code,
            Builtin::Ran(code) => status = code,
        }
    }
}

/// Parses and runs one line.
fn execute(ring: &mut Ring, text: &str) -> Builtin {
    let mut scratch = [0u8; 2048];
    let pipeline = match parse(text, &mut scratch) {
        Ok(pipeline) => pipeline,
        Err(error) => {
            let _ = writeln!(Writer(ring), "sh: {}", error.message());
            return Builtin::Ran(2);
        }
    };
    if pipeline.is_empty() {
        return Builtin::Ran(0);
    }
    builtin(ring, &pipeline).unwrap_or_else(|| Builtin::Ran(run(ring, &pipeline)))
}

enum Builtin {
    Ran(i32),
    Exit(i32),
}

/// Runs the line if it is a builtin.
fn builtin(ring: &mut Ring, pipeline: &Pipeline<'_>) -> Option<Builtin> {
    let stage = pipeline.stage(0);
    let simple = pipeline.len() == 1 && stage.input().is_none();
    let mut words = stage.words().skip(1);
    match stage.program() {
        "help" if simple => {
            let _ = write_with(ring, 1, HELP.as_bytes());
            Some(Builtin::Ran(0))
        }
        "mem" if simple => Some(Builtin::Ran(mem(ring))),
        "exit" if simple => {
            let code = match words.next().map(str::parse::<u8>) {
                None => 0,
                Some(Ok(code)) => i32::from(code),
                Some(Err(_)) => {
                    let _ = writeln!(Writer(ring), "sh: exit: the status is a number 0-255");
                    return Some(Builtin::Ran(2));
                }
            };
            Some(Builtin::Exit(code))
        }
        _ => None,
    }
}

fn mem(ring: &mut Ring) -> i32 {
    match rt::stats::mem(ring) {
        Ok(stats) => {
            let used = stats.managed_frames - stats.free_frames;
            let _ = writeln!(
                Writer(ring),
                "kernel heap:  {} bytes in use ({} taken from size classes)\n\
                 frames:       {} of {} in use ({} KiB free)\n\
                 tasks:        {} alive on the executors\n\
                 threads:      {} alive, {} of them parked (no kernel stack)\n\
                 per thread:   a {}-byte control block\n\
                 slabs:        {} objects in {} frames (+{} in large blocks):{}",
                stats.heap_bytes_requested,
                stats.heap_bytes_allocated,
                used,
                stats.managed_frames,
                stats.free_frames * 4,
                stats.live_tasks,
                stats.live_threads,
                stats.parked_threads,
                stats.thread_struct_bytes,
                stats.slab_objects(),
                stats.heap_frames_in_use() - stats.heap_large_frames,
                stats.heap_large_frames,
                SlabClasses(&stats),
            );
            0
        }
        Err(errno) => {
            let _ = writeln!(Writer(ring), "sh: mem: {errno}");
            1
        }
    }
}

/// The slab classes in use: " 16:N 32:N ..." (object size: objects).
struct SlabClasses<'a>(&'a abi::file::MemStats);

impl core::fmt::Display for SlabClasses<'_> {
    fn fmt(&self, out: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for class in self.0.slab_classes.iter().filter(|class| class.objects > 0) {
            write!(out, " {}:{}", class.object_bytes, class.objects)?;
        }
        Ok(())
    }
}

/// The path of the program a stage names.
fn program_path<'a>(name: &'a str, buffer: &'a mut [u8; 256]) -> Result<&'a str, Errno> {
    if name.contains('/') {
        return Ok(name);
    }
    let path = [b"bin/".as_slice(), name.as_bytes()].into_iter().flatten();
    let mut len = 0;
    for byte in path {
        *buffer.get_mut(len).ok_or(Errno::ENAMETOOLONG)? = *byte;
        len += 1;
    }
    core::str::from_utf8(&buffer[..len]).map_err(|_| Errno::EINVAL)
}

/// Opens an initfs file as a stage's input.
fn open_input(ring: &mut Ring, path: &str) -> Result<i32, Errno> {
    let mut name = [0u8; 256];
    if path.len() >= name.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    name[..path.len()].copy_from_slice(path.as_bytes());
    let name = core::ffi::CStr::from_bytes_until_nul(&name).map_err(|_| Errno::EINVAL)?;
    rt::fs::open(ring, name)
}

/// Starts one stage with `input` and `output` as its standard input and
/// output; returns the child's handle.
fn start(ring: &mut Ring, stage: &Stage<'_>, input: i32, output: i32) -> Result<i32, Errno> {
    let mut argv = [0u8; 2048];
    let argv_len = stage.argv_block(&mut argv).ok_or(Errno::E2BIG)?;
    let mut path = [0u8; 256];
    let path = program_path(stage.program(), &mut path)?;
    let opened = match stage.input() {
        Some(file) => Some(open_input(ring, file)?),
        None => None,
    };
    let stdio = SpawnStdio {
        handles: [opened.unwrap_or(input), output, 2],
        reserved: 0,
    };
    let child = process::spawn_with_stdio(ring, path, &argv[..argv_len], &stdio);
    if let Some(handle) = opened {
        let _ = rt::fs::close(ring, handle);
    }
    child
}

/// Runs a pipeline and waits for every stage.  Its status is the last
/// stage's, as in a POSIX shell.
fn run(ring: &mut Ring, pipeline: &Pipeline<'_>) -> i32 {
    let mut children = [None; MAX_STAGES];
    // Standard input of the next stage: the console, then each pipe's
    // read end.
    let mut input = 0;
    for (index, stage) in pipeline.stages().enumerate() {
        let last = index + 1 == pipeline.len();
        let (output, next_input) = if last {
            (1, 0)
        } else {
            match process::pipe(ring) {
                Ok((read, write)) => (write, read),
                Err(errno) => {
                    let _ = writeln!(Writer(ring), "sh: pipe: {errno}");
                    break;
                }
            }
        };
        match start(ring, &stage, input, output) {
            Ok(child) => children[index] = Some(child),
            Err(errno) => {
                let _ = writeln!(Writer(ring), "sh: {}: {}", stage.program(), explain(errno));
            }
        }
        // The children hold the pipe ends now; the shell's copies would
        // keep a reader from ever seeing end of file.
        if input != 0 {
            let _ = rt::fs::close(ring, input);
        }
        if output != 1 {
            let _ = rt::fs::close(ring, output);
        }
        input = next_input;
    }
    if input != 0 {
        let _ = rt::fs::close(ring, input);
    }
    // 127, as a POSIX shell says when the last command could not start.
    let mut status = 127;
    for (index, child) in children.iter().enumerate() {
        let Some(child) = *child else {
            continue;
        };
        let name = pipeline.stage(index).program();
        let code = match process::wait(ring, child) {
            Ok(WaitStatus::Exited(code)) => {
                if code != 0 {
                    let _ = writeln!(Writer(ring), "sh: {name} exited with status {code}");
                }
                code
            }
            Ok(WaitStatus::Signaled(signal)) => {
                let _ = writeln!(Writer(ring), "sh: {name} was killed by signal {signal}");
                128 + signal
            }
            Err(errno) => {
                let _ = writeln!(Writer(ring), "sh: waiting for {name}: {errno}");
                1
            }
        };
        if index + 1 == pipeline.len() {
            status = code;
        }
    }
    status
}

/// What a spawn error means to someone at the prompt.
fn explain(errno: Errno) -> &'static str {
    match errno {
        Errno::ENOENT => "not found (programs are in bin/; try `help`)",
        Errno::EACCES => "not a program",
        Errno::ENOEXEC => "not an executable this kernel can load",
        Errno::E2BIG => "the arguments are too long",
        _ => "could not start",
    }
}
