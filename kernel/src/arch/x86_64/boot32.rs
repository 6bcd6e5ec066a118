//! The PVH entry: the ELF note QEMU reads, and the 32-bit stub that reaches
//! long mode and calls [`super::boot::kernel_entry`].
//!
//! QEMU enters `pvh_start32` in 32-bit protected mode, paging off, with EBX
//! holding the physical address of `hvm_start_info`.  The stub:
//!
//! 1. records the entry TSC and the start-info pointer;
//! 2. builds early page tables with 2 MiB pages (no 1 GiB pages: the default
//!    QEMU CPU lacks them):
//!
//!    ```text
//!    PML4[0]   -> PDPT_LOW  [0..4) -> PD[0..4]   identity 0..4 GiB (the stub)
//!    PML4[256] -> PDPT_LOW                       direct map 0..4 GiB
//!    PML4[511] -> PDPT_HIGH [510]  -> PD[0]      kernel: -2 GiB -> 0..1 GiB
//!    ```
//!
//! 3. enables PAE, SSE (OSFXSR/OSXMMEXCPT), long mode and NX (if CPUID
//!    offers it), then paging with write protection;
//! 4. loads a 64-bit GDT, jumps to 64-bit code, switches to the boot stack in
//!    the higher half and calls `kernel_entry(start_info, entry_tsc)`.
//!
//! SSE is on before any Rust code runs: the prebuilt `core` uses it.
//! `mm::paging` replaces these tables with the final ones, which have no
//! identity map.

/// Size of the BSP's boot stack, in the kernel's `.bss`.
pub const BOOT_STACK_BYTES: usize = 64 * 1024;

core::arch::global_asm!(
    r#"
    .section .note.pvh, "a", @note
    .balign 4
    .long 4                 /* name size: "Xen\0" */
    .long 8                 /* descriptor size: a 64-bit address */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_start32
    .balign 4

    .section .boot.data, "aw", @progbits
    .balign 8
early_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff    /* 0x10: data, DPL 0 */
early_gdt_end:
early_gdt_ptr:
    .word early_gdt_end - early_gdt - 1
    .long early_gdt
    .balign 8
early_start_info:
    .quad 0
early_entry_tsc:
    .quad 0

    .section .boot.bss, "aw", @nobits
    .balign 4096
early_pml4:      .skip 4096
early_pdpt_low:  .skip 4096
early_pdpt_high: .skip 4096
early_pd:        .skip 4096 * 4
early_tables_end:

    .section .boot.text, "ax", @progbits
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, early_start_info
    rdtsc
    mov %eax, early_entry_tsc
    mov %edx, early_entry_tsc + 4

    /* Zero the early tables (7 pages). */
    mov $early_pml4, %edi
    mov $(early_tables_end - early_pml4) / 4, %ecx
    xor %eax, %eax
    rep stosl

    /* PD[0..4]: 2048 entries of 2 MiB, present | writable | huge. */
    mov $early_pd, %edi
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, (%edi, %ecx, 8)
    mov %ecx, %edx
    shr $11, %edx
    mov %edx, 4(%edi, %ecx, 8)
    inc %ecx
    cmp $2048, %ecx
    jne 1b

    mov $early_pd + 0x003, %eax
    mov %eax, early_pdpt_low
    mov %eax, early_pdpt_high + 510 * 8
    add $0x1000, %eax
    mov %eax, early_pdpt_low + 8
    add $0x1000, %eax
    mov %eax, early_pdpt_low + 16
    add $0x1000, %eax
    mov %eax, early_pdpt_low + 24

    mov $early_pdpt_low + 0x003, %eax
    mov %eax, early_pml4
    mov %eax, early_pml4 + 256 * 8
    mov $early_pdpt_high + 0x003, %eax
    mov %eax, early_pml4 + 511 * 8
    mov $early_pml4, %eax
    mov %eax, %cr3

    /* CR4: PAE | PGE | OSFXSR | OSXMMEXCPT. */
    mov %cr4, %eax
    or $((1 << 5) | (1 << 7) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4

    /* EFER: LME, and NXE when CPUID 0x80000001 EDX bit 20 says NX exists. */
    mov $0x80000000, %eax
    cpuid
    xor %esi, %esi
    cmp $0x80000001, %eax
    jb 2f
    mov $0x80000001, %eax
    cpuid
    test $(1 << 20), %edx
    jz 2f
    mov $(1 << 11), %esi
2:  mov $0xC0000080, %ecx
    rdmsr
    or $(1 << 8), %eax
    or %esi, %eax
    wrmsr

    /* CR0: PG | WP | NE | MP | PE, and EM clear so SSE works. */
    mov %cr0, %eax
    and $~(1 << 2), %eax
    or $((1 << 31) | (1 << 16) | (1 << 5) | (1 << 1) | 1), %eax
    mov %eax, %cr0

    lgdt early_gdt_ptr
    ljmp $0x08, $pvh_long_mode

    .code64
pvh_long_mode:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs ${stack} + {stack_bytes}, %rsp
    mov early_start_info, %edi
    mov early_entry_tsc, %rsi
    xor %ebp, %ebp
    movabs ${entry}, %rax
    call *%rax
    ud2
"#,
    stack = sym BOOT_STACK,
    stack_bytes = const BOOT_STACK_BYTES,
    entry = sym super::boot::kernel_entry,
    options(att_syntax)
);

/// The BSP's stack from the stub until the CPU loop; it stays the BSP's
/// kernel stack afterwards.
#[repr(C, align(16))]
pub struct BootStack(pub [u8; BOOT_STACK_BYTES]);

pub static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_BYTES]);
