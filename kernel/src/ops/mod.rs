//! The operations behind the opcodes.  Each SQE becomes an op future;
//! `ring::enter` polls it once and posts its CQE at once if it is done,
//! otherwise it runs as a task on the executor and posts when it finishes.
//!
//! - `nop`: NOP;
//! - `rw`: READ and WRITE on the console, initfs files and pipes;
//! - `pipe`: PIPE;
//! - `mm`: MMAP, MUNMAP, MPROTECT, REMAP_PAGES and VM_QUERY;
//! - `process`: PROCESS_SPAWN, SPACE_CLONE, WAIT and MSG_RING;
//! - `thread`: THREAD_SPAWN;
//! - `futex`: FUTEX_WAIT and FUTEX_WAKE;
//! - `stats`: MEM_STATS;
//! - `fs`: OPENAT, CLOSE and STATX on the initfs;
//! - `timeout`: TIMEOUT (and the deadline of LINK_TIMEOUT, which
//!   `ring::submit` runs with ASYNC_CANCEL and the links).
//!
//! What is not here yet is refused with a clear errno: an opcode the ABI
//! defines but the kernel does not run yet gets `EOPNOTSUPP`; an unknown
//! opcode or flag bit, or a field the op does not use set, gets `EINVAL`
//! (`ring::check`, before the op starts).

// `deny`, not `forbid`: `ktest!` registrations are the one allowed form.
#![deny(unsafe_code)]

mod fs;
mod futex;
mod mm;
mod nop;
mod pipe;
mod process;
mod rw;
pub mod stats;
mod thread;
pub mod timeout;

use crate::mm::pin::PinnedBuffer;
use crate::proc::process::Process;
use abi::{Errno, Opcode, Sqe};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;

/// An operation still running: it resolves to the CQE's `res`.
pub type OpFuture = Pin<Box<dyn Future<Output = i32> + Send>>;

/// What starting an operation gave.
pub enum Started {
    /// Finished at once: the CQE's `res`.
    Done(i32),
    Running(RunningOp),
    /// A page of its buffer carries the most pins it may (`mm::pin`), so
    /// it has not started and changed nothing (ops pin before they act):
    /// start it again with [`start_when_pins_drop`].  A variant, not an
    /// errno, so that every caller must handle it and no user sees it.
    PinBusy,
}

/// An operation that did not finish at once: its future, and the user
/// buffer it uses, pinned until the op's CQE is posted.  The future holds
/// the buffer too, but a future drops what it holds when it completes,
/// before the CQE goes out; this keeps the pin past that, so a `MUNMAP`
/// waiting for it completes after the op's CQE, never before.
pub struct RunningOp {
    pub future: OpFuture,
    pub pinned: Option<Arc<PinnedBuffer>>,
}

/// An op running `future`, with no buffer of its own.
impl From<OpFuture> for Started {
    fn from(future: OpFuture) -> Self {
        Started::Running(RunningOp {
            future,
            pinned: None,
        })
    }
}

impl Started {
    /// An op running `future`, which uses `buffer`.
    pub fn running_with(
        buffer: Arc<PinnedBuffer>,
        future: impl Future<Output = i32> + Send + 'static,
    ) -> Self {
        Started::Running(RunningOp {
            future: Box::pin(future),
            pinned: Some(buffer),
        })
    }
}

impl From<Result<u32, Errno>> for Started {
    fn from(result: Result<u32, Errno>) -> Self {
        Started::Done(match result {
            Ok(value) => i32::try_from(value).unwrap_or(i32::MAX),
            Err(errno) => errno.as_res(),
        })
    }
}

/// What an operation may touch.
#[derive(Clone)]
pub struct Context {
    pub process: Arc<Process>,
}

/// Starts the operation `sqe` names, once it passes `ring::check`.
pub fn start(sqe: &Sqe, context: &Context) -> Started {
    match crate::ring::check::check(sqe) {
        Err(errno) => Started::Done(errno.as_res()),
        Ok(opcode) => start_op(opcode, sqe, context),
    }
}

/// How an op starts: the function behind an opcode.
type Start = fn(&Sqe, &Context) -> Started;

/// `$start` as a [`Start`] whose `ERESTARTSYS`, `PinnedBuffer::new`'s
/// answer at the pin depth (which ops pass on as any error), becomes
/// [`Started::PinBusy`]: the one way it reaches the ring.
macro_rules! may_pin {
    ($start:path) => {{
        fn start(sqe: &Sqe, context: &Context) -> Started {
            match $start(sqe, context) {
                Started::Done(PIN_BUSY) => Started::PinBusy,
                started => started,
            }
        }
        start as Start
    }};
}

