//! The kernel image.
#![no_std]
#![no_main]

extern crate freestanding;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
