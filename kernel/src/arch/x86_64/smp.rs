//! Bringing up the application processors, and running code on them.
//!
//! The BSP starts each CPU the MADT lists, one at a time: it allocates the
//! CPU's kernel stack and IST stacks (with guard pages), fills in the
//! trampoline's parameters, and sends INIT, SIPI, SIPI.  The AP builds its
//! GDT/TSS, loads the shared IDT, installs its per-CPU block (GS base),
//! enables its APIC and reports online, then idles.
//!
//! [`call_on`] queues a function on another CPU and pokes it with an IPI;
//! the CPU runs the queue from its idle loop (the interrupt handler only
//! wakes it).

use super::acpi::CpuEntry;
use super::apic::{self, Delivery};
use super::gdt::{self, IST_STACK_BYTES};
use super::percpu::{self, MAX_CPUS};
use super::trampoline::{self, TRAMPOLINE_PHYS};
use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::PhysFrame;

/// Bytes of each CPU's one kernel stack.
pub const KERNEL_STACK_BYTES: usize = 64 * 1024;

/// What the BSP prepares for one AP; the AP reads it from its entry.
struct ApStart {
    index: usize,
    apic_id: u32,
    kernel_stack_top: VirtAddr,
    ist_tops: [VirtAddr; 5],
    online: AtomicBool,
}

/// Allocates the five IST stacks of a CPU.
pub fn alloc_ist_stacks() -> [VirtAddr; 5] {
    [(); 5].map(|()| crate::mm::kstack::alloc(IST_STACK_BYTES))
}

/// Starts every CPU in `cpus` other than the BSP.  Returns how many came
/// online (not counting the BSP).
pub fn start_aps(cpus: &[CpuEntry]) -> usize {
    let bsp_apic_id = apic::id();
    trampoline::install(crate::mm::paging::kernel_pml4());
    let efer_bits = Efer::read() & (EferFlags::LONG_MODE_ENABLE | EferFlags::NO_EXECUTE_ENABLE);
    let mut started = 0;
    for cpu in cpus.iter().filter(|cpu| cpu.apic_id != bsp_apic_id) {
        let index = 1 + started;
        if index >= MAX_CPUS {
            crate::warn!(
                "more than {MAX_CPUS} CPUs; ignoring APIC id {}",
                cpu.apic_id
            );
            continue;
        }
        let start: &'static ApStart = Box::leak(Box::new(ApStart {
            index,
            apic_id: cpu.apic_id,
            kernel_stack_top: crate::mm::kstack::alloc(KERNEL_STACK_BYTES),
            ist_tops: alloc_ist_stacks(),
            online: AtomicBool::new(false),
        }));
        trampoline::set_params(&trampoline::Params {
            efer_bits: efer_bits.bits(),
            stack_top: start.kernel_stack_top.as_u64(),
            argument: start as *const ApStart as u64,
            entry: ap_entry,
        });
        if boot_one(cpu.apic_id, &start.online) {
            started += 1;
        } else {
            crate::error!("CPU with APIC id {} did not come online", cpu.apic_id);
        }
    }
    started
}

/// The wait between INIT and the first SIPI.  The MP specification asks
/// for 10 ms, which only the 486-era external APICs needed; like Linux, the
/// kernel skips it on CPUs of family 6 and later (every x86_64 CPU but the
/// first AMD K8s, which are family 15 and also skip it in Linux).
fn init_delay_us() -> u64 {
    let family = (core::arch::x86_64::__cpuid(1).eax >> 8) & 0xf;
    if family >= 6 { 0 } else { 10_000 }
}

/// INIT, then up to two SIPIs, as the MP specification prescribes.
fn boot_one(apic_id: u32, online: &AtomicBool) -> bool {
    let sipi_page = (TRAMPOLINE_PHYS >> 12) as u8;
    apic::send(apic_id, Delivery::Init);
    crate::time::delay_us(init_delay_us());
    for _ in 0..2 {
        apic::send(apic_id, Delivery::Startup(sipi_page));
        if wait_online(online, 10_000) {
            return true;
        }
    }
    // A slow emulator may still be on its way; give it a second.
    wait_online(online, 1_000_000)
}

/// Halts until the AP reports online (it sends a wake IPI) or `timeout_us`
/// passes.  Halting rather than spinning matters under emulation: a
/// spinning BSP keeps the host thread the AP needs to make progress.
fn wait_online(online: &AtomicBool, timeout_us: u64) -> bool {
    let deadline = crate::time::now_ns() + timeout_us * 1000;
    while !online.load(Ordering::Acquire) {
        let now = crate::time::now_ns();
        if now >= deadline {
            apic::timer_stop();
            return false;
        }
        apic::timer_oneshot_us(((deadline - now) / 1000).clamp(1, 1000));
        super::wait_for_interrupt();
    }
    apic::timer_stop();
    true
}

extern "C" fn ap_entry(argument: u64) -> ! {
    // SAFETY: the BSP passes a leaked `ApStart` that lives forever.
    let start = unsafe { &*(argument as *const ApStart) };
    // SAFETY: the kernel tables map everything the trampoline tables map in
    // the higher half, where this code and its stack run.
    unsafe {
        Cr3::write(
            PhysFrame::containing_address(crate::mm::paging::kernel_pml4()),
            Cr3Flags::empty(),
        );
    }
    super::cpu::enable_protections();
    let tss = gdt::load(Box::leak(Box::new(gdt::CpuTables::new())), start.ist_tops);
    super::idt::load();
    super::user::init_cpu();
    let block = percpu::create(start.index, start.apic_id, start.kernel_stack_top, tss);
    percpu::install(block);
    apic::init_cpu();
    start.online.store(true, Ordering::Release);
    if let Some(bsp) = percpu::get(0) {
        apic::send(bsp.apic_id, Delivery::Fixed(apic::WAKE_VECTOR));
    }
    crate::ap_main()
}

