//! Where the kernel picks up after user mode: a syscall, or a trap (an
//! interrupt or exception) taken while a user thread ran.  Each entry
//! starts at the top of the CPU's kernel stack and never returns along the
//! way it came: it either resumes a thread (`arch::user::enter_user`) or
//! goes back to the CPU loop.
//!
//! Because nothing here returns, no local may own anything that needs a
//! drop when the entry leaves: every `Arc<Thread>` is handed on or dropped
//! explicitly before `enter_user` or `cpu_loop::restart`.

use super::thread::{self, Thread};
use crate::arch::percpu;
use crate::arch::user::{self, FxArea, Resume, UserRegisters};
use crate::mm::space::{Access, FaultError};
use crate::proc::process::{ExitStatus, Fault};
use crate::ring::enter::Outcome;
use abi::{Errno, Syscall};
use alloc::sync::Arc;

/// Why a trap entered the kernel.
#[derive(Clone, Copy, Debug)]
pub struct TrapCause {
    pub vector: u8,
    pub error_code: u64,
    pub fault_address: u64,
}

fn current_thread() -> Arc<Thread> {
    thread::current(percpu::cpu_index()).expect("entry from user mode with no current thread")
}

/// A `syscall` from the current thread, whose registers `save` stores.
#[inline(always)]
pub fn syscall(save: impl FnOnce(&mut UserRegisters)) -> ! {
    let thread = current_thread();
    let (number, argument, second, third, fourth, stack_ok) = {
        let mut guard = thread.state.lock();
        let state = &mut *guard;
        save(&mut state.regs);
        state.resume = Resume::Sysret;
        let regs = &state.regs;
        let stack_ok = thread.process.stack_check(regs.rsp, &mut state.stack);
        // The FPU area a preemption saved is dead once the thread makes a
        // syscall (it returns with the FPU reset, as the ABI allows): a
        // thread blocked in the kernel keeps none (512 bytes less).  The
        // price: a thread that alternates syscalls and faults allocates
        // and frees an area each time (a slab object, tens of
        // instructions against a fault's 1,600).
        if state.fpu.is_some() {
            free_fpu_area(&mut state.fpu);
        }
        (regs.rax, regs.rdi, regs.rsi, regs.rdx, regs.r10, stack_ok)
    };
    let thread = admit(thread, stack_ok);
    match Syscall::from_raw(number) {
        Some(Syscall::Exit) => {
            // The ABI's status is an i32 in RDI; the upper half is ignored.
            // RSI says whether only this thread ends.
            let status = ExitStatus::Exited(argument as u32 as i32);
            if second == abi::EXIT_THREAD {
                end_thread(thread, status)
            } else {
                end_process(thread, status)
            }
        }
        Some(Syscall::RingEnter) => {
            match crate::ring::enter::enter(&thread.process, argument, second, third, fourth) {
                Outcome::Resume(result) => resume_with(thread, result as u64),
                Outcome::Yield(result) => {
                    thread.state.lock().regs.rax = result as u64;
                    requeue(thread)
                }
                Outcome::WaitDelivered => match thread.take_or_wait() {
                    Some(result) => resume_with(thread, result as i64 as u64),
                    None => park_delivered(thread),
                },
                Outcome::Wait {
                    ring,
                    submitted,
                    min_complete,
                } => park(thread, ring, u64::from(submitted), min_complete),
            }
        }
        None => resume_with(thread, Errno::ENOSYS.as_res() as i64 as u64),
    }
}

/// Frees a thread's saved FPU area (out of line: most syscalls find none).
#[cold]
#[inline(never)]
fn free_fpu_area(area: &mut Option<thread::SavedFpu>) {
    *area = None;
}

/// What every entry from user mode checks first: a thread of a process
/// that is ending ends, and one whose stack pointer lay in no stack region
/// (`stack_ok` false) kills its process.
#[inline(always)]
fn admit(thread: Arc<Thread>, stack_ok: bool) -> Arc<Thread> {
    if thread.process.is_exiting() {
        end_thread(thread, ExitStatus::Exited(0))
    }
    if !stack_ok {
        bad_stack(thread)
    }
    thread
}