/// Every opcode's start function, indexed by its wire value.  A table
/// rather than a `match`: each op is its own function with its own frame,
/// so a cheap op pays for a load and a call, not for the biggest op's
/// prologue.  Every op but NOP is wrapped in `may_pin!`, so an op that
/// comes to pin a buffer needs nothing more; NOP, which has no fields at
/// all, pays nothing for it (4 instructions per NOP).
static OPS: [Option<Start>; 256] = {
    let mut table: [Option<Start>; 256] = [None; 256];
    table[Opcode::Nop as usize] = Some(nop::start);
    table[Opcode::Write as usize] = Some(may_pin!(rw::write));
    table[Opcode::Read as usize] = Some(may_pin!(rw::read));
    table[Opcode::ProcessSpawn as usize] = Some(may_pin!(process::spawn));
    table[Opcode::OpenAt as usize] = Some(may_pin!(fs::openat));
    table[Opcode::Close as usize] = Some(may_pin!(fs::close));
    table[Opcode::Statx as usize] = Some(may_pin!(fs::statx));
    table[Opcode::Timeout as usize] = Some(may_pin!(timeout::start));
    // `ring::submit` runs these itself; alone here they are misplaced.
    table[Opcode::LinkTimeout as usize] = Some(misplaced);
    table[Opcode::AsyncCancel as usize] = Some(misplaced);
    table[Opcode::Wait as usize] = Some(may_pin!(process::wait));
    table[Opcode::MsgRing as usize] = Some(may_pin!(process::msg_ring));
    table[Opcode::ThreadSpawn as usize] = Some(may_pin!(thread::spawn));
    table[Opcode::FutexWait as usize] = Some(may_pin!(futex::wait));
    table[Opcode::FutexWake as usize] = Some(may_pin!(futex::wake));
    table[Opcode::MemStats as usize] = Some(may_pin!(stats::start));
    table[Opcode::Pipe as usize] = Some(may_pin!(pipe::start));
    table[Opcode::Mmap as usize] = Some(may_pin!(mm::mmap));
    table[Opcode::Munmap as usize] = Some(may_pin!(mm::munmap));
    table[Opcode::Mprotect as usize] = Some(may_pin!(mm::mprotect));
    table[Opcode::VmQuery as usize] = Some(may_pin!(mm::vm_query));
    table[Opcode::SpaceClone as usize] = Some(may_pin!(process::space_clone));
    table[Opcode::RemapPages as usize] = Some(may_pin!(mm::remap_pages));
    table
};

fn misplaced(_sqe: &Sqe, _context: &Context) -> Started {
    Started::Done(Errno::EINVAL.as_res())
}

/// Starts `sqe`, whose flags are checked and whose opcode is `opcode`.
/// [`Started::PinBusy`] says it could not pin its buffer yet: the caller
/// (the ring, which posts the CQE and so holds the buffer until then)
/// waits with [`start_when_pins_drop`].
///
/// Once free memory is down to the user reserve, an op that would leave
/// kernel memory behind ([`holds_kernel_memory`]) is `ENOMEM` before it
/// starts: a process cannot run the kernel heap dry with pending ops,
/// threads or pipes.  Ops that give memory back still run.
#[inline(always)]
pub fn start_op(opcode: Opcode, sqe: &Sqe, context: &Context) -> Started {
    if holds_kernel_memory(opcode) && !crate::mm::frame::global::user_room() {
        return Started::Done(Errno::ENOMEM.as_res());
    }
    match OPS[opcode as usize] {
        Some(start) => start(sqe, context),
        None => Started::Done(Errno::EOPNOTSUPP.as_res()),
    }
}

/// Whether `opcode` may leave the kernel holding memory for the process
/// after it starts: a pending op's task, a timer, a thread, a process, a
/// handle, a region, a CQE in another ring (a WAIT is a pending task
/// too).  The rest (NOP, CLOSE, MUNMAP, FUTEX_WAKE, the queries) finish at
/// once and free more than they take; they run even when memory is short,
/// so a process can always clean up.
pub const fn holds_kernel_memory(opcode: Opcode) -> bool {
    !matches!(
        opcode,
        Opcode::Nop
            | Opcode::AsyncCancel
            | Opcode::Close
            | Opcode::Statx
            | Opcode::Munmap
            | Opcode::FutexWake
            | Opcode::VmQuery
            | Opcode::MemStats
    )
}

/// What an op's start function gives when a page of its buffer carries
/// the most pins it may: `may_pin!` turns it into [`Started::PinBusy`].
const PIN_BUSY: i32 = Errno::ERESTARTSYS.as_res();

