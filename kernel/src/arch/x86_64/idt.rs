//! The IDT: all 256 vectors, each on an IST stack (see `gdt`).
//!
//! The `x86_64` crate's IDT type is not used: its handler types need the
//! unstable `x86-interrupt` ABI, and every gate here points at one of the
//! uniform stubs in `trap` anyway.

use super::gdt::{Ist, KERNEL_CODE};
use super::trap;
use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;

/// One 16-byte interrupt gate.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// Present, DPL 0, 64-bit interrupt gate (interrupts off on entry).
const INTERRUPT_GATE: u8 = 0x8e;

impl Gate {
    fn new(handler: u64, ist: Ist) -> Self {
        Self {
            offset_low: handler as u16,
            selector: KERNEL_CODE,
            ist: ist as u8,
            type_attributes: INTERRUPT_GATE,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: spin::Once<Idt> = spin::Once::new();

/// Which IST stack a vector runs on.
fn ist_for(vector: usize) -> Ist {
    match vector {
        trap::NMI => Ist::Nmi,
        trap::DOUBLE_FAULT => Ist::DoubleFault,
        trap::MACHINE_CHECK => Ist::MachineCheck,
        0..=31 => Ist::Exception,
        _ => Ist::Irq,
    }
}

/// Loads the IDT on this CPU (building it on first use).
pub fn load() {
    let idt = IDT.call_once(|| {
        let mut gates = [Gate::default(); 256];
        for (vector, gate) in gates.iter_mut().enumerate() {
            *gate = Gate::new(trap::stub_address(vector), ist_for(vector));
        }
        Idt(gates)
    });
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the IDT is a static that lives forever, and each gate points
    // at a valid stub with a kernel code selector.
    unsafe { lidt(&pointer) };
}

crate::ktest!(
    fn every_vector_runs_on_an_ist_stack() {
        let pointer = x86_64::instructions::tables::sidt();
        crate::ensure_eq!(usize::from(pointer.limit) + 1, core::mem::size_of::<Idt>());
        let gates = pointer.base.as_ptr::<Gate>();
        for vector in 0..256 {
            // SAFETY: the loaded IDT has 256 gates (limit checked above).
            let gate = unsafe { gates.add(vector).read() };
            crate::ensure!(gate.ist != 0, "vector {vector} has no IST stack");
            crate::ensure_eq!(gate.ist, ist_for(vector) as u8);
            let handler = u64::from(gate.offset_low)
                | u64::from(gate.offset_mid) << 16
                | u64::from(gate.offset_high) << 32;
            crate::ensure_eq!(handler, trap::stub_address(vector));
        }
        // NMI, #DF and #MC each have a stack of their own.
        let slots = [
            ist_for(trap::NMI),
            ist_for(trap::DOUBLE_FAULT),
            ist_for(trap::MACHINE_CHECK),
            Ist::Exception,
            Ist::Irq,
        ];
        for (i, a) in slots.iter().enumerate() {
            for b in &slots[i + 1..] {
                crate::ensure!(a != b, "IST slots shared: {a:?}");
            }
        }
        Ok(())
    }
);

crate::ktest!(
    fn ist_stacks_are_distinct_on_every_cpu() {
        for index in 0..super::percpu::online_count() {
            let cpu = super::percpu::get(index).ok_or("missing CPU block")?;
            let tops = cpu.tss.interrupt_stack_table;
            for (i, top) in tops.iter().take(Ist::ALL.len()).enumerate() {
                crate::ensure!(!top.is_null(), "cpu{index} IST{} is empty", i + 1);
                crate::ensure!(
                    crate::mm::paging::is_mapped(top.as_u64() - 8),
                    "cpu{index} IST{} unmapped",
                    i + 1
                );
                for other in &tops[i + 1..Ist::ALL.len()] {
                    let gap = top.as_u64().abs_diff(other.as_u64());
                    crate::ensure!(
                        gap >= super::gdt::IST_STACK_BYTES as u64,
                        "cpu{index} IST stacks overlap"
                    );
                }
            }
        }
        Ok(())
    }
);