/// Takes the current thread off this CPU (whoever holds its `Arc` keeps
/// it); returns the CPU's index.
fn leave_cpu() -> usize {
    let cpu = percpu::cpu_index();
    drop(thread::set_current(cpu, None));
    cpu
}

/// The current thread leaves this CPU for `task`, which holds it and makes
/// it runnable when it may go on; this CPU goes back to its loop.
fn leave_for(task: impl core::future::Future<Output = ()> + Send + 'static) -> ! {
    leave_cpu();
    let runtime = super::runtime().expect("user threads run under the executors");
    runtime.spawn(task).detach();
    super::cpu_loop::restart()
}

/// Puts `thread`, the current one, at the back of this CPU's queue (a
/// yield, or a preemption); the CPU loop runs tasks and picks the next.
fn requeue(thread: Arc<Thread>) -> ! {
    let cpu = leave_cpu();
    thread::make_runnable_on(thread, cpu);
    super::cpu_loop::restart()
}

/// Sets the syscall result and goes straight back to the thread.
fn resume_with(thread: Arc<Thread>, result: u64) -> ! {
    thread.state.lock().regs.rax = result;
    enter_current(thread)
}

/// Enters user mode as `thread`, the current thread of this CPU, from its
/// saved state as its last entry left it (`Resume::Sysret` after a
/// syscall, `Iret` after a trap).  The registers and the FPU area are read
/// where the state keeps them, not copied (a copy of both was 672 bytes
/// per return to user mode).
pub fn enter_current(thread: Arc<Thread>) -> ! {
    let (regs, fpu, resume) = {
        let state = thread.state.lock();
        let fpu = state
            .fpu
            .as_ref()
            .map(|saved| saved.area() as *const FxArea);
        (&raw const state.regs, fpu, state.resume)
    };
    // The CPU's current-thread slot keeps the thread alive; nothing here
    // may need a drop once `enter_user` runs.
    drop(thread);
    // SAFETY: 1. the thread, and so its state, stays alive: the CPU's
    // current-thread slot holds it until this CPU takes it out, which it
    // does only at a later entry.  2. Nothing writes `regs` or `fpu`
    // between the unlock above and the return to user mode: only the CPU
    // the thread is current on writes them (at its entries, with
    // interrupts off, as here); a park's task writes RAX only after the
    // thread left its CPU; `deliver` writes it only for a thread its own
    // CPU marked waiting on its way out, which never reads its state
    // again before it leaves; the FPU area is freed only by the thread's
    // own next syscall, or with the thread.
    unsafe { user::enter_user(&*regs, fpu.map(|area| &*area), resume) }
}

/// The thread waits for a delivered result: it leaves the CPU and is
/// nothing but its `Thread` (kept by its process) until `deliver` resumes
/// it.  No task, no stack.
fn park_delivered(thread: Arc<Thread>) -> ! {
    leave_cpu();
    // A process that began ending meanwhile would never deliver.
    if thread.process.is_exiting() {
        thread.unpark();
    }
    drop(thread);
    super::cpu_loop::restart()
}

/// The thread waits for `min_complete` CQEs on `ring`: it leaves the CPU,
/// and a task holding it (its only footprint besides the `Thread`) makes
/// it runnable with `result` once they are there.
fn park(thread: Arc<Thread>, ring: Arc<crate::ring::Ring>, result: u64, min_complete: usize) -> ! {
    leave_for(async move {
        // The wait also ends if the process starts ending: the thread then
        // ends when it would resume.
        {
            let ready = core::pin::pin!(ring.wait_ready(min_complete));
            let exiting = core::pin::pin!(thread.process.wait_exiting());
            super::race(ready, exiting).await;
        }
        thread.state.lock().regs.rax = result;
        thread::make_runnable(thread);
    })
}

