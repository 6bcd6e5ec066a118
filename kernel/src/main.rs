//! The kernel image: the boot path enters `kernel::kmain` from the PVH stub
//! (see `arch::x86_64::boot32`); this file only links the freestanding
//! support and routes panics to the kernel's report.
#![no_std]
#![no_main]

extern crate freestanding;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kernel::panic::on_panic(info)
}
