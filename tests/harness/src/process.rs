//! Running one QEMU process: `run` spawns it, hands its serial output
//! (QEMU's stdout) to a callback as it arrives, enforces the timeout and
//! returns an `Ending`.  `Guard` makes sure no QEMU outlives its run, on
//! every path: normal exit, timeout, error return, and (via the parent-death
//! signal) the harness itself being killed or aborting.

use std::ffi::{c_int, c_ulong};
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::qemu::QemuExit;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(QemuExit),
    /// The harness killed QEMU after this long.
    TimedOut(Duration),
}

/// What `run` reports besides the output it already streamed.
#[derive(Debug)]
pub struct Finished {
    pub ending: Ending,
    /// QEMU's stderr, when it was captured (test mode).
    pub stderr: String,
}

/// Where QEMU's stdin and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// `harness run`: the user's terminal reaches the guest's serial port.
    Interactive,
    /// `harness test`: `input` is typed at the guest's serial port, a line
    /// each time the guest prints `prompt` (all at once when `prompt` is
    /// empty: it waits in the pipe until the guest's UART takes it), as a
    /// person would, so echoed typing never lands inside the output of
    /// the line before; stderr is captured for failure reports.
    Batch {
        input: &'static [u8],
        prompt: &'static [u8],
    },
}

#[cfg(test)]
impl Io {
    /// No input, stderr captured: most test boots.
    pub const BATCH: Io = Io::Batch {
        input: b"",
        prompt: b"",
    };
}

/// Counts `prompt` in a stream that arrives in chunks (a prompt may be
/// split between two).
#[derive(Default)]
pub struct PromptCounter {
    carry: Vec<u8>,
}

impl PromptCounter {
    /// How many prompts end in `chunk`.
    pub fn feed(&mut self, prompt: &[u8], chunk: &[u8]) -> usize {
        if prompt.is_empty() {
            return 0;
        }
        self.carry.extend_from_slice(chunk);
        let (mut count, mut at, mut consumed) = (0, 0, 0);
        while at + prompt.len() <= self.carry.len() {
            if &self.carry[at..at + prompt.len()] == prompt {
                count += 1;
                at += prompt.len();
                consumed = at;
            } else {
                at += 1;
            }
        }
        // Keep only what could begin a prompt the next chunk completes.
        let keep_from = consumed.max(self.carry.len().saturating_sub(prompt.len() - 1));
        self.carry.drain(..keep_from);
        count
    }
}

/// How long QEMU gets to exit after SIGTERM (it then restores the
/// terminal) before it is SIGKILLed.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long to keep reading buffered output once QEMU has been killed.
const DRAIN: Duration = Duration::from_secs(1);