/// Runs an op from how it `started` to its result, first starting it again
/// each time a page at the pin depth loses a pin if it was
/// [`Started::PinBusy`].  The buffer it pins is put in `pinned`, for the
/// caller to hold until it has posted the op's CQE (the future drops what
/// it holds when it ends, or when the caller drops it: a cancel, a link
/// timeout).
pub async fn run_to_end(
    sqe: &Sqe,
    context: &Context,
    started: Started,
    pinned: &mut Option<Arc<PinnedBuffer>>,
) -> i32 {
    let mut started = started;
    loop {
        match started {
            Started::Done(res) => return res,
            Started::Running(RunningOp {
                future,
                pinned: buffer,
            }) => {
                *pinned = buffer;
                return future.await;
            }
            Started::PinBusy => started = start_when_pins_drop(sqe, context).await,
        }
    }
}

/// Waits until a page at the pin depth has lost a pin since the last
/// attempt, and starts `sqe` again.
async fn start_when_pins_drop(sqe: &Sqe, context: &Context) -> Started {
    // Taken before the attempt: a pin dropped during it is not missed.
    let mark = crate::mm::frame::global::pin_room_mark();
    match start(sqe, context) {
        Started::PinBusy => {
            crate::mm::frame::global::pin_room_since(mark).await;
            Started::PinBusy
        }
        started => started,
    }
}

#[cfg(not(test))]
mod ktests {
    use crate::proc::process::ExitStatus;
    use crate::proc::spawn::spawn;

    async fn run(path: &str) -> Result<ExitStatus, alloc::string::String> {
        run_with(&[path]).await
    }

    /// Runs `arguments[0]` with `arguments` twice, the second time inside
    /// a leak check: the harness fails the run unless every frame and slab
    /// object the second run took came back once it was gone.  The first
    /// run lets the kernel's tables (run queues, executor queues, handle
    /// tables) grow to what the program needs; what they keep is theirs,
    /// not a leak.
    async fn run_with(arguments: &[&str]) -> Result<ExitStatus, alloc::string::String> {
        let path = arguments[0];
        let once = async || {
            let process =
                spawn(path, arguments).map_err(|e| alloc::format!("spawning {path}: {e}"))?;
            Ok::<_, alloc::string::String>(process.wait().await)
        };
        let warm_up = once().await?;
        let watch = crate::mm::memcheck::begin(path).await;
        let status = once().await?;
        watch.end().await;
        if !same_ending(warm_up, status) {
            return Err(alloc::format!(
                "{path} ended with {warm_up:?}, then with {status:?}"
            ));
        }
        Ok(status)
    }

    /// Whether two runs ended alike: a fault's address may differ (the
    /// layout is randomized per process), not its kind.
    fn same_ending(one: ExitStatus, other: ExitStatus) -> bool {
        match (one, other) {
            (ExitStatus::Killed(one), ExitStatus::Killed(other)) => {
                (one.vector, one.error_code) == (other.vector, other.error_code)
            }
            _ => one == other,
        }
    }

    crate::ktest!(
        async fn hello_writes_through_the_ring() {
            crate::ensure_eq!(run("bin/hello").await?, ExitStatus::Exited(0));
            Ok(())
        }
    );

    crate::ktest!(
        async fn async_tasks_await_their_cqes_in_deadline_order() {
            // The program checks its own results, order and cancel, and
            // exits with the number of checks that failed.
            crate::ensure_eq!(run("bin/asyncdemo").await?, ExitStatus::Exited(0));
            Ok(())
        }
    );

    crate::ktest!(
        async fn the_user_heap_serves_threads_and_fails_cleanly_when_full() {
            // Exits with the number of failed checks; it checks in a child
            // that running out of memory exits 101.
            crate::ensure_eq!(run("bin/heaptest").await?, ExitStatus::Exited(0));
            Ok(())
        }
    );

    crate::ktest!(
        async fn init_runs_the_demos_and_exits_cleanly() {
            // Quick: the threads demo with 300 threads (10,000 is
            // `scripts/run`'s).
            crate::ensure_eq!(
                run_with(&["bin/init", "quick"]).await?,
                ExitStatus::Exited(0)
            );
            Ok(())
        }
    );

    crate::ktest!(
        async fn threads_run_join_and_stop_with_their_process() {
            crate::ensure_eq!(run("bin/threadtest").await?, ExitStatus::Exited(0));
            Ok(())
        }
    );

    crate::ktest!(
        async fn two_thousand_threads_block_on_a_futex_and_leave_nothing_behind() {
            // Enough threads that anything kept per thread (a run queue's
            // room, a table's) exceeds the demo's residue limit.
            crate::ensure_eq!(
                run_with(&["bin/threads", "2000"]).await?,
                ExitStatus::Exited(0)
            );
            Ok(())
        }
    );

