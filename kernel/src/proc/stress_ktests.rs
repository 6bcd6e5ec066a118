//! Regression tests of the kernel bugs the SMP stress (`user/stress`)
//! found: a process's page tables outlive it while another CPU still has
//! them loaded, and a range unmapped and mapped again before the unmap's
//! shootdown ran (`stress regressions`).

use super::process::ExitStatus;
use crate::arch::{percpu, smp};
use core::sync::atomic::{AtomicU8, Ordering};

/// The holding CPU's progress: 0 not yet, 1 holding the tables, 2 done.
static HOLDER: AtomicU8 = AtomicU8::new(0);
/// Set by the test when the holder may switch away.
static RELEASE: AtomicU8 = AtomicU8::new(0);

crate::ktest!(
    async fn a_space_another_cpu_has_loaded_is_freed_only_once_it_switches_away() {
        let cpus = percpu::online_count();
        if cpus < 2 {
            // It takes a second CPU to hold the tables.
            return Ok(());
        }
        let other = cpus - 1;
        // `cat` blocks reading the console until it is told to end.
        let process =
            super::spawn::spawn("bin/cat", &["bin/cat"]).map_err(|e| alloc::format!("{e}"))?;
        HOLDER.store(0, Ordering::Release);
        RELEASE.store(0, Ordering::Release);
        // As a CPU does between giving up a thread of the process and its
        // loop's switch to the kernel's table: it runs on the process's
        // tables while the process ends elsewhere.  It spins meanwhile, so
        // it cannot take up the ending thread (and switch away for it).
        let holder = process.clone();
        smp::call_on(other, move || {
            holder.activate_space();
            HOLDER.store(1, Ordering::Release);
            let give_up = crate::time::now_ns() + 2_000_000_000;
            while RELEASE.load(Ordering::Acquire) == 0 && crate::time::now_ns() < give_up {
                core::hint::spin_loop();
            }
            crate::mm::paging::activate_kernel();
            HOLDER.store(2, Ordering::Release);
        })
        .map_err(|e| alloc::format!("call_on: {e}"))?;
        while HOLDER.load(Ordering::Acquire) == 0 {
            executor::sleep(1_000_000).await;
        }
        process.begin_exit(ExitStatus::Exited(7));
        // Its thread ends within milliseconds; the status must wait.
        executor::sleep(100_000_000).await;
        let ended_early = process.status();
        let held = HOLDER.load(Ordering::Acquire) == 1;
        RELEASE.store(1, Ordering::Release);
        let status = process.wait().await;
        crate::ensure!(held, "cpu{other} gave the tables up too early");
        crate::ensure!(
            ended_early.is_none(),
            "the process ended ({ended_early:?}) while cpu{other} still had its page tables loaded"
        );
        crate::ensure_eq!(status, ExitStatus::Exited(7));
        crate::ensure!(
            process.with_space(|_| ()).is_none(),
            "the space outlived the wait"
        );
        Ok(())
    }
);

crate::ktest!(
    async fn a_range_mapped_again_before_the_unmaps_shootdown_keeps_its_writes() {
        let process = super::spawn::spawn("bin/stress", &["bin/stress", "regressions"])
            .map_err(|e| alloc::format!("{e}"))?;
        crate::ensure_eq!(process.wait().await, ExitStatus::Exited(0));
        Ok(())
    }
);
