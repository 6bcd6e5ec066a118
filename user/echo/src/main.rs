//! `echo ARGS...`: writes its arguments, separated by spaces and ended by
//! a newline, to standard output (handle 1: the console, or a pipe).
#![no_std]
#![no_main]

extern crate freestanding;

rt::entry!(main);

fn main() -> i32 {
    let mut line = [0u8; 4096];
    let mut len = 0;
    for (index, argument) in rt::args().skip(1).enumerate() {
        let separator: &[u8] = if index == 0 { b"" } else { b" " };
        for &byte in separator.iter().chain(argument.as_bytes()) {
            let Some(slot) = line.get_mut(len) else {
                return 1;
            };
            *slot = byte;
            len += 1;
        }
    }
    let Some(slot) = line.get_mut(len) else {
        return 1;
    };
    *slot = b'\n';
    len += 1;
    match rt::io::write(1, &line[..len]) {
        Ok(written) if written == len => 0,
        _ => 1,
    }
}
