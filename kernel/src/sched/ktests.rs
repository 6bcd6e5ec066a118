//! In-kernel tests of the executors on real CPUs: spawning on every CPU,
//! cross-CPU wakes, timers, a countdown signalled from interrupt handlers,
//! stealing, and leaks.

use super::runtime;
use crate::arch::apic::{self, Delivery};
use crate::arch::{percpu, trap};
use crate::{ensure, ensure_eq, ktest};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use executor::{CountdownCompletion, Event, Runtime};

fn rt() -> Result<&'static Runtime, alloc::string::String> {
    runtime().ok_or_else(|| "the executors are not running".into())
}

ktest!(
    async fn tasks_run_on_every_cpu() {
        let rt = rt()?;
        let handles: Vec<_> = (0..rt.cpu_count())
            .map(|cpu| rt.spawn_on(cpu, async { percpu::cpu_index() }))
            .collect();
        let ran_on = async {
            let mut ran_on = Vec::new();
            for handle in handles {
                ran_on.push(handle.await);
            }
            ran_on
        }
        .await;
        for (cpu, result) in ran_on.into_iter().enumerate() {
            ensure_eq!(result.map_err(|e| alloc::format!("{e:?}"))?, cpu);
        }
        Ok(())
    }
);

ktest!(
    async fn wakes_cross_between_cpus() {
        const ROUNDS: usize = 2000;
        let rt = rt()?;
        let far = rt.cpu_count() - 1;
        let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let rounds = Arc::new(AtomicUsize::new(0));
        let partner = {
            let (ping, pong, rounds) = (ping.clone(), pong.clone(), rounds.clone());
            rt.spawn_on(far, async move {
                for _ in 0..ROUNDS {
                    ping.listen().await;
                    ensure_eq!(percpu::cpu_index(), far);
                    rounds.fetch_add(1, Ordering::AcqRel);
                    pong.wake_one();
                }
                Ok::<(), alloc::string::String>(())
            })
        };
        async {
            for _ in 0..ROUNDS {
                ping.wake_one();
                pong.listen().await;
            }
        }
        .await;
        partner.await.map_err(|e| alloc::format!("{e:?}"))??;
        ensure_eq!(rounds.load(Ordering::Acquire), ROUNDS);
        Ok(())
    }
);

ktest!(
    async fn timers_fire_in_order_and_never_early() {
        let rt = rt()?;
        // 1 us to 100 ms, spawned out of order on this CPU.  The deadlines count
        // from 20 ms ahead, so every timer is registered before any is due (a
        // sleeper polled after its deadline completes at once, in poll order,
        // and TCG can take a millisecond to translate the code of a first poll).
        let delays_ns = [
            100_000_000u64,
            1_000,
            10_000_000,
            10_000,
            1_000_000,
            100_000,
        ];
        let start = rt.now() + 20_000_000;
        let fired = Arc::new(spin::Mutex::new(Vec::new()));
        let me = percpu::cpu_index();
        let handles: Vec<_> = delays_ns
            .iter()
            .map(|&delay| {
                let fired = fired.clone();
                rt.spawn_on(me, async move {
                    rt.sleep_until(start + delay).await;
                    fired.lock().push((delay, rt.now()));
                })
            })
            .collect();
        // The same deadlines on every other CPU: never early there either.
        let elsewhere: Vec<_> = (0..rt.cpu_count())
            .flat_map(|cpu| delays_ns.iter().map(move |&delay| (cpu, delay)))
            .map(|(cpu, delay)| {
                rt.spawn_on(cpu, async move {
                    rt.sleep_until(start + delay).await;
                    rt.now() >= start + delay
                })
            })
            .collect();
        let on_time = async {
            for handle in handles {
                let _ = handle.await;
            }
            let mut on_time = true;
            for handle in elsewhere {
                on_time &= handle.await.unwrap_or(false);
            }
            on_time
        }
        .await;
        let fired = fired.lock();
        let order: Vec<u64> = fired.iter().map(|&(delay, _)| delay).collect();
        let mut sorted = delays_ns.to_vec();
        sorted.sort_unstable();
        ensure_eq!(order, sorted);
        for &(delay, at) in fired.iter() {
            ensure!(
                at >= start + delay,
                "{delay} ns timer fired {} ns early",
                start + delay - at
            );
        }
        ensure!(on_time, "a timer on another CPU fired early");
        Ok(())
    }
);

