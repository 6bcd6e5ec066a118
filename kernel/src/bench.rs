//! Kernel benchmarks (`bench` on the command line): they print guest TSC
//! ticks per operation and exit QEMU.  Run them under
//! `-icount shift=0,sleep=off` for counts that repeat exactly.  They are not
//! tests: nothing here judges the numbers.
//!
//! - `ipi round trip`: the BSP sends an IPI to CPU 1, whose handler sends
//!   one straight back; ticks from the send to the BSP's handler.
//! - `spawn to first poll`: ticks from `spawn_on` (this CPU) to the first
//!   instruction of the task's first poll, through the CPU loop.
//! - `cross-CPU wake round trip`: a task on CPU 0 wakes a task on CPU 1
//!   (an `Event`), which wakes it back; ticks per round trip, halts and
//!   IPIs included.
//! - the user programs that measure themselves (`bin/nopbench`).

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

static FIRST_POLL_TSC: AtomicU64 = AtomicU64::new(0);

async fn spawn_to_first_poll(runtime: &'static executor::Runtime) {
    let (mut total, mut best) = (0u64, u64::MAX);
    {
        for _ in 0..ROUNDS {
            let start = crate::time::tsc();
            let task = runtime.spawn_on(percpu::cpu_index(), async {
                FIRST_POLL_TSC.store(crate::time::tsc(), Ordering::Release);
            });
            let _ = task.await;
            let ticks = FIRST_POLL_TSC.load(Ordering::Acquire) - start;
            total += ticks;
            best = best.min(ticks);
        }
    }
    kprintln!(
        "bench: spawn to first poll: {} ticks mean, {best} best, over {ROUNDS} rounds",
        total / ROUNDS
    );
}

async fn cross_cpu_wake_round_trip(runtime: &'static executor::Runtime) {
    if runtime.cpu_count() < 2 {
        kprintln!("bench: cross-CPU wake round trip: needs 2 CPUs, skipped");
        return;
    }
    let ping = alloc::sync::Arc::new(executor::Event::new());
    let pong = alloc::sync::Arc::new(executor::Event::new());
    let partner = {
        let (ping, pong) = (ping.clone(), pong.clone());
        runtime.spawn_on(1, async move {
            for _ in 0..=ROUNDS {
                ping.listen().await;
                pong.wake_one();
            }
        })
    };
    let ticks = {
        // One warm-up round, then the measured ones.
        ping.wake_one();
        pong.listen().await;
        let start = crate::time::tsc();
        for _ in 0..ROUNDS {
            ping.wake_one();
            pong.listen().await;
        }
        let ticks = crate::time::tsc() - start;
        let _ = partner.await;
        ticks
    };
    kprintln!(
        "bench: cross-CPU wake round trip: {} ticks mean over {ROUNDS} rounds",
        ticks / ROUNDS
    );
}

/// Runs the user-space benchmark programs of the initfs, one after the
/// other (they print their own results).
async fn user_benchmarks() {
    for program in ["bin/nopbench"] {
        match crate::proc::spawn::spawn(program, &[program]) {
            Ok(process) => {
                let status = process.wait().await;
                if status != crate::proc::process::ExitStatus::Exited(0) {
                    kprintln!("bench: {program} ended with {status:?}");
                }
            }
            Err(errno) => kprintln!("bench: {program}: {errno}"),
        }
    }
}

/// Runs every benchmark as a task on the BSP (the BSP runs its CPU loop
/// meanwhile, so user programs can run on it too), then exits QEMU.
pub fn run() -> ! {
    trap::register(apic::BENCH_VECTOR, on_bench_ipi);
    let runtime = crate::sched::runtime().expect("benchmarks need the executors");
    runtime
        .spawn_on(0, async move {
            ipi_round_trip();
            spawn_to_first_poll(runtime).await;
            cross_cpu_wake_round_trip(runtime).await;
            user_benchmarks().await;
            kprintln!("bench: done");
            qemu::exit(qemu::ExitCode::Success)
        })
        .detach();
    crate::sched::run(runtime)
}
