//! TLB shootdown as a completion event.
//!
//! ```text
//!  initiator (a task)                         each other CPU with the space loaded
//!  ------------------                         ------------------------------------
//!  unhook the PTEs (the caller)
//!  flush its own TLB
//!  queue a request per target, send IPIs ───> SHOOTDOWN_VECTOR handler:
//!  await the countdown (1 s timeout)            flush (if the space is still loaded)
//!        <──────────────────────────────────    mark itself answered, signal
//!  free the frames (the caller)
//! ```
//!
//! Which CPUs need an IPI: each CPU publishes the page table it has loaded
//! ([`switch_to`], from `Space::activate` and `paging::activate_kernel`);
//! a CPU not running user code holds the kernel's, so idle CPUs get none.
//! A CPU that loads the space after the initiator looked has reloaded CR3
//! after the unhook, so it cannot hold a stale entry: the initiator reads
//! the loaded set only after the page-table change (SeqCst on both sides).
//!
//! Invalidations are gathered as in Linux's `mmu_gather`: single pages up
//! to [`FLUSH_CEILING`], a full flush beyond it.  Frames are freed only
//! after every acknowledgement.  A CPU that does not answer within
//! [`TIMEOUT_NS`] is named in a panic: a stale TLB entry would let a
//! process touch a frame that belongs to someone else by then.
//!
//! IPI handlers run only when their CPU is idle or in user mode (kernel
//! code runs with interrupts off), so a target may answer only when it
//! leaves the kernel: a shootdown waits at most for one kernel path.

use crate::arch::percpu::MAX_CPUS;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use executor::CountdownCompletion;
use spin::Mutex;
use x86_64::PhysAddr;

/// Past this many pages, one full flush is cheaper than page-by-page
/// `invlpg` (Linux's ceiling).
pub const FLUSH_CEILING: usize = 33;
/// How long the targets have to answer.
pub const TIMEOUT_NS: u64 = 1_000_000_000;
/// The IPI vector.
pub const SHOOTDOWN_VECTOR: u8 = 0xf5;

/// The invalidations of one change to a space.
#[derive(Default, Debug)]
pub struct Gather {
    pages: Vec<u64>,
    full: bool,
}

impl Gather {
    /// Adds the page at `virt`.
    pub fn page(&mut self, virt: u64) {
        if self.full {
            return;
        }
        if self.pages.len() == FLUSH_CEILING {
            self.full = true;
            self.pages = Vec::new();
        } else {
            self.pages.push(virt);
        }
    }

    /// Adds `other`'s invalidations to these.
    pub fn absorb(&mut self, other: Gather) {
        if other.full {
            self.full = true;
            self.pages = Vec::new();
        } else {
            for page in other.pages {
                self.page(page);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.full && self.pages.is_empty()
    }

    /// Invalidates on this CPU.
    fn flush_local(&self) {
        if self.full {
            crate::mm::paging::flush_all_user();
        } else {
            for &page in &self.pages {
                x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(page));
            }
        }
    }
}

struct Request {
    pml4: u64,
    gather: Gather,
    /// Bit `n`: CPU `n` has answered.
    answered: AtomicU64,
    done: CountdownCompletion,
}

/// The page table each CPU has loaded (physical address of its PML4).
static LOADED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The page table each CPU is switching away from: still in use until its
/// CR3 write, though `LOADED` already names the next one (0: none).
static LEAVING: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Signalled after a CPU has switched away from a page table.
static UNLOADED: executor::Event = executor::Event::new();
/// The room a CPU's request queue keeps.
const QUEUE_ROOM: usize = 8;
/// Requests waiting for each CPU's handler.
static QUEUES: [Mutex<VecDeque<Arc<Request>>>; MAX_CPUS] =
    [const { Mutex::new(VecDeque::new()) }; MAX_CPUS];

/// Loads the page table at `pml4` on this CPU with `write_cr3`, noting it
/// first: a shootdown that reads the loaded set after a page-table change
/// then reaches this CPU (see the module docs).  The table it leaves stays
/// noted as in use until the CR3 write is done, and its waiters
/// ([`unloaded_everywhere`]) hear of the switch after it.
pub fn switch_to(pml4: u64, write_cr3: impl FnOnce()) {
    let cpu = crate::arch::percpu::cpu_index();
    let old = LOADED[cpu].load(Ordering::Relaxed);
    LEAVING[cpu].store(old, Ordering::SeqCst);
    LOADED[cpu].store(pml4, Ordering::SeqCst);
    write_cr3();
    LEAVING[cpu].store(0, Ordering::SeqCst);
    if old != pml4 {
        // A fence and a load when nobody waits.
        UNLOADED.wake_all();
    }
}

/// Whether some CPU, this one included, has `pml4` loaded or is switching
/// away from it: a space's tables may be freed only once none has.
pub fn is_loaded_anywhere(pml4: u64) -> bool {
    (0..crate::arch::percpu::online_count()).any(|cpu| {
        LOADED[cpu].load(Ordering::SeqCst) == pml4 || LEAVING[cpu].load(Ordering::SeqCst) == pml4
    })
}

/// Completes once no CPU has `pml4` loaded: the CPU loops switch to the
/// kernel's table when they give a thread up, and each switch signals.
pub async fn unloaded_everywhere(pml4: u64) {
    UNLOADED.wait_until(|| !is_loaded_anywhere(pml4)).await;
}

/// The CPUs other than this one that have `pml4` loaded now.
fn cpus_with(pml4: u64) -> u64 {
    let me = crate::arch::percpu::cpu_index();
    let online = crate::arch::percpu::online_count();
    (0..online)
        .filter(|&cpu| cpu != me && LOADED[cpu].load(Ordering::SeqCst) == pml4)
        .fold(0, |set, cpu| set | 1 << cpu)
}

/// Invalidates `gather` for the space whose PML4 is at `pml4` on every CPU
/// that may cache it, and resolves once all have.  The caller has already
/// unhooked the entries and frees their frames after this returns.
pub async fn shootdown(pml4: u64, gather: Gather) {
    begin(pml4, gather).wait().await;
}

/// A shootdown whose IPIs are out: [`Pending::wait`] resolves when every
/// target has answered.
pub struct Pending {
    request: Option<Arc<Request>>,
    targets: u64,
}

/// Starts a shootdown at once (the synchronous half of [`shootdown`]):
/// flushes this CPU, and queues the request and sends the IPI to every
/// other CPU with the space loaded.
pub fn begin(pml4: u64, gather: Gather) -> Pending {
    let done = Pending {
        request: None,
        targets: 0,
    };
    if gather.is_empty() {
        return done;
    }
    // The entries were changed before this point; a CPU that loads the
    // space after the fence walks the new entries (its CR3 write flushed
    // the old ones), one that loaded it before is in `cpus_with`.
    core::sync::atomic::fence(Ordering::SeqCst);
    if LOADED[crate::arch::percpu::cpu_index()].load(Ordering::SeqCst) == pml4 {
        gather.flush_local();
    }
    let targets = cpus_with(pml4);
    if targets == 0 {
        return done;
    }
    let request = Arc::new(Request {
        pml4,
        gather,
        answered: AtomicU64::new(0),
        done: CountdownCompletion::new(targets.count_ones() as usize),
    });
    for cpu in (0..MAX_CPUS).filter(|cpu| targets & 1 << cpu != 0) {
        {
            let _irq = crate::arch::InterruptGuard::new();
            QUEUES[cpu].lock().push_back(request.clone());
        }
        crate::arch::apic::send_to_cpu(cpu, SHOOTDOWN_VECTOR);
    }
    Pending {
        request: Some(request),
        targets,
    }
}

impl Pending {
    /// Whether no other CPU had to be asked (this CPU's flush was all).
    pub fn is_done(&self) -> bool {
        self.request.is_none()
    }