/// The countdown the IPI handlers signal.  Leaked per run: a handler may
/// still be inside `signal` when the waiter sees zero.
static COUNTDOWN: AtomicPtr<CountdownCompletion> = AtomicPtr::new(core::ptr::null_mut());

fn on_countdown_ipi(_frame: &mut trap::TrapFrame) {
    let countdown = COUNTDOWN.load(Ordering::Acquire);
    if !countdown.is_null() {
        // SAFETY: the pointer comes from `Box::leak` and is never freed.
        unsafe { &*countdown }.signal();
    }
}

ktest!(
    async fn countdown_completes_from_ipi_handlers_on_every_cpu() {
        let rt = rt()?;
        let cpus = percpu::online_count();
        let countdown: &'static CountdownCompletion =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(CountdownCompletion::new(cpus)));
        COUNTDOWN.store(countdown as *const _ as *mut _, Ordering::Release);
        trap::register(apic::SCHED_TEST_VECTOR, on_countdown_ipi);
        for index in 0..cpus {
            let cpu = percpu::get(index).ok_or("missing CPU block")?;
            apic::send(cpu.apic_id, Delivery::Fixed(apic::SCHED_TEST_VECTOR));
        }
        let done = executor::timeout(countdown.wait(), rt.now() + 1_000_000_000).await;
        COUNTDOWN.store(core::ptr::null_mut(), Ordering::Release);
        ensure!(
            done.is_ok(),
            "{} of {cpus} CPUs never signalled",
            countdown.remaining()
        );
        ensure!(countdown.is_done(), "countdown not done");
        Ok(())
    }
);

ktest!(
    async fn a_burst_on_one_cpu_is_shared_out() {
        const TASKS: usize = 400;
        let rt = rt()?;
        let ran_on: Arc<[AtomicUsize]> = (0..rt.cpu_count()).map(|_| AtomicUsize::new(0)).collect();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let ran_on = ran_on.clone();
                rt.spawn(async move {
                    // Work long enough (50 us) that the burst outlasts a steal.
                    crate::time::delay_us(50);
                    ran_on[percpu::cpu_index()].fetch_add(1, Ordering::AcqRel);
                })
            })
            .collect();
        async {
            for handle in handles {
                let _ = handle.await;
            }
        }
        .await;
        let counts: Vec<usize> = ran_on.iter().map(|c| c.load(Ordering::Acquire)).collect();
        ensure_eq!(counts.iter().sum::<usize>(), TASKS);
        if rt.cpu_count() > 1 {
            let helpers = counts.iter().skip(1).filter(|&&n| n > 0).count();
            ensure!(
                helpers > 0,
                "no other CPU took any of the burst: {counts:?}"
            );
        }
        Ok(())
    }
);

ktest!(
    async fn a_hundred_thousand_short_tasks_leak_nothing() {
        const TASKS: usize = 100_000;
        let rt = rt()?;
        let heap_before = crate::mm::heap::bytes_in_use();
        let live_before = rt.live_tasks();
        let sum = async {
            let mut sum = 0usize;
            // In waves, so the joins stay bounded.
            for wave in 0..TASKS / 1000 {
                let handles: Vec<_> = (0..1000)
                    .map(|i| rt.spawn(async move { wave * 1000 + i }))
                    .collect();
                for handle in handles {
                    sum += handle.await.unwrap_or(0);
                }
            }
            sum
        }
        .await;
        ensure_eq!(sum, TASKS * (TASKS - 1) / 2);
        // Other tasks may come and go meanwhile (what earlier tests left
        // finishing: a process's last ops, a thread stack's release), so
        // the counts get up to a second to come back; a leak never does.
        for _ in 0..1000 {
            if rt.live_tasks() <= live_before && crate::mm::heap::bytes_in_use() <= heap_before {
                break;
            }
            executor::sleep(1_000_000).await;
        }
        ensure!(
            rt.live_tasks() <= live_before,
            "{} tasks alive, {live_before} before",
            rt.live_tasks()
        );
        ensure!(
            crate::mm::heap::bytes_in_use() <= heap_before,
            "{} heap bytes in use, {heap_before} before",
            crate::mm::heap::bytes_in_use()
        );
        Ok(())
    }
);