/// Runs the functions other CPUs queued for this one.
pub fn run_calls() {
    let cpu = percpu::current();
    loop {
        let call = cpu.calls.lock().pop_front();
        match call {
            Some(call) => call(),
            None => return,
        }
    }
}

/// Queues `call` on CPU `index` and wakes it.  The target runs it from its
/// CPU loop (or, before the executors start, its idle loop).
pub fn call_on(index: usize, call: impl FnOnce() + Send + 'static) -> Result<(), abi::Errno> {
    let cpu = percpu::get(index).ok_or(abi::Errno::ESRCH)?;
    cpu.calls.lock().push_back(Box::new(call));
    apic::send(cpu.apic_id, Delivery::Fixed(apic::CALL_VECTOR));
    Ok(())
}

/// The call and wake IPIs only end the target's `hlt`; its idle loop does
/// the work.
fn wake_only(_frame: &mut super::trap::TrapFrame) {}

/// Installs the IPI handlers this module owns.
pub fn register_handlers() {
    super::trap::register(apic::CALL_VECTOR, wake_only);
    super::trap::register(apic::WAKE_VECTOR, wake_only);
    super::trap::register(apic::TEST_VECTOR, on_test_ipi);
}

/// For the all-to-all test: bit `s` of `PENDING[d]` says CPU `s` sent CPU
/// `d` a test IPI not yet seen; `RECEIVED[d]` collects what `d` saw.
static PENDING: [core::sync::atomic::AtomicU64; MAX_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; MAX_CPUS];
static RECEIVED: [core::sync::atomic::AtomicU64; MAX_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; MAX_CPUS];

fn on_test_ipi(_frame: &mut super::trap::TrapFrame) {
    let me = percpu::cpu_index();
    let senders = PENDING[me].swap(0, Ordering::AcqRel);
    RECEIVED[me].fetch_or(senders, Ordering::AcqRel);
}

/// Sends a test IPI from this CPU to every other online CPU.
fn send_test_ipis() {
    let me = percpu::cpu_index();
    for (target, pending) in PENDING.iter().enumerate().take(percpu::online_count()) {
        if target != me
            && let Some(cpu) = percpu::get(target)
        {
            pending.fetch_or(1 << me, Ordering::AcqRel);
            apic::send(cpu.apic_id, Delivery::Fixed(apic::TEST_VECTOR));
        }
    }
}

/// Waits (taking interrupts and queued calls) until `done` or a second.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let give_up = crate::time::tsc() + crate::time::tsc_hz();
    while !done() {
        if crate::time::tsc() > give_up {
            return false;
        }
        run_calls();
        super::interrupt_window();
    }
    true
}

crate::ktest!(
    fn every_listed_cpu_is_online() {
        let summary = super::bringup::summary();
        crate::ensure_eq!(summary.cpus_online, summary.cpus_listed);
        crate::ensure_eq!(percpu::online_count(), summary.cpus_listed);
        Ok(())
    }
);

crate::ktest!(
    fn call_on_runs_on_the_target_cpu() {
        use alloc::sync::Arc;
        use core::sync::atomic::AtomicUsize;
        let cpus = percpu::online_count();
        let seen: Arc<[AtomicUsize]> = (0..cpus).map(|_| AtomicUsize::new(usize::MAX)).collect();
        for target in 0..cpus {
            let seen = seen.clone();
            call_on(target, move || {
                seen[target].store(percpu::cpu_index(), Ordering::Release)
            })
            .map_err(|e| alloc::format!("call_on({target}): {e}"))?;
        }
        let done = wait_until(|| seen.iter().all(|s| s.load(Ordering::Acquire) != usize::MAX));
        crate::ensure!(done, "calls not run within a second: {seen:?}");
        for (target, ran_on) in seen.iter().enumerate() {
            crate::ensure_eq!(ran_on.load(Ordering::Acquire), target);
        }
        crate::ensure!(
            call_on(MAX_CPUS, || {}).is_err(),
            "call_on accepted a CPU that does not exist"
        );
        Ok(())
    }
);

crate::ktest!(
    fn ipis_reach_every_cpu_from_every_cpu() {
        let cpus = percpu::online_count();
        for index in 0..cpus {
            RECEIVED[index].store(0, Ordering::Release);
            PENDING[index].store(0, Ordering::Release);
        }
        for source in 1..cpus {
            call_on(source, send_test_ipis)
                .map_err(|e| alloc::format!("call_on({source}): {e}"))?;
        }
        send_test_ipis();
        let all = if cpus == 64 {
            u64::MAX
        } else {
            (1u64 << cpus) - 1
        };
        let expected = |cpu: usize| all & !(1 << cpu);
        let done = wait_until(|| {
            (0..cpus).all(|cpu| RECEIVED[cpu].load(Ordering::Acquire) == expected(cpu))
        });
        for (cpu, received) in RECEIVED.iter().enumerate().take(cpus) {
            let got = received.load(Ordering::Acquire);
            crate::ensure!(
                got == expected(cpu),
                "cpu{cpu} heard from {got:#b}, expected {:#b}",
                expected(cpu)
            );
        }
        crate::ensure!(done, "IPIs incomplete");
        Ok(())
    }
);
