//! The build script of every user program (each names it with
//! `build = "../build.rs"`): link the program as a static,
//! position-independent, freestanding ELF (`ET_DYN` with no interpreter,
//! whose only relocations are `R_X86_64_RELATIVE`, applied by the kernel's
//! loader) with the user linker script.  rustc already compiles for the
//! target's default relocation model, `pic`.
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../user.ld");
    println!("cargo:rerun-if-changed={script}");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static-pie",
        "-Wl,--no-dynamic-linker",
        "-Wl,-z,text",
        "-Wl,-z,relro",
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{script}");
}