    crate::ktest!(
        async fn a_process_exits_with_two_thousand_threads_blocked() {
            // Every thread is ended as the CPU loops find them; the loop
            // once nested on its stack for each, and overflowed it.
            crate::ensure_eq!(
                run_with(&["bin/threads", "2000", "exit"]).await?,
                ExitStatus::Exited(0)
            );
            Ok(())
        }
    );

    /// Runs a test program that exits with the number of its checks that
    /// failed.
    async fn checks_pass(path: &str) -> Result<(), alloc::string::String> {
        match run(path).await? {
            ExitStatus::Exited(0) => Ok(()),
            ExitStatus::Exited(failed) => Err(alloc::format!(
                "{path}: {failed} checks failed (see its output)"
            )),
            other => Err(alloc::format!("{path} ended with {other:?}")),
        }
    }

    crate::ktest!(
        async fn mmaptest_passes_every_check() {
            checks_pass("bin/mmaptest").await
        }
    );

    crate::ktest!(
        async fn cow_fork_copies_on_write_and_shares_what_is_shared() {
            checks_pass("bin/cow").await
        }
    );

    crate::ktest!(
        async fn faults_demo_finds_zeroed_pages_that_keep_their_data() {
            // 64 pages: the demo checks each for zeroes, the byte written
            // and the resident count (its timing is never judged).
            crate::ensure_eq!(
                run_with(&["bin/faults", "64"]).await?,
                ExitStatus::Exited(0)
            );
            Ok(())
        }
    );

    crate::ktest!(
        async fn filemap_maps_initfs_files_and_keeps_the_image_kernel_only() {
            checks_pass("bin/filemap").await
        }
    );

    crate::ktest!(
        async fn munmap_waits_for_the_pins_and_pins_past_the_depth_wait() {
            checks_pass("bin/pin").await
        }
    );

    crate::ktest!(
        async fn vmquery_shows_each_kind_of_mapping() {
            checks_pass("bin/vmquery").await
        }
    );

    crate::ktest!(
        async fn shootdown_demo_leaves_no_stale_translation() {
            // Readers on the other CPUs must see each round's new page.
            crate::ensure_eq!(
                run_with(&["bin/shootdown", "1", "20"]).await?,
                ExitStatus::Exited(0)
            );
            Ok(())
        }
    );

    crate::ktest!(
        async fn pipetest_passes_every_check() {
            checks_pass("bin/pipetest").await
        }
    );

    crate::ktest!(
        async fn no_op_reaches_another_process_or_the_kernel() {
            checks_pass("bin/isolation").await
        }
    );

    crate::ktest!(
        async fn spawn_tree_statuses_add_up() {
            crate::ensure_eq!(run_with(&["bin/spawn", "3"]).await?, ExitStatus::Exited(0));
            Ok(())
        }
    );

    crate::ktest!(
        async fn a_prot_none_read_kills_its_process() {
            // The crash report's backtrace is checked by the harness's
            // `crash-report/*` cases.
            match run("bin/protnone").await? {
                ExitStatus::Killed(fault) => {
                    crate::ensure_eq!(fault.vector, 14);
                    // A user-mode read of a present page (the frame stays).
                    crate::ensure_eq!(fault.error_code & 0b111, 0b101);
                    Ok(())
                }
                other => Err(alloc::format!("expected a page-fault kill, got {other:?}")),
            }
        }
    );

    crate::ktest!(
        async fn a_thread_off_its_stack_kills_its_process_for_a_bad_stack() {
            crate::ensure_eq!(run("bin/stackguard").await?, ExitStatus::BadStack);
            crate::ensure_eq!(ExitStatus::BadStack.wait_status(), 11);
            Ok(())
        }
    );

    crate::ktest!(
        async fn fuzzing_finds_no_violation_kill_or_leak() {
            // A fixed seed, so a failure here reproduces; `scripts/fuzz`
            // runs new seeds and longer campaigns.
            let args = ["bin/fuzz", "0x7e57", "12000"];
            let process = spawn(args[0], &args).map_err(|e| alloc::format!("{e}"))?;
            match process.wait().await {
                ExitStatus::Exited(0) => Ok(()),
                other => Err(alloc::format!("bin/fuzz ended {other:?} (see its output)")),
            }
        }
    );

    crate::ktest!(
        async fn races_between_threads_lose_and_leak_nothing() {
            checks_pass("bin/racetest").await
        }
    );

    crate::ktest!(
        async fn ringtest_passes_every_check() {
            checks_pass("bin/ringtest").await
        }
    );
}
