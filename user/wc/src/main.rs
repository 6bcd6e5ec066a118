//! `wc`: counts the lines, words and bytes it reads from standard input
//! (the console until Ctrl-D, or a pipe until its writers close), and
//! prints them as `LINES WORDS BYTES`, like POSIX `wc` with no file.
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let (mut lines, mut words, mut bytes) = (0u64, 0u64, 0u64);
    let mut in_word = false;
    let mut buffer = [0u8; 4096];
    loop {
        let count = match rt::fs::read(&mut ring, 0, &mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(errno) => {
                let _ = writeln!(Writer(&mut ring), "wc: reading standard input: {errno}");
                return 1;
            }
        };
        bytes += count as u64;
        for &byte in &buffer[..count] {
            if byte == b'\n' {
                lines += 1;
            }
            let blank = byte.is_ascii_whitespace();
            if !blank && !in_word {
                words += 1;
            }
            in_word = !blank;
        }
    }
    let _ = writeln!(Writer(&mut ring), "{lines} {words} {bytes}");
    0
}