/// Runs `command` to completion or until `timeout` (None: no limit),
/// passing each chunk of its stdout to `on_output`.
pub fn run(
    mut command: Command,
    io: Io,
    timeout: Option<Duration>,
    on_output: &mut dyn FnMut(&[u8]),
) -> io::Result<Finished> {
    command.stdout(Stdio::piped());
    match io {
        Io::Interactive => command.stdin(Stdio::inherit()).stderr(Stdio::inherit()),
        Io::Batch { input: b"", .. } => command.stdin(Stdio::null()).stderr(Stdio::piped()),
        Io::Batch { .. } => command.stdin(Stdio::piped()).stderr(Stdio::piped()),
    };
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: it makes two raw syscalls
    // (prctl, getppid) and builds an `io::Error` from an errno, which does
    // not allocate.
    unsafe {
        command.pre_exec(move || die_with_parent(parent));
    }
    let start = Instant::now();
    let mut guard = Guard(command.spawn()?);
    // Written from a thread (the pipe holds only so much until the guest
    // reads), and kept open until QEMU is gone: QEMU treats end of input
    // as the user leaving.
    let (prompts, prompt_seen) = mpsc::channel::<()>();
    let prompt = match io {
        Io::Batch { prompt, .. } => prompt,
        Io::Interactive => b"",
    };
    if let (Io::Batch { input, prompt }, Some(mut stdin)) = (io, guard.0.stdin.take()) {
        thread::spawn(move || {
            use std::io::Write;
            for line in input.split_inclusive(|&byte| byte == b'\n') {
                if !prompt.is_empty() && prompt_seen.recv().is_err() {
                    break;
                }
                let _ = stdin.write_all(line);
                let _ = stdin.flush();
            }
            thread::sleep(Duration::from_secs(24 * 60 * 60));
        });
    }
    let mut counter = PromptCounter::default();

    let stdout = guard.0.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || pump(stdout, sender));
    let (stderr_sender, stderr_receiver) = mpsc::channel();
    if let Some(mut stderr) = guard.0.stderr.take() {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            let _ = stderr_sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }

    let deadline = timeout.map(|t| start + t);
    let mut timed_out = false;
    loop {
        let message = match deadline {
            None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => {
                receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
        };
        match message {
            Ok(chunk) => {
                for _ in 0..counter.feed(prompt, &chunk) {
                    let _ = prompts.send(());
                }
                on_output(&chunk)
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                timed_out = true;
                guard.terminate();
                let drain_until = Instant::now() + DRAIN;
                while let Ok(chunk) =
                    receiver.recv_timeout(drain_until.saturating_duration_since(Instant::now()))
                {
                    on_output(&chunk);
                }
                break;
            }
        }
    }

    // Stdout is closed; QEMU exits right after, but keep to the deadline.
    let status = loop {
        if let Some(status) = guard.0.try_wait()? {
            break Some(status);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            guard.terminate();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let ending = match status {
        Some(status) if !timed_out => Ending::Exited(QemuExit::from_status(status)),
        _ => Ending::TimedOut(timeout.unwrap_or_default()),
    };
    // The readers are not joined: a stray grandchild could hold the pipes
    // open forever.  QEMU itself is gone, so its stderr is complete or
    // about to be.
    let stderr = stderr_receiver.recv_timeout(DRAIN).unwrap_or_default();
    Ok(Finished { ending, stderr })
}

/// Forwards stdout in chunks, so partial lines (prompts) reach the caller
/// without waiting for a newline.
fn pump(mut stdout: impl Read, sender: mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stdout.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if sender.send(buffer[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Owns the QEMU child and kills it if it is still running when dropped.
struct Guard(Child);

impl Guard {
    /// SIGTERM first so QEMU can restore the terminal, then SIGKILL.
    fn terminate(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = c_int::try_from(self.0.id()) {
            // SAFETY: `pid` is our own child, not yet reaped (try_wait just
            // said it is running), so the pid cannot have been reused.
            unsafe { kill(pid, SIGTERM) };
            let until = Instant::now() + TERM_GRACE;
            while Instant::now() < until {
                if !matches!(self.0.try_wait(), Ok(None)) {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.terminate();
    }
}

const PR_SET_PDEATHSIG: c_int = 1;
const SIGKILL: c_int = 9;
const SIGTERM: c_int = 15;

// libc is linked by std anyway; declaring the three calls we need avoids a
// dependency on the `libc` crate.
unsafe extern "C" {
    fn prctl(option: c_int, ...) -> c_int;
    fn getppid() -> c_int;
    fn kill(pid: c_int, signal: c_int) -> c_int;
}

/// Runs in the child between fork and exec: asks Linux to SIGKILL QEMU when
/// the thread that spawned it dies, which covers Ctrl-C, `kill` and aborts
/// of the harness.  The spawning thread is always the main thread, which
/// lives as long as the harness.
fn die_with_parent(parent: u32) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) only sets a flag on this process.
    if unsafe { prctl(PR_SET_PDEATHSIG, SIGKILL as c_ulong) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The parent may have died before the flag was set; then nobody would
    // ever kill this child, so refuse to exec.
    // SAFETY: getppid has no preconditions.
    if u32::try_from(unsafe { getppid() }).ok() != Some(parent) {
        return Err(io::Error::from_raw_os_error(3)); // ESRCH
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn prompts_are_counted_across_chunks_and_never_twice() {
        let mut counter = PromptCounter::default();
        assert_eq!(counter.feed(b"$ ", b"boot log\n$ "), 1);
        assert_eq!(counter.feed(b"$ ", b"out\n$"), 0, "half a prompt");
        assert_eq!(counter.feed(b"$ ", b" "), 1, "completed by the next chunk");
        assert_eq!(counter.feed(b"$ ", b"$ $ x"), 2);
        assert_eq!(counter.feed(b"$ ", b""), 0, "nothing counts twice");
        assert_eq!(counter.feed(b"", b"$ "), 0, "no prompt, no count");
    }

    #[test]
    fn streams_output_and_decodes_exit() {
        let mut output = Vec::new();
        let finished = run(
            shell("printf 'a\\nb'; echo oops >&2; exit 33"),
            Io::BATCH,
            Some(Duration::from_secs(20)),
            &mut |chunk| output.extend_from_slice(chunk),
        )
        .unwrap();
        assert_eq!(output, b"a\nb");
        assert_eq!(finished.ending, Ending::Exited(QemuExit::TestsPassed));
        assert_eq!(finished.stderr, "oops\n");
    }

    #[test]
    fn timeout_kills_and_keeps_earlier_output() {
        let start = Instant::now();
        let mut output = Vec::new();
        let pid_file =
            std::env::temp_dir().join(format!("harness-test-{}.pid", std::process::id()));
        // `exec` so the shell itself is the sleeping process we must kill.
        let script = format!(
            "echo $$ > '{}'; echo booting; exec sleep 30",
            pid_file.display()
        );
        let timeout = Duration::from_millis(300);
        let finished = run(shell(&script), Io::BATCH, Some(timeout), &mut |chunk| {
            output.extend_from_slice(chunk)
        })
        .unwrap();
        assert_eq!(finished.ending, Ending::TimedOut(timeout));
        assert_eq!(output, b"booting\n");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let _ = std::fs::remove_file(&pid_file);
        // Killed and reaped: not even a zombie is left.
        let proc_entry = format!("/proc/{}", pid.trim());
        assert!(
            !std::path::Path::new(&proc_entry).exists(),
            "{proc_entry} still exists"
        );
    }

    #[test]
    fn spawn_failure_is_an_error_not_a_panic() {
        let result = run(
            Command::new("/nonexistent/qemu"),
            Io::BATCH,
            None,
            &mut |_| {},
        );
        assert!(result.is_err());
    }
}
