//! Links the kernel binary as a static, freestanding ELF laid out by
//! `kernel.ld`: a PVH note, a 32-bit stub at 1 MiB, and the higher half.
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/kernel.ld");
    println!("cargo:rerun-if-changed={script}");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=4096",
    ] {
        println!("cargo:rustc-link-arg-bin=kernel={arg}");
    }
    println!("cargo:rustc-link-arg-bin=kernel=-Wl,-T,{script}");
}