/// A thread entered the kernel with its stack pointer outside every stack
/// region of its process (a stack pivot, or a corrupted RSP): the whole
/// process is killed (SerenityOS's rule).
fn bad_stack(thread: Arc<Thread>) -> ! {
    let (rip, rsp) = {
        let state = thread.state.lock();
        (state.regs.rip, state.regs.rsp)
    };
    crate::warn!(
        "process {} ({}) killed: bad stack (rsp {rsp:#x} at rip {rip:#x} is in no stack region)",
        thread.process.pid,
        thread.process.name
    );
    end_process(thread, ExitStatus::BadStack)
}

/// The #PF vector.
const PAGE_FAULT: u8 = 14;

/// A page fault the process's regions allow, which needs a frame: the
/// thread leaves the CPU and a fault future resolves it (a zeroed page, an
/// object's page, a copy-on-write copy, and the shootdown a copy needs),
/// then makes the thread runnable again (it retries the access).  When no
/// frame can be had, the process is killed with an out-of-memory status
/// and the kernel goes on; a fault that became a violation meanwhile (the
/// region was unmapped) kills it with the fault's status.
fn fault_in(thread: Arc<Thread>, address: u64, access: Access, fault: Fault) -> ! {
    leave_for(async move {
        let process = thread.process.clone();
        let mut spare = None;
        let outcome = loop {
            if spare.is_none() {
                spare = crate::mm::frame::global::alloc_user();
                if spare.is_none() {
                    break Err(FaultError::OutOfMemory);
                }
            }
            let step = process.with_space_mut(|space| {
                let resolved = space.resolve_fault(address, access, &mut spare);
                (resolved, space.pml4().as_u64())
            });
            match step {
                // The process ended meanwhile.
                None => break Ok(()),
                Some((Ok(resolved), pml4)) => {
                    crate::mm::shootdown::begin(pml4, resolved.gather)
                        .wait()
                        .await;
                    if let Some(stale) = resolved.stale {
                        crate::mm::frame::global::release(stale);
                    }
                    break Ok(());
                }
                Some((Err(FaultError::NeedFrame), _)) => continue,
                Some((Err(error), _)) => break Err(error),
            }
        };
        if let Some(frame) = spare {
            crate::mm::frame::global::free(frame, 0);
        }
        match outcome {
            Ok(()) => {}
            Err(FaultError::Violation) => {
                report_fault(&thread, &fault);
                kill_process(&thread, ExitStatus::Killed(fault));
            }
            Err(_) => {
                crate::warn!(
                    "process {} ({}) killed: out of memory at {address:#x}",
                    process.pid,
                    process.name
                );
                kill_process(&thread, ExitStatus::OutOfMemory);
            }
        }
        // It runs again, or (exiting) ends at once.
        thread::make_runnable(thread);
    })
}

/// The fast path of a user page fault, on this CPU's stack: with a frame
/// at hand (taken before the space's lock), a demand-zero page, an object
/// page or a copy-on-write copy is mapped here and the thread goes straight
/// back to user mode, its space still loaded.  Returns the thread only for
/// a violation (the caller kills the process).  Otherwise the thread leaves
/// the CPU for the slow path, a future: when no frame can be had
/// ([`fault_in`], which kills for want of memory), or when a copy must
/// wait for other CPUs to drop the old translation.
fn fast_fault(thread: Arc<Thread>, address: u64, access: Access, fault: Fault) -> Arc<Thread> {
    use crate::mm::frame::global as frames;
    let mut spare = frames::alloc_user();
    let step = thread.process.with_space_mut(|space| {
        let resolved = space.resolve_fault(address, access, &mut spare);
        (resolved, space.pml4().as_u64())
    });
    if let Some(frame) = spare {
        frames::free(frame, 0);
    }
    match step {
        Some((Ok(resolved), pml4)) => {
            let pending = crate::mm::shootdown::begin(pml4, resolved.gather);
            if pending.is_done() {
                if let Some(stale) = resolved.stale {
                    frames::release(stale);
                }
                // Back where the trap left it: still current, its space
                // still loaded (no trip through the CPU loop, no CR3 write
                // and the TLB flush that comes with it).
                enter_current(thread)
            }
            leave_for(async move {
                pending.wait().await;
                if let Some(stale) = resolved.stale {
                    frames::release(stale);
                }
                thread::make_runnable(thread);
            })
        }
        Some((Err(FaultError::NeedFrame | FaultError::OutOfMemory), _)) => {
            fault_in(thread, address, access, fault)
        }
        Some((Err(FaultError::Violation), _)) | None => thread,
    }
}

