//! What the fuzzer points SQEs at: addresses of every kind (memory it may
//! hand to the kernel, and memory no op may touch), lengths, handles,
//! paths and timespecs.
//!
//! ```text
//! ARENA            1 MiB read-write: the only memory ops may write into;
//!                  the fuzzer itself never touches it, so MUNMAP, MPROTECT
//!                  and MAP_FIXED may do anything to it
//! ARENA + 1 MiB    4 KiB never mapped (a hole)
//!         + 4 KiB  4 KiB PROT_NONE
//!         + 8 KiB  4 KiB read-only
//! ```
//!
//! The program's own text, data, stack and ring are regions the kernel
//! made: the memory ops must refuse them (`EPERM`), and ops that write a
//! buffer are never pointed at them (a READ into the SQ would be the
//! fuzzer corrupting itself, which the ring mode does on purpose).

use crate::rng::Rng;
use abi::{MapFlags, ProtFlags, Timespec};

pub const PAGE: u64 = 4096;
pub const ARENA: u64 = 0x0000_2000_0000_0000;
pub const ARENA_BYTES: u64 = 1 << 20;
pub const HOLE: u64 = ARENA + ARENA_BYTES;
pub const PROT_NONE_PAGE: u64 = HOLE + PAGE;
pub const READ_ONLY_PAGE: u64 = PROT_NONE_PAGE + PAGE;

/// The top of user space (the kernel's `USER_END`): everything from here
/// up is kernel or non-canonical.
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// Addresses no op may touch: the kernel's half and non-canonical ones,
/// page 0, and the top of user space, which nothing maps.
pub const FORBIDDEN: &[u64] = &[
    0,
    1,
    0xfff,
    USER_END,
    USER_END - 1,
    0x8000_0000_0000_0000,
    0xffff_8000_0000_0000,
    0xffff_8000_0010_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_8010_0000,
    0xffff_ffff_ffff_f000,
    u64::MAX,
    u64::MAX - 15,
];

/// Guard pages the kernel placed: below the main stack (its top and size
/// are the kernel's `STACK_TOP` and `STACK_BYTES`), and the first slot of
/// the thread-stack area.
pub const GUARDS: &[u64] = &[0x7fff_ffff_f000 - 0x1_0000 - PAGE, 0x7e00_0000_0000];

/// How an address relates to the op that gets it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Memory the op may use (it may still fail, if the fuzzer's own
    /// MUNMAP or MPROTECT got there first).
    Usable,
    /// Memory no op may read or write: success would be a hole in
    /// isolation.
    Forbidden,
    /// Read-only to user mode (text, rodata, the read-only page): reading
    /// is fine, writing must fail.
    ReadOnly,
}

/// An address for a buffer the kernel will write (`writes`) or read.
pub fn buffer(rng: &mut Rng, writes: bool) -> (u64, Kind) {
    match rng.below(16) {
        0..=6 => (ARENA + rng.below(ARENA_BYTES), Kind::Usable),
        7 => (ARENA + ARENA_BYTES - rng.below(64), Kind::Usable),
        // Unusable when the worker starts, but its own MAP_FIXED may map
        // them (it may map anything of its own but the kernel's regions),
        // so an op may fail or succeed there: what is checked is that it
        // does not crash anything.
        8 => (HOLE + rng.below(PAGE), Kind::Usable),
        9 => (PROT_NONE_PAGE + rng.below(PAGE), Kind::Usable),
        10 => (rng.pick(GUARDS) + rng.below(PAGE), Kind::Usable),
        11 | 12 => (rng.pick(FORBIDDEN), Kind::Forbidden),
        13 => (0xffff_8000_0000_0000 | rng.next(), Kind::Forbidden),
        14 => (READ_ONLY_PAGE + rng.below(PAGE), Kind::Usable),
        _ if writes => (text_address(), Kind::ReadOnly),
        _ => (text_address(), Kind::Usable),
    }
}

/// An address somewhere in the program's text.
pub fn text_address() -> u64 {
    text_address as *const () as usize as u64
}

/// A length: mostly small, sometimes a page or the arena, sometimes one
/// that wraps the address space or passes the kernel's pin limit.
pub fn length(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => 0,
        1..=3 => rng.below(256) as u32,
        4 => rng.pick(&[4095, 4096, 4097, 8192, 65536]),
        5 => rng.pick(&[(1 << 20) - 1, 1 << 20, (1 << 20) + 1]),
        _ => rng.boundary32(),
    }
}

