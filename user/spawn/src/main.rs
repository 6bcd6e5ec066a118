//! `spawn [DEPTH]`: a process tree with exit statuses.
//!
//! Process number `n` (the root is 1) at depth `d > 0` spawns processes
//! `2n` and `2n + 1` at depth `d - 1`, waits for both, and exits with the
//! sum of their exit statuses (mod 256); a leaf exits with its own number.
//! The root checks the status that came up the tree against the same sum
//! computed here, and exits 0 only if they agree.  DEPTH is at most 4
//! (31 processes).
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::Writer;
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

const MAX_DEPTH: u32 = 4;

/// The status process `number` at `depth` should exit with.
fn expected(number: u32, depth: u32) -> u32 {
    if depth == 0 {
        number % 256
    } else {
        (expected(2 * number, depth - 1) + expected(2 * number + 1, depth - 1)) % 256
    }
}

/// Writes `value` in decimal into `out`; the digits.
fn decimal(value: u32, out: &mut [u8; 10]) -> &[u8] {
    let mut at = out.len();
    let mut rest = value;
    loop {
        at -= 1;
        out[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return &out[at..];
        }
    }
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 255;
    };
    let mut args = rt::args().skip(1);
    let depth = args.next().map_or(Ok(2), str::parse::<u32>);
    let number = args.next().map_or(Ok(1), str::parse::<u32>);
    let (Ok(depth), Ok(number)) = (depth, number) else {
        let _ = writeln!(Writer(&mut ring), "usage: spawn [DEPTH]");
        return 255;
    };
    if depth > MAX_DEPTH {
        let _ = writeln!(Writer(&mut ring), "spawn: DEPTH is at most {MAX_DEPTH}");
        return 255;
    }
    // Indented by the level in the tree: process n is on level log2(n).
    let level = 31 - number.max(1).leading_zeros();
    let indent = "                    "
        .get(..2 * level as usize)
        .unwrap_or("");
    if depth == 0 {
        let _ = writeln!(
            Writer(&mut ring),
            "spawn: {indent}#{number}: a leaf, exits with {}",
            number % 256
        );
        return (number % 256) as i32;
    }
    let mut children = [0; 2];
    for (slot, child) in children.iter_mut().zip([2 * number, 2 * number + 1]) {
        // argv: "spawn", depth - 1, the child's number.
        let mut block = [0u8; 32];
        let mut len = 0;
        let mut digits = [0u8; 10];
        for part in [
            b"spawn".as_slice(),
            decimal(depth - 1, &mut digits),
            decimal(child, &mut [0u8; 10]),
        ] {
            block[len..len + part.len()].copy_from_slice(part);
            block[len + part.len()] = 0;
            len += part.len() + 1;
        }
        match process::spawn(&mut ring, "bin/spawn", &block[..len]) {
            Ok(handle) => *slot = handle,
            Err(errno) => {
                let _ = writeln!(
                    Writer(&mut ring),
                    "spawn: #{number}: spawning #{child}: {errno}"
                );
                return 255;
            }
        }
    }
    let mut sum = 0u32;
    let mut statuses = [0u32; 2];
    for (handle, status) in children.into_iter().zip(statuses.iter_mut()) {
        match process::wait(&mut ring, handle) {
            Ok(WaitStatus::Exited(code)) => *status = code as u32,
            other => {
                let _ = writeln!(
                    Writer(&mut ring),
                    "spawn: #{number}: a child ended {other:?}"
                );
                return 255;
            }
        }
        sum += *status;
    }
    let status = sum % 256;
    let _ = writeln!(
        Writer(&mut ring),
        "spawn: {indent}#{number}: children #{} and #{} exited with {} and {}, exits with {status}",
        2 * number,
        2 * number + 1,
        statuses[0],
        statuses[1],
    );
    if number != 1 {
        return status as i32;
    }
    let want = expected(1, depth);
    let processes = (1u32 << (depth + 1)) - 1;
    let _ = writeln!(
        Writer(&mut ring),
        "spawn: {processes} processes; the status that came up the tree is {status}, expected {want}"
    );
    i32::from(status != want)
}
