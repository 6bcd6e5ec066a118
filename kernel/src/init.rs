//! `kmain`: the kernel's start, from the boot protocol's hand-off to the
//! CPUs' idle loops.

use crate::arch::{self, bringup};
use crate::boot::{BootInfo, cmdline};
use crate::{info, warn};

/// The kernel proper, entered on the BSP with a [`BootInfo`].
pub fn kmain(boot: &'static BootInfo) -> ! {
    let features = bringup::early();
    let options = cmdline::parse(boot.cmdline.as_str(), |ignored| {
        warn!(
            "ignoring command-line word {:?}: {}",
            ignored.word, ignored.reason
        );
    });
    crate::log::set_max_level(options.log_level);
    info!(
        "booted via {}; command line {:?}",
        boot.protocol,
        boot.cmdline.as_str()
    );

    let memory = crate::mm::init::init(boot);
    let mut cpu_flags = alloc::string::String::new();
    let _ = features.describe(&mut cpu_flags);
    info!("cpu features:{cpu_flags}");
    info!(
        "mm: {} MiB usable RAM, {} MiB managed by the frame allocator, PageInfo array {} KiB",
        memory.usable_bytes >> 20,
        (memory.managed_frames as u64 * crate::mm::PAGE_SIZE) >> 20,
        memory.page_info_bytes >> 10
    );

    let platform = bringup::platform(boot);
    let boot_ticks = crate::time::tsc() - boot.entry_tsc;
    info!(
        "time: {} calibration: TSC {} kHz, LAPIC timer {} ticks/ms ({}); {} I/O APIC pins",
        platform.clock_source,
        platform.tsc_hz / 1000,
        platform.apic_ticks_per_ms,
        platform.apic_mode,
        platform.io_apic_pins
    );
    info!(
        "smp: {}/{} CPUs online",
        platform.cpus_online, platform.cpus_listed
    );
    info!("boot: {boot_ticks} TSC ticks from kernel entry to all CPUs online");
    if let Err(reason) = platform.power_off {
        warn!("ACPI power-off unavailable: {reason}");
    }

    match crate::fs::initfs::init() {
        crate::fs::initfs::Found::Archive(archive) => {
            let bytes: u64 = archive.entries().map(|entry| entry.size_bytes).sum();
            info!(
                "initfs: {} entries, {} KiB of file data",
                archive.len(),
                bytes >> 10
            );
        }
        crate::fs::initfs::Found::Missing => info!("initfs: none passed (QEMU's -initrd)"),
        crate::fs::initfs::Found::Malformed(error) => {
            crate::error!("initfs: malformed archive ({error}); continuing without one");
        }
    }

    crate::mm::aslr::init(options.aslr);
    crate::sched::init();
    for index in 1..arch::percpu::online_count() {
        if let Some(cpu) = arch::percpu::get(index) {
            arch::apic::send(
                cpu.apic_id,
                arch::apic::Delivery::Fixed(arch::apic::WAKE_VECTOR),
            );
        }
    }
    info!("sched: {} executors running", arch::percpu::online_count());
    crate::sched::watchdog::start(options.watchdog_secs);

    if let Some(kind) = options.crash {
        crate::crash::trigger(kind);
    }
    crate::mm::memcheck::inject_leak(options.leak);
    if let Some(filter) = options.ktest {
        crate::ktest::run(filter);
    }
    if options.bench {
        crate::bench::run();
    }
    match options.init {
        Some(path) if crate::fs::initfs::get().is_some_and(|fs| fs.lookup(path).is_ok()) => {
            let mut arguments = alloc::vec![path];
            arguments.extend(options.quick.then_some("quick"));
            arguments.extend(cmdline::init_arguments(&options));
            run_init(arguments)
        }
        Some(path) => info!("init: {path} is not in the initfs; nothing to run"),
        None => info!("init: none asked for"),
    }
    power_off()
}

/// Runs the first program as a task on the BSP (which runs its CPU loop
/// meanwhile), and powers off when it ends.
fn run_init(arguments: alloc::vec::Vec<&'static str>) -> ! {
    let path = arguments[0];
    let runtime = crate::sched::runtime().expect("init runs under the executors");
    runtime
        .spawn_on(0, async move {
            match crate::proc::spawn::spawn(path, &arguments) {
                Ok(process) => {
                    let status = process.wait().await;
                    info!("init: {path} ended: {status:?}");
                }
                Err(errno) => crate::error!("init: cannot start {path}: {errno}"),
            }
            power_off()
        })
        .detach();
    crate::sched::run(runtime)
}

fn power_off() -> ! {
    info!("powering off");
    let reason = arch::acpi::power_off();
    crate::error!("power-off failed: {reason}");
    crate::panic::die()
}

/// Where every AP goes once its CPU is set up: it waits for the executors,
/// then runs its CPU loop for good.
pub fn ap_main() -> ! {
    loop {
        arch::smp::run_calls();
        if let Some(runtime) = crate::sched::runtime() {
            crate::sched::run(runtime);
        }
        arch::wait_for_interrupt();
    }
}
