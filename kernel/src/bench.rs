//! Kernel benchmarks (`bench` on the command line): they print guest TSC
//! ticks per operation and exit QEMU.  Run them under
//! `-icount shift=0,sleep=off` for counts that repeat exactly.  They are not
//! tests: nothing here judges the numbers.
//!
//! - `ipi round trip`: the BSP sends an IPI to CPU 1, whose handler sends
//!   one straight back; ticks from the send to the BSP's handler.

use crate::arch::apic::{self, Delivery};
use crate::arch::{percpu, qemu, trap};
use crate::kprintln;
use core::sync::atomic::{AtomicU64, Ordering};

const ROUNDS: u64 = 1000;

/// TSC when the reply reached the BSP (zero: not yet).
static PONG_TSC: AtomicU64 = AtomicU64::new(0);

fn on_bench_ipi(_frame: &mut trap::TrapFrame) {
    if percpu::cpu_index() == 0 {
        PONG_TSC.store(crate::time::tsc(), Ordering::Release);
    } else if let Some(bsp) = percpu::get(0) {
        apic::send(bsp.apic_id, Delivery::Fixed(apic::BENCH_VECTOR));
    }
}

fn ipi_round_trip() {
    let Some(target) = percpu::get(1) else {
        kprintln!("bench: ipi round trip: needs 2 CPUs, skipped");
        return;
    };
    let (mut total, mut best) = (0u64, u64::MAX);
    for _ in 0..ROUNDS {
        PONG_TSC.store(0, Ordering::Release);
        let start = crate::time::tsc();
        apic::send(target.apic_id, Delivery::Fixed(apic::BENCH_VECTOR));
        while PONG_TSC.load(Ordering::Acquire) == 0 {
            crate::arch::wait_for_interrupt();
        }
        let ticks = PONG_TSC.load(Ordering::Acquire) - start;
        total += ticks;
        best = best.min(ticks);
    }
    kprintln!(
        "bench: ipi round trip: {} ticks mean, {best} best, over {ROUNDS} rounds",
        total / ROUNDS
    );
}

/// Runs every benchmark, then exits QEMU.
pub fn run() -> ! {
    trap::register(apic::BENCH_VECTOR, on_bench_ipi);
    ipi_round_trip();
    kprintln!("bench: done");
    qemu::exit(qemu::ExitCode::Success)
}
