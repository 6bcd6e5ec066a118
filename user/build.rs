//! The build script of every user program (each names it with
//! `build = "../build.rs"`): link the program as a static, freestanding ELF
//! with the user linker script.
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../user.ld");
    println!("cargo:rerun-if-changed={script}");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{script}");
}
