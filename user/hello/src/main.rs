//! `hello`: a WRITE through the ring, to the console.
#![no_std]
#![no_main]

extern crate freestanding;

rt::entry!(main);

fn main() -> i32 {
    let text = b"hello from user space: this line came through the ring (one WRITE SQE, one CQE)\n";
    match rt::io::write(1, text) {
        Ok(written) if written == text.len() => 0,
        Ok(_) => 2,
        Err(_) => 1,
    }
}