/// A handle number: the ones that exist (0 to a few dozen), and ones that
/// cannot.
pub fn handle(rng: &mut Rng) -> i32 {
    match rng.below(4) {
        0 | 1 => rng.below(24) as i32,
        2 => rng.pick(&[-1, -100, i32::MIN, i32::MAX, 65535, 65536, 1 << 20]),
        _ => rng.boundary32() as i32,
    }
}

/// NUL-terminated paths, good and bad.
pub const PATHS: &[&[u8]] = &[
    b"etc/motd\0",
    b"bin/true\0",
    b"bin\0",
    b"/etc/motd\0",
    b"etc/motd/x\0",
    b"nosuchfile\0",
    b"bin/../etc/motd\0",
    b"\0",
    b"etc//motd\0",
];

/// Executables PROCESS_SPAWN may start (not NUL-terminated: the op takes a
/// length): harmless ones, a non-ELF file, a directory, nothing.  Never
/// the fuzzer itself or anything that reads the console.
pub const PROGRAMS: &[&str] = &[
    "bin/true",
    "bin/fault",
    "etc/motd",
    "bin",
    "bin/nosuch",
    "",
    "bin/true\0x",
];

/// A path address: a real string, a long one, one that runs into the
/// hole, or a bad pointer.
pub fn path(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0..=4 => rng.pick(PATHS).as_ptr() as u64,
        5 => LONG_PATH.as_ptr() as u64,
        // The arena's last bytes: NUL-terminated or running into the
        // hole, depending on what earlier READs left there.
        6 => HOLE - 1 - rng.below(8),
        _ => buffer(rng, false).0,
    }
}

/// Longer than any path the kernel takes (4096 bytes), then NUL.
static LONG_PATH: [u8; 5000] = {
    let mut bytes = [b'a'; 5000];
    bytes[4999] = 0;
    bytes
};

/// Timespecs: zero, short, long (an hour: still pending when the worker
/// exits), and malformed.
pub static TIMESPECS: [Timespec; 7] = [
    Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    },
    Timespec::from_ns(1_000),
    Timespec::from_ns(200_000),
    Timespec::from_ns(3_600_000_000_000),
    Timespec {
        tv_sec: -1,
        tv_nsec: 0,
    },
    Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    },
    Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 999_999_999,
    },
];

pub fn timespec(rng: &mut Rng) -> u64 {
    if rng.one_in(6) {
        buffer(rng, false).0
    } else {
        &TIMESPECS[rng.below(TIMESPECS.len() as u64) as usize] as *const Timespec as u64
    }
}

/// Protection bits: the defined ones mostly, anything sometimes.
pub fn prot(rng: &mut Rng) -> u32 {
    if rng.one_in(6) {
        rng.boundary32()
    } else {
        rng.below(8) as u32
    }
}

/// MMAP flags: sensible combinations mostly, anything sometimes.
pub fn map_flags(rng: &mut Rng) -> u32 {
    if rng.one_in(6) {
        return rng.boundary32();
    }
    let mut flags = MapFlags::ANONYMOUS.bits();
    flags |= rng.pick(&[MapFlags::PRIVATE.bits(), MapFlags::SHARED.bits(), 0, 3]);
    if rng.one_in(3) {
        flags |= MapFlags::FIXED.bits();
    }
    if rng.one_in(4) {
        flags |= MapFlags::STACK.bits();
    }
    flags
}

/// An address for the memory ops: in the arena (page-aligned mostly), the
/// program's own regions, the forbidden ones, or anything.
pub fn mm_address(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=4 => ARENA + rng.below(ARENA_BYTES / PAGE + 4) * PAGE,
        5 => ARENA + rng.below(ARENA_BYTES),
        6 => text_address() & !(PAGE - 1),
        7 => rng.pick(FORBIDDEN),
        8 => rng.pick(GUARDS),
        _ => rng.boundary64(),
    }
}

/// Maps the arena and the pages after it (see the module's map).
pub fn map_arena(ring: &mut rt::ring::Ring) -> Result<(), abi::Errno> {
    let rw = ProtFlags::READ.bits() | ProtFlags::WRITE.bits();
    let fixed = MapFlags::FIXED.bits() | MapFlags::PRIVATE.bits();
    for (addr, len, prot) in [
        (ARENA, ARENA_BYTES, rw),
        (PROT_NONE_PAGE, PAGE, 0),
        (READ_ONLY_PAGE, PAGE, ProtFlags::READ.bits()),
    ] {
        let mut out = 0u64;
        let sqe = rt::prep::mmap_anonymous(addr, len as u32, prot, fixed, &mut out);
        crate::run(ring, sqe)?;
    }
    Ok(())
}