/// Prints why `thread`'s process is being killed for `fault`.
fn report_fault(thread: &Thread, fault: &Fault) {
    let rip = thread.state.lock().regs.rip;
    crate::warn!(
        "process {} ({}) killed: {} at rip {rip:#x} (error code {:#x}, address {:#x})",
        thread.process.pid,
        thread.process.name,
        fault.name(),
        fault.error_code,
        fault.address
    );
}

/// Saves a trapped thread's full state (called on the IST stack).
pub fn save_trap(save: impl FnOnce(&mut UserRegisters), fpu: &FxArea) {
    let thread = current_thread();
    let mut state = thread.state.lock();
    save(&mut state.regs);
    match &mut state.fpu {
        Some(area) => area.save(fpu),
        None => state.fpu = Some(thread::SavedFpu::new(fpu)),
    }
    state.resume = Resume::Iret;
}

/// A trap taken in user mode, after `save_trap`, on the kernel stack.
pub fn trap(cause: TrapCause) -> ! {
    let thread = current_thread();
    let stack_ok = {
        let mut state = thread.state.lock();
        let rsp = state.regs.rsp;
        thread.process.stack_check(rsp, &mut state.stack)
    };
    let mut thread = admit(thread, stack_ok);
    if cause.vector < 32 {
        let fault = Fault {
            vector: cause.vector,
            error_code: cause.error_code,
            address: cause.fault_address,
        };
        if cause.vector == PAGE_FAULT {
            let access = Access::from_error_code(cause.error_code);
            thread = fast_fault(thread, cause.fault_address, access, fault);
        }
        report_fault(&thread, &fault);
        end_process(thread, ExitStatus::Killed(fault))
    }
    // An interrupt preempted the thread.
    requeue(thread)
}

/// Ends `thread`: it leaves the CPU for good, whoever waits for it is
/// woken, and if it was its process's last thread the process ends (with
/// the exiting status, or `status`).
pub fn end_thread(thread: Arc<Thread>, status: ExitStatus) -> ! {
    leave_cpu();
    crate::mm::paging::activate_kernel();
    thread.mark_ended();
    thread.process.thread_ended(thread.index, status);
    // A stack the kernel mapped goes back now, not when the process ends
    // (a process that starts and joins threads for ever must not grow).
    if let Some(top) = thread.kernel_stack_top()
        && let Some(runtime) = super::runtime()
    {
        let process = thread.process.clone();
        runtime
            .spawn(async move { process.release_thread_stack(top).await })
            .detach();
    }
    drop(thread);
    super::cpu_loop::restart()
}

/// Ends the whole process, then this thread.
fn end_process(thread: Arc<Thread>, status: ExitStatus) -> ! {
    kill_process(&thread, status);
    end_thread(thread, status)
}

/// Starts the end of `thread`'s process with `status`, its crash report
/// printed: every thread ends at its next kernel entry, and the other
/// CPUs get an IPI so that happens now.
fn kill_process(thread: &Thread, status: ExitStatus) {
    crate::proc::crash_report::print(thread, status);
    thread.process.begin_exit(status);
    let me = percpu::cpu_index();
    for index in 0..percpu::online_count() {
        if index != me
            && let Some(cpu) = percpu::get(index)
        {
            let wake = crate::arch::apic::Delivery::Fixed(crate::arch::apic::WAKE_VECTOR);
            crate::arch::apic::send(cpu.apic_id, wake);
        }
    }
}
