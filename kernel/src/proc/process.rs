//! A process: an address space, its threads, and how it ended.
//!
//! ```text
//! running ──exit(process) / fault──> exiting (status chosen; every thread
//!    │                               ends at its next kernel entry, which
//!    │                               an IPI hurries)
//!    └──last thread ends──────────> ended: the space is freed (no CPU can
//!                                   still hold it: only running threads
//!                                   load it), the status is published
//! ```
//!
//! The status is published once and announced on an `Event`, so any number
//! of waiters see it.

use crate::mm::space::Space;
use crate::ring::Ring;
use crate::sched::thread::Thread;
use abi::Errno;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::{AtomicU64, Ordering};
use executor::Event;
use spin::Mutex;

/// A fault that killed a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error_code: u64,
    /// CR2 for a page fault.
    pub address: u64,
}

impl Fault {
    pub fn name(&self) -> &'static str {
        crate::arch::exception_name(self.vector)
    }

    /// The signal Linux sends for this fault.
    pub fn signal(&self) -> i32 {
        const SIGILL: i32 = 4;
        const SIGTRAP: i32 = 5;
        const SIGBUS: i32 = 7;
        const SIGFPE: i32 = 8;
        const SIGKILL: i32 = 9;
        const SIGSEGV: i32 = 11;
        match self.vector {
            0 | 16 | 19 => SIGFPE,
            1 | 3 => SIGTRAP,
            6 => SIGILL,
            17 => SIGBUS,
            12..=14 => SIGSEGV,
            _ => SIGKILL,
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(status)`.
    Exited(i32),
    /// The kernel killed it for a fault.
    Killed(Fault),
    /// The kernel killed it because a page it touched could not get a
    /// frame: memory ran out.
    OutOfMemory,
    /// The kernel killed it because a thread entered the kernel with its
    /// stack pointer outside every stack region of the process.
    BadStack,
}

impl ExitStatus {
    /// The Linux `wait` status: `status << 8` for an exit, the signal
    /// number Linux would have sent for a fault.
    pub fn wait_status(self) -> i32 {
        match self {
            Self::Exited(status) => (status & 0xff) << 8,
            Self::Killed(fault) => fault.signal(),
            // As Linux's OOM killer: SIGKILL.
            Self::OutOfMemory => 9,
            // What Linux sends for a bad stack: SIGSEGV.
            Self::BadStack => 11,
        }
    }
}

/// A thread's last stack check: the region `[start, end]` its stack
/// pointer was in, as of `generation`.  Empty (`start > end`) at first.
#[derive(Clone, Copy, Debug)]
pub struct StackCache {
    generation: u64,
    start: u64,
    end: u64,
}

impl Default for StackCache {
    fn default() -> Self {
        Self {
            generation: u64::MAX,
            start: 1,
            end: 0,
        }
    }
}

pub struct Process {
    pub pid: u64,
    pub name: String,
    space: Mutex<Option<Space>>,
    /// Bumped whenever regions go or change ([`Process::regions_changed`]):
    /// a thread's cached stack region is good while this is unchanged.
    stack_generation: AtomicU64,
    /// The process's ring (ring 0).  In-flight operations hold it too, so
    /// it outlives the process's mapping of it.
    ring: Arc<Ring>,
    status: Mutex<Option<ExitStatus>>,
    exited: Event,
    pub handles: Mutex<super::handles::HandleTable>,
    /// Threads by index (an index is what a thread's results are delivered
    /// to); `None` once a thread has ended.
    threads: Mutex<Vec<Option<Arc<Thread>>>>,
    live_threads: AtomicUsize,
    /// Set when the whole process must end, with the status it ends with.
    exiting: Mutex<Option<ExitStatus>>,
    exiting_event: Event,
    /// Where the next kernel-provided thread stack goes.
    next_stack: AtomicU64,
    /// Announces every thread end (WAIT on a thread handle listens).
    pub thread_exits: Event,
    /// Futex waiters by user address (futexes are private to a process).
    pub futexes: Mutex<BTreeMap<u64, VecDeque<Arc<FutexWaiter>>>>,
}

/// One FUTEX_WAIT in progress.
#[derive(Default)]
pub struct FutexWaiter {
    pub woken: core::sync::atomic::AtomicBool,
    pub waker: Mutex<Option<core::task::Waker>>,
}

impl FutexWaiter {
    pub fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }
}

/// Thread stacks the kernel provides (THREAD_SPAWN without a stack) go
/// here, each `THREAD_STACK_BYTES` above an unmapped guard page.
pub const THREAD_STACK_AREA: u64 = 0x0000_7e00_0000_0000;
pub const THREAD_STACK_BYTES: u64 = 16 * 1024;
/// The address space one thread stack takes: the stack and its guard page.
pub const THREAD_STACK_SLOT: u64 = THREAD_STACK_BYTES + 4096;
/// The size of the thread-stack area: one stack region (`spawn` records
/// it) for every thread stack the kernel maps, guard pages included.
pub const THREAD_STACK_AREA_BYTES: u64 = 256 << 30;
/// The most threads a process may have at once.
pub const MAX_THREADS: usize = 1 << 16;

static NEXT_PID: AtomicU64 = AtomicU64::new(1);

impl Process {
    /// A process with `handles` (its standard input, output and error at
    /// least) and no thread yet.
    pub fn new(
        name: String,
        space: Space,
        ring: Arc<Ring>,
        handles: super::handles::HandleTable,
    ) -> Self {
        Self {
            pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
            name,
            space: Mutex::new(Some(space)),
            stack_generation: AtomicU64::new(0),
            ring,
            status: Mutex::new(None),
            exited: Event::new(),
            handles: Mutex::new(handles),
            threads: Mutex::new(Vec::new()),
            live_threads: AtomicUsize::new(0),
            exiting: Mutex::new(None),
            exiting_event: Event::new(),
            next_stack: AtomicU64::new(THREAD_STACK_AREA),
            futexes: Mutex::new(BTreeMap::new()),
            thread_exits: Event::new(),
        }
    }

    /// The program's ELF file, from the kernel-only region its space
    /// keeps it in (`Space::keep_image`); `None` once the space is gone.
    pub fn image(&self) -> Option<&'static [u8]> {
        self.with_space(|space| space.image()).flatten()
    }

    /// Adds a thread made by `make(index)` under the lowest free index.
    /// `EAGAIN` past [`MAX_THREADS`].
    pub fn add_thread(&self, make: impl FnOnce(u32) -> Arc<Thread>) -> Result<Arc<Thread>, Errno> {
        let mut threads = self.threads.lock();
        let index = match threads.iter().position(Option::is_none) {
            Some(index) => index,
            None if threads.len() < MAX_THREADS => {
                threads.push(None);
                threads.len() - 1
            }
            None => return Err(Errno::EAGAIN),
        };
        let thread = make(index as u32);
        threads[index] = Some(thread.clone());
        self.live_threads.fetch_add(1, Ordering::AcqRel);
        Ok(thread)
    }

    /// The live thread with `index`.
    pub fn thread(&self, index: u32) -> Option<Arc<Thread>> {
        self.threads.lock().get(index as usize).cloned().flatten()
    }

    /// Threads alive now.
    pub fn live_threads(&self) -> usize {
        self.live_threads.load(Ordering::Acquire)
    }

    /// Removes an ended thread; the last one ends the process with the
    /// exiting status, or else `status` (the last thread's own).  The caller
    /// has switched its CPU to the kernel page table.
    pub fn thread_ended(self: &Arc<Self>, index: u32, status: ExitStatus) {
        {
            let mut threads = self.threads.lock();
            if let Some(slot) = threads.get_mut(index as usize) {
                *slot = None;
            }
            super::handles::trim(&mut threads);
        }
        if self.live_threads.fetch_sub(1, Ordering::AcqRel) == 1 {
            let status = self.exiting.lock().unwrap_or(status);
            self.finish(status);
        }
    }

    /// Starts ending the whole process with `status` (the first reason
    /// wins).  Every thread ends at its next kernel entry.
    pub fn begin_exit(&self, status: ExitStatus) {
        self.exiting.lock().get_or_insert(status);
        self.exiting_event.wake_all();
        // Nothing may stay blocked: futex waits end, parked threads resume
        // (and end at once).
        let futexes = core::mem::take(&mut *self.futexes.lock());
        for waiter in futexes.values().flatten() {
            waiter.wake();
        }
        let threads: Vec<Arc<Thread>> = self.threads.lock().iter().flatten().cloned().collect();
        for thread in threads {
            thread.unpark();
        }
    }

    pub fn is_exiting(&self) -> bool {
        self.exiting.lock().is_some()
    }

    /// Waits until the process starts ending.
    pub async fn wait_exiting(&self) {
        self.exiting_event.wait_until(|| self.is_exiting()).await;
    }

    /// Reserves the address range of a new thread stack (with a guard page
    /// below it) and returns its top; `ENOMEM` once the thread-stack area
    /// is used up (ranges are not reused: a process may start about 13
    /// million threads in its life).
    pub fn reserve_thread_stack(&self) -> Result<u64, Errno> {
        let base = self
            .next_stack
            .fetch_add(THREAD_STACK_SLOT, Ordering::Relaxed);
        let top = base + THREAD_STACK_SLOT;
        if top > THREAD_STACK_AREA + THREAD_STACK_AREA_BYTES {
            return Err(Errno::ENOMEM);
        }
        Ok(top)
    }

    /// Places this process's next thread stacks where `parent`'s would go:
    /// a `SPACE_CLONE` child has a copy of the parent's stacks.
    pub fn continue_stacks_of(&self, parent: &Process) {
        let next = parent.next_stack.load(Ordering::Relaxed);
        self.next_stack.store(next, Ordering::Relaxed);
    }

    /// Unmaps the stack the kernel gave a thread that has ended, and frees
    /// its frames once no CPU can hold a stale TLB entry for it (a
    /// shootdown to the CPUs running the process's other threads).
    pub async fn release_thread_stack(&self, top: u64) {
        let bottom = top - THREAD_STACK_BYTES;
        let Some((frames, gather, pml4)) = self.with_space_mut(|space| {
            let (frames, gather) = space.unhook(bottom, THREAD_STACK_BYTES);
            (frames, gather, space.pml4().as_u64())
        }) else {
            return; // the process ended: its space took the stack with it
        };
        crate::mm::shootdown::shootdown(pml4, gather).await;
        for frame in frames {
            crate::mm::frame::global::release(frame);
        }
    }

    /// Says that regions were removed or changed: cached stack checks are
    /// made again.
    pub fn regions_changed(&self) {
        self.stack_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `rsp` lies in a stack region of this process (an entry's
    /// check, DESIGN.md section 8).  `cache` holds the last region found,
    /// valid while no region changed: the common case costs a load and
    /// two compares.
    pub fn stack_check(&self, rsp: u64, cache: &mut StackCache) -> bool {
        let generation = self.stack_generation.load(Ordering::Acquire);
        if cache.generation == generation && (cache.start..=cache.end).contains(&rsp) {
            return true;
        }
        match self
            .with_space(|space| space.stack_region_of(rsp))
            .flatten()
        {
            Some((start, end)) => {
                *cache = StackCache {
                    generation,
                    start,
                    end,
                };
                true
            }
            None => false,
        }
    }

    /// Runs `f` on the address space mutably; `None` once it is gone.
    pub fn with_space_mut<R>(&self, f: impl FnOnce(&mut Space) -> R) -> Option<R> {
        self.space.lock().as_mut().map(f)
    }

    /// Ring `id` of this process (only ring 0 exists).
    pub fn ring(&self, id: u64) -> Option<Arc<Ring>> {
        (id == 0).then(|| self.ring.clone())
    }

    /// Runs `f` on the address space; `None` once the process has ended.
    pub fn with_space<R>(&self, f: impl FnOnce(&Space) -> R) -> Option<R> {
        self.space.lock().as_ref().map(f)
    }

    /// Loads this process's page table on the calling CPU.
    pub fn activate_space(&self) {
        match self.space.lock().as_ref() {
            Some(space) => space.activate(),
            None => crate::mm::paging::activate_kernel(),
        }
    }

    /// Frees the address space (no thread of it runs any more) and the
    /// handles, cancels the ops still running, and once they are gone
    /// records how the process ended and wakes the waiters.  So when WAIT
    /// returns, nothing the process held is held any more: no pipe end, no
    /// pinned buffer, no timer.
    ///
    /// The page tables go only once no CPU has them loaded.  A CPU that
    /// has just given a thread of this process up (parked it, queued it,
    /// ended it) runs kernel code on them until its loop switches to the
    /// kernel's table, and the thread may meanwhile end the process on
    /// another CPU: freeing them then left that CPU walking freed tables
    /// (found by the stress at 8 CPUs: a kernel page fault on the kernel's
    /// own data, reported over and over).
    fn finish(self: &Arc<Self>, status: ExitStatus) {
        // Each op posts -ECANCELED and drops what it held, on its task.
        self.ring.close();
        let mut space = self.space.lock().take();
        if !space
            .as_ref()
            .is_some_and(|space| crate::mm::shootdown::is_loaded_anywhere(space.pml4().as_u64()))
        {
            drop(space.take());
        }
        // Taken out first: dropping handles may drop other processes.
        let handles = core::mem::take(&mut *self.handles.lock());
        drop(handles);
        if self.ring.inflight.is_idle() && space.is_none() {
            self.publish_status(status);
            return;
        }
        let process = self.clone();
        let runtime = crate::sched::runtime().expect("processes run under the executors");
        runtime
            .spawn(async move {
                process.ring.inflight.drained().await;
                if let Some(space) = space {
                    crate::mm::shootdown::unloaded_everywhere(space.pml4().as_u64()).await;
                    drop(space);
                }
                process.publish_status(status);
            })
            .detach();
    }

    fn publish_status(&self, status: ExitStatus) {
        let first = {
            let mut slot = self.status.lock();
            let first = slot.is_none();
            if first {
                *slot = Some(status);
            }
            first
        };
        if first {
            self.exited.wake_all();
        }
    }

    /// How the process ended, once it has.
    pub fn status(&self) -> Option<ExitStatus> {
        *self.status.lock()
    }

    /// Waits for the process to end.
    pub async fn wait(&self) -> ExitStatus {
        self.exited
            .wait_until(|| self.status.lock().is_some())
            .await;
        self.status().expect("woken before the status was set")
    }
}
