//! Host-side runner for the kernel.
fn main() {}
