//! The kernel's `executor::Platform`.
//!
//! Wake paths (`pend`, `current_cpu`, `now`) run in interrupt handlers too,
//! so none of them allocates or takes a lock.

use crate::arch::apic::{self, Delivery};
use crate::arch::{self, percpu};
use executor::{Config, Platform, Runtime};

struct KernelPlatform {
    cpu_count: usize,
}

impl Platform for KernelPlatform {
    fn cpu_count(&self) -> usize {
        self.cpu_count
    }

    fn current_cpu(&self) -> usize {
        percpu::cpu_index()
    }

    fn now(&self) -> u64 {
        crate::time::now_ns()
    }

    fn pend(&self, cpu: usize) {
        // The calling CPU is awake; an interrupt handler that wakes a task
        // of the CPU it interrupted ends that CPU's `hlt` by returning.
        if cpu == percpu::cpu_index() {
            return;
        }
        if let Some(target) = percpu::get(cpu) {
            apic::send(target.apic_id, Delivery::Fixed(apic::WAKE_VECTOR));
        }
    }

    fn halt(&self, deadline: Option<u64>) {
        match deadline {
            Some(deadline) if deadline <= crate::time::now_ns() => return,
            Some(deadline) => apic::timer_at_ns(deadline),
            None => apic::timer_stop(),
        }
        arch::wait_for_interrupt();
    }
}

static RUNTIME: spin::Once<&'static Runtime> = spin::Once::new();

/// Creates the executors, one per online CPU.  Called on the BSP once every
/// CPU is online (the CPU count is fixed for the runtime's life); the APs,
/// waiting in their idle loop, join their executors when they see it.
pub fn init() -> &'static Runtime {
    RUNTIME.call_once(|| {
        super::thread::reserve_run_queues(percpu::online_count());
        crate::mm::shootdown::reserve_queues(percpu::online_count());
        let platform: &'static KernelPlatform =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(KernelPlatform {
                cpu_count: percpu::online_count(),
            }));
        Runtime::new(platform, Config::default())
    })
}

/// The executors, once `init` has run.
pub fn runtime() -> Option<&'static Runtime> {
    RUNTIME.get().copied()
}
