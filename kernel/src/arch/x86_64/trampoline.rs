//! The application processors' way from real mode to the kernel.
//!
//! The blob below is copied to physical 0x8000 (SIPI vector 0x08).  An AP
//! starts there in real mode, loads the blob's own GDT, enters protected
//! mode, enables PAE, long mode and paging with a page table that
//! identity-maps low memory and shares the kernel half, and jumps to 64-bit
//! code that calls `entry(arg)` on `stack`.
//!
//! ```text
//! 0x8000  code, GDT                      0x8fc0  CR3 (trampoline tables)
//! 0x9000  PML4  [0] -> PDPT, [256..512]  0x8fc8  EFER bits to set (LME, NXE)
//!         copied from the kernel         0x8fd0  stack top
//! 0xa000  PDPT  [0] -> PD                0x8fd8  argument
//! 0xb000  PD    [0] = 2 MiB at 0         0x8fe0  entry point
//! ```
//!
//! All of it lies in the reserved first megabyte.  The kernel's own tables
//! never gain an identity map: the AP loads them as soon as it is in the
//! higher half.

use crate::mm::phys_to_virt;
use x86_64::PhysAddr;

pub const TRAMPOLINE_PHYS: u64 = 0x8000;
const PML4_PHYS: u64 = 0x9000;
const PDPT_PHYS: u64 = 0xa000;
const PD_PHYS: u64 = 0xb000;
const PARAMS_OFFSET: u64 = 0xfc0;

core::arch::global_asm!(
    r#"
    .section .rodata.trampoline, "a", @progbits
    .globl trampoline_start
    .globl trampoline_end
    .set TRAMP, 0x8000
    .set PARAMS, TRAMP + 0xfc0
    .code16
trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (tramp_gdt_ptr - trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $(TRAMP + tramp32 - trampoline_start)

    .code32
tramp32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $((1 << 5) | (1 << 7) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4
    mov (PARAMS), %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or (PARAMS + 8), %eax
    wrmsr
    mov %cr0, %eax
    and $~(1 << 2), %eax
    or $((1 << 31) | (1 << 16) | (1 << 5) | (1 << 1) | 1), %eax
    mov %eax, %cr0
    ljmp $0x18, $(TRAMP + tramp64 - trampoline_start)

    .code64
tramp64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov (PARAMS + 16), %rsp
    mov (PARAMS + 24), %rdi
    mov (PARAMS + 32), %rax
    xor %ebp, %ebp
    call *%rax
    ud2

    .balign 8
tramp_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
tramp_gdt_ptr:
    .word 31
    .long TRAMP + (tramp_gdt - trampoline_start)
trampoline_end:
    .code64
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static trampoline_start: u8;
    static trampoline_end: u8;
}

/// Copies the blob and builds its page tables.  `kernel_pml4` supplies the
/// kernel half.
pub fn install(kernel_pml4: PhysAddr) {
    let (start, end) = (&raw const trampoline_start, &raw const trampoline_end);
    let len = end as usize - start as usize;
    assert!(
        len as u64 <= PARAMS_OFFSET,
        "trampoline overlaps its parameters"
    );
    let page = |phys: u64| phys_to_virt(phys).as_mut_ptr::<u64>();
    // SAFETY: 0x8000..0xc000 lies in the reserved first megabyte, which the
    // kernel owns and nothing else uses; the direct map covers it.
    unsafe {
        core::ptr::copy_nonoverlapping(start, page(TRAMPOLINE_PHYS).cast::<u8>(), len);
        core::ptr::write_bytes(page(PML4_PHYS), 0, 3 * 512);
        let pml4 = page(PML4_PHYS);
        pml4.write(PDPT_PHYS | 0x3);
        let kernel = phys_to_virt(kernel_pml4.as_u64()).as_ptr::<u64>();
        core::ptr::copy_nonoverlapping(kernel.add(256), pml4.add(256), 256);
        page(PDPT_PHYS).write(PD_PHYS | 0x3);
        page(PD_PHYS).write(0x83);
    }
}

/// Parameters for the next AP to start.
pub struct Params {
    pub efer_bits: u64,
    pub stack_top: u64,
    pub argument: u64,
    pub entry: extern "C" fn(u64) -> !,
}

/// Writes the parameters the blob reads.  One AP starts at a time.
pub fn set_params(params: &Params) {
    let base = phys_to_virt(TRAMPOLINE_PHYS + PARAMS_OFFSET).as_mut_ptr::<u64>();
    let values = [
        PML4_PHYS,
        params.efer_bits,
        params.stack_top,
        params.argument,
        params.entry as usize as u64,
    ];
    for (index, value) in values.into_iter().enumerate() {
        // SAFETY: the parameter slots lie in the trampoline page (see
        // `install`); volatile so the writes happen before the SIPI.
        unsafe { base.add(index).write_volatile(value) };
    }
}
