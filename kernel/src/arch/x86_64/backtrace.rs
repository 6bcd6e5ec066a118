//! Backtraces from the frame-pointer chain (the build forces frame
//! pointers).  Each line reads `  #N 0x<address>`; the host harness appends
//! the symbol from the kernel ELF.
//!
//! The walk checks every frame pointer against the live page tables before
//! reading it, so a corrupt chain ends the trace instead of faulting inside
//! the report.

use super::serial::write_fmt_unlocked as out;

const MAX_FRAMES: usize = 32;

/// Calls `visit` with each return address, innermost first, starting at
/// `rip` with `rbp` the innermost frame.  Returns why the walk ended.
pub fn walk(rip: u64, mut rbp: u64, mut visit: impl FnMut(u64)) -> &'static str {
    visit(rip);
    for _ in 1..MAX_FRAMES {
        if rbp == 0 {
            return "end of chain";
        }
        if !rbp.is_multiple_of(8) || rbp < crate::mm::DIRECT_MAP_BASE {
            return "frame pointer outside the kernel";
        }
        if !crate::mm::paging::is_mapped(rbp) || !crate::mm::paging::is_mapped(rbp + 8) {
            return "frame pointer not mapped";
        }
        // SAFETY: both words are mapped kernel memory (checked above); a
        // frame record is [saved rbp, return address].
        let (next, ret) = unsafe { ((rbp as *const u64).read(), ((rbp + 8) as *const u64).read()) };
        if ret == 0 {
            return "end of chain";
        }
        visit(ret);
        rbp = next;
    }
    "depth limit"
}

/// Prints a backtrace starting at `rip`, with `rbp` the innermost frame.
pub fn print(rip: u64, rbp: u64) {
    out(format_args!("backtrace:\n"));
    let mut index = 0;
    let end = walk(rip, rbp, |address| {
        out(format_args!("  #{index} {address:#018x}\n"));
        index += 1;
    });
    if end != "end of chain" {
        out(format_args!("  ({end})\n"));
    }
}

/// The caller's frame: this function's own return address and its
/// caller's frame pointer, so a walk starts at the caller.
#[inline(never)]
pub fn here() -> (u64, u64) {
    let rbp: u64;
    // SAFETY: reads RBP only.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    // SAFETY: with frame pointers forced on, [rbp] is the caller's saved
    // RBP and [rbp + 8] our return address, both on the live stack.
    unsafe { (((rbp + 8) as *const u64).read(), (rbp as *const u64).read()) }
}

/// Prints a backtrace of the caller.
#[inline(never)]
pub fn print_here() {
    let (rip, rbp) = here();
    print(rip, rbp);
}

crate::ktest!(
    fn walk_reaches_the_callers() {
        #[inline(never)]
        fn inner() -> alloc::vec::Vec<u64> {
            let (rip, rbp) = here();
            let mut frames = alloc::vec::Vec::new();
            walk(rip, rbp, |address| frames.push(address));
            core::hint::black_box(frames)
        }
        #[inline(never)]
        fn outer() -> alloc::vec::Vec<u64> {
            core::hint::black_box(inner())
        }
        let frames = outer();
        crate::ensure!(
            frames.len() >= 3,
            "only {} frames: {frames:x?}",
            frames.len()
        );
        // The outermost frame returns into the boot stub in low memory; the
        // inner ones must all lie in the kernel image.
        let text = crate::mm::KERNEL_BASE..u64::MAX;
        crate::ensure!(
            frames[..3].iter().all(|f| text.contains(f)),
            "a frame outside the kernel image: {frames:x?}"
        );
        // Frame 0 is where `here` returned to, inside `inner`; frame 1 is
        // where `inner` returns to, inside `outer`.
        for (index, function) in [
            (0, inner as *const () as u64),
            (1, outer as *const () as u64),
        ] {
            crate::ensure!(
                (function..function + 256).contains(&frames[index]),
                "frame {index} {:#x} is not inside the function at {function:#x}",
                frames[index]
            );
        }
        Ok(())
    }
);
