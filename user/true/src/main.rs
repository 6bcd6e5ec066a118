//! `true`: exits with status 0.
#![no_std]
#![no_main]

extern crate freestanding;

rt::entry!(main);

fn main() -> i32 {
    0
}
