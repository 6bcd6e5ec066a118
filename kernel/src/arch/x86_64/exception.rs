//! CPU exceptions.  Every exception taken in kernel mode is a kernel bug:
//! it prints a full report and stops the machine.  (User-mode exceptions
//! become fault events once user mode exists.)
//!
//! The NMI is the exception: `panic::stop_other_cpus` sends it to halt the
//! other CPUs during a panic, and the watchdog sends it for a dump that
//! leaves the CPU running (`nmi`).

use super::backtrace;
use super::serial::write_fmt_unlocked as out;
use super::trap::{NMI, TrapFrame};
use x86_64::registers::control::{Cr0, Cr2, Cr3, Cr4};

const NAMES: [(&str, &str); 32] = [
    ("#DE", "divide error"),
    ("#DB", "debug"),
    ("NMI", "non-maskable interrupt"),
    ("#BP", "breakpoint"),
    ("#OF", "overflow"),
    ("#BR", "bound range exceeded"),
    ("#UD", "invalid opcode"),
    ("#NM", "device not available"),
    ("#DF", "double fault"),
    ("#CSO", "coprocessor segment overrun"),
    ("#TS", "invalid TSS"),
    ("#NP", "segment not present"),
    ("#SS", "stack-segment fault"),
    ("#GP", "general protection fault"),
    ("#PF", "page fault"),
    ("#15", "reserved"),
    ("#MF", "x87 floating-point exception"),
    ("#AC", "alignment check"),
    ("#MC", "machine check"),
    ("#XM", "SIMD floating-point exception"),
    ("#VE", "virtualization exception"),
    ("#CP", "control protection exception"),
    ("#22", "reserved"),
    ("#23", "reserved"),
    ("#24", "reserved"),
    ("#25", "reserved"),
    ("#26", "reserved"),
    ("#27", "reserved"),
    ("#HV", "hypervisor injection exception"),
    ("#VC", "VMM communication exception"),
    ("#SX", "security exception"),
    ("#31", "reserved"),
];

/// The mnemonic and name of exception `vector`, e.g. `#PF page fault`.
pub fn name(vector: u8) -> &'static str {
    const FULL: [&str; 32] = {
        let mut full = [""; 32];
        let mut i = 0;
        while i < 32 {
            full[i] = NAMES[i].1;
            i += 1;
        }
        full
    };
    FULL.get(usize::from(vector))
        .copied()
        .unwrap_or("interrupt")
}

/// Entry from `trap_dispatch` for vectors 0..32.
pub fn handle(frame: &mut TrapFrame) {
    let vector = frame.vector as usize;
    if vector == NMI && crate::panic::is_panicking() {
        super::halt_forever();
    }
    if vector == NMI && super::nmi::take_requested_dump(frame) {
        if frame.cs & 3 == 3 {
            // `trap_common` does not swap the GS base back on its way out:
            // leave user mode as a preempting interrupt does.
            frame.vector = u64::from(super::apic::TIMER_VECTOR);
            super::user::trap_from_user(frame);
        }
        return;
    }
    // Fatal: the report needs kernel data, whatever table the CPU was on.
    let (table, _) = Cr3::read_raw();
    super::nmi::on_kernel_table(|| report(frame, table.start_address().as_u64()));
    crate::panic::die()
}

fn report(frame: &TrapFrame, cr3: u64) {
    let vector = frame.vector as usize;
    let (mnemonic, name) = NAMES[vector];
    let _serialize = crate::panic::enter_report();
    let mode = if frame.cs & 3 == 0 { "kernel" } else { "user" };
    out(format_args!(
        "\nEXCEPTION {mnemonic} ({vector}) {name} on cpu{} in {mode} mode\n",
        super::percpu::cpu_index()
    ));
    out(format_args!("  error code {:#x}", frame.error_code));
    if vector == 14 {
        describe_page_fault(frame.error_code);
    }
    out(format_args!("\n"));
    out(format_args!(
        "  CR2={:#018x} CR3={cr3:#018x} CR0={:#x} CR4={:#x}\n",
        Cr2::read_raw(),
        Cr0::read_raw(),
        Cr4::read_raw()
    ));
    if vector == 14 && crate::mm::kstack::is_guard_page(Cr2::read_raw()) {
        out(format_args!(
            "  the fault hit a kernel stack's guard page: kernel stack overflow\n"
        ));
    }
    dump_registers(frame);
    backtrace::print(frame.rip, frame.gprs.rbp);
}

fn describe_page_fault(code: u64) {
    let access = if code & (1 << 4) != 0 {
        "instruction fetch"
    } else if code & (1 << 1) != 0 {
        "write"
    } else {
        "read"
    };
    let cause = if code & 1 != 0 {
        "protection violation"
    } else {
        "page not present"
    };
    let mode = if code & (1 << 2) != 0 {
        "user"
    } else {
        "supervisor"
    };
    out(format_args!(" [{access}, {cause}, {mode}"));
    if code & (1 << 3) != 0 {
        out(format_args!(", reserved bit set"));
    }
    out(format_args!("]"));
}

pub(super) fn dump_registers(f: &TrapFrame) {
    out(format_args!(
        "  RIP={:#018x} CS={:#06x} RFLAGS={:#010x} RSP={:#018x} SS={:#06x}\n",
        f.rip, f.cs, f.rflags, f.rsp, f.ss
    ));
    let rows = [
        [
            ("RAX", f.gprs.rax),
            ("RBX", f.gprs.rbx),
            ("RCX", f.gprs.rcx),
            ("RDX", f.gprs.rdx),
        ],
        [
            ("RSI", f.gprs.rsi),
            ("RDI", f.gprs.rdi),
            ("RBP", f.gprs.rbp),
            ("R8 ", f.gprs.r8),
        ],
        [
            ("R9 ", f.gprs.r9),
            ("R10", f.gprs.r10),
            ("R11", f.gprs.r11),
            ("R12", f.gprs.r12),
        ],
    ];
    for row in rows {
        for (name, value) in row {
            out(format_args!("  {name}={value:#018x}"));
        }
        out(format_args!("\n"));
    }
    out(format_args!(
        "  R13={:#018x}  R14={:#018x}  R15={:#018x}\n",
        f.gprs.r13, f.gprs.r14, f.gprs.r15
    ));
}