    /// Resolves once every target CPU has flushed.  A CPU silent past
    /// [`TIMEOUT_NS`] is a kernel bug: the panic names it.
    pub async fn wait(self) {
        let Some(request) = self.request else {
            return;
        };
        // Whatever the wait's outcome, room a burst left in the queues (the
        // handler cannot free it: it runs in an interrupt) goes back.  Every
        // initiator does this once its CPUs have answered, so the last one
        // finds the queues empty and leaves each with exactly its room.
        let _give_back_room = GiveBackRoom(self.targets);
        let deadline = crate::time::now_ns() + TIMEOUT_NS;
        if executor::timeout(request.done.wait(), deadline)
            .await
            .is_err()
        {
            let silent = self.targets & !request.answered.load(Ordering::Acquire);
            panic!(
                "TLB shootdown: CPUs {:?} did not answer within {} ms",
                (0..MAX_CPUS)
                    .filter(|cpu| silent & 1 << cpu != 0)
                    .collect::<Vec<_>>(),
                TIMEOUT_NS / 1_000_000
            );
        }
    }
}

/// For a caller that cannot wait (an op pinning its buffer): starts the
/// shootdown of `gather` now and drops the `stale` frame's owner once it
/// has completed, on a task of its own.  The IPIs go out before this
/// returns, so other CPUs drop the old entries at their next instruction.
pub fn settle(pml4: u64, gather: Gather, stale: Option<PhysAddr>) {
    let pending = begin(pml4, gather);
    if pending.is_done() {
        if let Some(frame) = stale {
            crate::mm::frame::global::release(frame);
        }
        return;
    }
    let runtime = crate::sched::runtime().expect("ops run under the executors");
    runtime
        .spawn(async move {
            pending.wait().await;
            if let Some(frame) = stale {
                crate::mm::frame::global::release(frame);
            }
        })
        .detach();
}

/// On drop, shrinks the empty queues of the CPUs in the mask to their room.
struct GiveBackRoom(u64);

impl Drop for GiveBackRoom {
    fn drop(&mut self) {
        for cpu in (0..MAX_CPUS).filter(|cpu| self.0 & 1 << cpu != 0) {
            let _irq = crate::arch::InterruptGuard::new();
            let mut queue = QUEUES[cpu].lock();
            if queue.is_empty() && queue.capacity() > QUEUE_ROOM {
                queue.shrink_to(QUEUE_ROOM);
            }
        }
    }
}

/// The IPI handler: serves every request queued for this CPU.
fn on_shootdown(_frame: &mut crate::arch::trap::TrapFrame) {
    let me = crate::arch::percpu::cpu_index();
    loop {
        let request = QUEUES[me].lock().pop_front();
        let Some(request) = request else {
            return;
        };
        // A CPU that switched away since flushed with the CR3 write.
        if LOADED[me].load(Ordering::SeqCst) == request.pml4 {
            request.gather.flush_local();
        }
        request.answered.fetch_or(1 << me, Ordering::AcqRel);
        request.done.signal();
    }
}

/// Gives each of the first `cpus` request queues its room, at boot: a
/// queue then has exactly that room whenever it is empty (a burst's extra
/// room goes back at the next request), so the leak checks can compare the
/// heap exactly before and after a test.
pub fn reserve_queues(cpus: usize) {
    for queue in &QUEUES[..cpus] {
        let _irq = crate::arch::InterruptGuard::new();
        queue.lock().reserve_exact(QUEUE_ROOM);
    }
}

/// Installs the IPI handler.
pub fn register_handler() {
    crate::arch::trap::register(SHOOTDOWN_VECTOR, on_shootdown);
}
