//! The heap: the `#[global_allocator]` behind `alloc` (`Box`, `Vec`,
//! `String`, and the tasks of [`crate::task`]).
//!
//! Talc allocates from a fixed arena in `.bss`, claimed on the first
//! allocation and locked with [`crate::sync::RawMutex`], so threads share
//! it.  When the arena is used up an allocation returns null, and `alloc`'s
//! `handle_alloc_error` panics: the process exits with status 101.  Fallible
//! APIs (`Vec::try_reserve`) see the failure as an `Err` instead.
//!
//! ```text
//! .data/.bss segment (the ELF loader backs it with zeroed frames at once)
//! +---------+----------------------------------+---------+
//! | statics | ARENA: ARENA_BYTES, Talc's heap  | statics |
//! +---------+----------------------------------+---------+
//! ```
//!
//! # Who pays for it
//!
//! Only programs that allocate.  Every user program is linked with
//! `--gc-sections`, and the arena is referenced only from the allocator,
//! which is referenced only from `alloc`'s `__rust_alloc` family: a program
//! that never allocates (`true`, `hello`) loses all three, and its `.bss`
//! stays as it was.  A cargo feature would not do better: the harness
//! builds every user program in one cargo invocation, which unifies
//! features, so one program turning the heap on would turn it on for all.
//!
//! # Growing
//!
//! The arena is fixed because there is no MMAP yet.  Once that op exists,
//! the `Claim` source below becomes a Talc `Source` whose `acquire` maps
//! more anonymous memory and hands it to Talc (`claim`/`extend`); the
//! arena can then shrink to a first chunk, or go.

use crate::sync::RawMutex;
use talc::TalcLock;
use talc::source::Claim;

/// The arena's size: modest, because the loader maps `.bss` eagerly.
pub const ARENA_BYTES: usize = 256 * 1024;

#[global_allocator]
static HEAP: TalcLock<RawMutex, Claim> = TalcLock::new({
    static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];
    // SAFETY: `Claim` hands the arena to Talc once, on the first
    // allocation, and nothing else ever names `ARENA` (it is private to
    // this initializer), so Talc owns those bytes for the program's life,
    // as `Talc::claim` requires.  `&raw mut` makes no reference to the
    // `static mut`.
    unsafe { Claim::array(&raw mut ARENA) }
});
