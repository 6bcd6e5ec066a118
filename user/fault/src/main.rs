//! `fault`: reads address zero.  The kernel kills it with a page-fault
//! status; nothing else is hurt.
#![no_std]
#![no_main]

extern crate freestanding;

rt::entry!(main);

fn main() -> i32 {
    // SAFETY: deliberately not: the read faults, and the kernel ends the
    // process before it could use the value.
    let value = unsafe { core::ptr::null::<u8>().read_volatile() };
    i32::from(value)
}
