//! `cat FILE...`: copies initfs files to standard output (OPENAT, READ,
//! WRITE, CLOSE through the ring).  With no arguments, or for `-`, it
//! copies standard input (the console, or a pipe) until its end.
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::{Writer, write_with};
use rt::ring::Ring;

rt::entry!(main);

/// Copies one file (`-`: standard input) to standard output; `Err` names
/// the failing step.
fn cat(ring: &mut Ring, path: &str) -> Result<(), (&'static str, abi::Errno)> {
    if path == "-" {
        return copy(ring, 0);
    }
    let mut name = [0u8; 256];
    if path.len() >= name.len() {
        return Err(("open", abi::Errno::ENAMETOOLONG));
    }
    name[..path.len()].copy_from_slice(path.as_bytes());
    let name =
        core::ffi::CStr::from_bytes_until_nul(&name).map_err(|_| ("open", abi::Errno::EINVAL))?;
    let handle = rt::fs::open(ring, name).map_err(|e| ("open", e))?;
    let copied = copy(ring, handle);
    rt::fs::close(ring, handle).map_err(|e| ("close", e))?;
    copied
}

/// Copies what `handle` reads to standard output, until end of file.
fn copy(ring: &mut Ring, handle: i32) -> Result<(), (&'static str, abi::Errno)> {
    let mut buffer = [0u8; 1024];
    loop {
        let count = rt::fs::read(ring, handle, &mut buffer).map_err(|e| ("read", e))?;
        if count == 0 {
            break;
        }
        write_with(ring, 1, &buffer[..count]).map_err(|e| ("write", e))?;
    }
    Ok(())
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let mut failures = 0;
    let mut paths = rt::args().skip(1).peekable();
    let default = ["-"];
    let paths: &mut dyn Iterator<Item = &str> = if paths.peek().is_some() {
        &mut paths
    } else {
        &mut default.into_iter()
    };
    for path in paths {
        if let Err((step, errno)) = cat(&mut ring, path) {
            let _ = writeln!(Writer(&mut ring), "cat: {path}: {step}: {errno}");
            failures += 1;
        }
    }
    failures
}
