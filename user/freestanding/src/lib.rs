//! Support symbols for the freestanding binaries (the kernel and the user
//! programs), which link against the host target's prebuilt `core`.
//!
//! On `x86_64-unknown-linux-gnu`, `compiler_builtins` leaves `memcpy` and
//! friends (and `strlen`, which `CStr::from_ptr` calls) to libc, and the prebuilt `core` refers to the unwinder's
//! personality routine.  Neither libc nor an unwinder is linked here, so this
//! crate provides them.  Link it only into final freestanding executables
//! (`extern crate freestanding;` in `main.rs`): in a host test binary these
//! symbols would shadow libc's.
//!
//! The copies use `rep movsq`/`rep stosq` for the bulk and `rep movsb`/
//! `rep stosb` for the tail, in asm.  A plain loop would be recognised by
//! LLVM and turned back into a call to `memcpy` itself.  Quadwords rather
//! than ERMSB's `rep movsb` for everything: under emulation each iteration
//! of a `rep` instruction costs like one instruction, so bytes cost eight
//! times what quadwords do (and `-icount` counts them all).
#![no_std]

use core::arch::asm;

/// Copies `n` bytes from `src` to `dest`; the ranges must not overlap.
///
/// # Safety
///
/// `dest` must be valid for `n` bytes of writes and `src` for `n` bytes of
/// reads, and the two ranges must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid and disjoint;
    // DF is clear (the SysV ABI requires it on every call).  The quadword
    // part and the byte tail together copy exactly `n` bytes, forwards.
    unsafe {
        asm!(
            "rep movsq",
            "mov rcx, {tail}",
            "rep movsb",
            tail = in(reg) n % 8,
            inout("rcx") n / 8 => _,
            inout("rdi") dest => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags)
        );
    }
    dest
}

/// Copies `n` bytes from `src` to `dest`; the ranges may overlap.
///
/// # Safety
///
/// `dest` must be valid for `n` bytes of writes and `src` for `n` bytes of
/// reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // Forward copy is safe: dest is below src, or past src's end.
        // SAFETY: forwarded caller guarantee; a forward copy never reads a
        // byte it has already overwritten in this case.
        return unsafe { memcpy(dest, src, n) };
    }
    // Overlap with dest above src: copy backwards with DF set.
    // SAFETY: the caller guarantees both ranges are valid; DF is restored
    // before the asm block ends.
    unsafe {
        asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dest.add(n - 1) => _,
            inout("rsi") src.add(n - 1) => _,
            options(nostack)
        );
    }
    dest
}

/// Fills `n` bytes at `dest` with the low byte of `value`.
///
/// # Safety
///
/// `dest` must be valid for `n` bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    // The byte, repeated in every byte of a quadword.
    let pattern = u64::from(value as u8) * 0x0101_0101_0101_0101;
    // SAFETY: the caller guarantees the range is writable; DF is clear.
    // The quadword part and the byte tail write exactly `n` bytes (the low
    // byte of RAX is the fill byte for `stosb`).
    unsafe {
        asm!(
            "rep stosq",
            "mov rcx, {tail}",
            "rep stosb",
            tail = in(reg) n % 8,
            inout("rcx") n / 8 => _,
            inout("rdi") dest => _,
            in("rax") pattern,
            options(nostack, preserves_flags)
        );
    }
    dest
}

/// Compares `n` bytes; returns the difference of the first unequal pair.
///
/// # Safety
///
/// Both pointers must be valid for `n` bytes of reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // Volatile reads keep LLVM from recognising the loop as a `memcmp`
        // idiom and compiling it into a call to this very function.
        // SAFETY: i < n, and the caller guarantees n readable bytes.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// Like `memcmp`, but only zero versus non-zero is meaningful.
///
/// # Safety
///
/// Both pointers must be valid for `n` bytes of reads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// The length of the NUL-terminated string at `s` (`CStr::from_ptr` calls
/// it).
///
/// # Safety
///
/// `s` must point to a readable, NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut len = 0;
    // Volatile reads, as in `memcmp`: LLVM would turn the loop into a call
    // to `strlen` itself.
    // SAFETY: every byte up to and including the NUL is readable.
    while unsafe { s.add(len).read_volatile() } != 0 {
        len += 1;
    }
    len
}

/// The personality routine the prebuilt `core` names.  Every profile here
/// aborts on panic, so no frame is ever unwound and this is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Referenced by the prebuilt `core`'s cleanup paths; unreachable for the
/// same reason as [`rust_eh_personality`].
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
