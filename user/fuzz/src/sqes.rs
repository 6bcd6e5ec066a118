//! The SQE fuzzer: batches of SQEs against every opcode (and unknown
//! ones), each field random, at a boundary, or shaped for the op, aimed at
//! the targets of `targets`; every CQE is checked against the op's
//! contract (`contract`) and against what was asked.
//!
//! Each SQE's `user_data` is its serial number; `Pending` remembers what
//! was asked until the CQE comes.  A CQE nobody asked for, a second CQE
//! for one SQE, an errno outside the op's set, a result larger than asked
//! for, or success where the op named memory it must not touch, is a
//! violation.  Ops still pending when the worker ends (hour-long timeouts,
//! futex waits nobody wakes, reads of an empty pipe) are the kernel's to
//! cancel when the process exits; the parent checks that it gave back
//! every frame.

use crate::contract::{self, ANY_OP, Errnos};
use crate::rng::Rng;
use crate::targets::{self, Kind};
use abi::{Errno, Opcode, Sqe, SqeFlags};
use rt::ring::Ring;

/// What was asked, kept until the CQE.
#[derive(Clone, Copy, Default)]
struct Pending {
    serial: u64,
    opcode: u8,
    flags: u8,
    len: u32,
    /// Delivery to a thread that does not exist: ESRCH allowed.
    personality: bool,
    /// The op named memory it must not touch: it must fail.
    forbidden: bool,
    /// Only these errnos (plus cancellation): unknown opcodes and flags.
    exact: Option<Errnos>,
    done: bool,
}

/// SQEs remembered at once; a worker submits at most this many.
pub const MAX_SQES: usize = 8192;

static mut PENDING: [Pending; MAX_SQES] = [Pending {
    serial: 0,
    opcode: 0,
    flags: 0,
    len: 0,
    personality: false,
    forbidden: false,
    exact: None,
    done: false,
}; MAX_SQES];

/// The first few violations, for the report.
pub struct Violations {
    pub count: u32,
    pub first: [(u64, Sqe, i32); 8],
}

pub struct Fuzzer {
    rng: Rng,
    /// Fuzz only this opcode (a campaign aimed at one op).
    only: Option<u8>,
    serial: u64,
    pub cqes_checked: u64,
    pub violations: Violations,
}

/// `user_data` of the fuzzer's own waits: far above any serial.
const SENTINEL: u64 = 1 << 62;

impl Fuzzer {
    pub fn new(seed: u64, only: Option<u8>) -> Self {
        Self {
            rng: Rng::new(seed),
            only,
            serial: 0,
            cqes_checked: 0,
            violations: Violations {
                count: 0,
                first: [(0, Sqe::default(), 0); 8],
            },
        }
    }

    fn pending(&mut self) -> &mut [Pending; MAX_SQES] {
        // SAFETY: the worker is one thread, and `PENDING` is only reached
        // through the one `Fuzzer` it makes (`&mut self`).
        unsafe { &mut *core::ptr::addr_of_mut!(PENDING) }
    }

    fn violation(&mut self, serial: u64, sqe: Sqe, res: i32) {
        let slot = self.violations.count as usize;
        if let Some(entry) = self.violations.first.get_mut(slot) {
            *entry = (serial, sqe, res);
        }
        self.violations.count += 1;
    }

    /// Runs `count` SQEs in batches, reaping and checking as it goes.
    pub fn run(&mut self, ring: &mut Ring, count: u64) {
        let count = count.min(MAX_SQES as u64);
        while self.serial < count {
            let batch = (1 + self.rng.below(24)).min(count - self.serial);
            for _ in 0..batch {
                let sqe = self.generate();
                if ring.push(&sqe).is_err() {
                    let _ = ring.submit();
                    self.reap(ring);
                    let _ = ring.push(&sqe);
                }
            }
            // EBUSY (the overflow list is full) leaves the SQEs queued for
            // the next call, after a reap.
            let _ = ring.submit();
            self.reap(ring);
            if self.rng.one_in(8) {
                self.settle(ring);
            }
        }
        self.settle(ring);
    }

    /// Checks every CQE that is ready now.
    pub fn reap(&mut self, ring: &mut Ring) {
        while let Some(cqe) = ring.pop() {
            self.check(cqe.user_data, cqe.res);
        }
    }

    /// Waits for a short timer, checking what arrives meanwhile: ops that
    /// finish soon get to finish.
    fn settle(&mut self, ring: &mut Ring) {
        let spec = abi::Timespec::from_ns(300_000);
        let mut sqe = rt::prep::timeout(&spec);
        sqe.user_data = SENTINEL;
        if ring.push(&sqe).is_err() {
            return;
        }
        loop {
            if ring.submit_and_wait(1).is_err() {
                self.reap(ring);
                continue;
            }
            while let Some(cqe) = ring.pop() {
                if cqe.user_data == SENTINEL {
                    self.reap(ring);
                    return;
                }
                self.check(cqe.user_data, cqe.res);
            }
        }
    }

    fn check(&mut self, user_data: u64, res: i32) {
        self.cqes_checked += 1;
        let index = (user_data % MAX_SQES as u64) as usize;
        let pending = self.pending()[index];
        if user_data == 0 || pending.serial != user_data || pending.done {
            // Nobody asked for it, or it came twice.
            self.violation(user_data, Sqe::default(), res);
            return;
        }
        self.pending()[index].done = true;
        let ok = judge(&pending, res);
        if !ok {
            let sqe = Sqe {
                opcode: pending.opcode,
                flags: pending.flags,
                len: pending.len,
                ..Sqe::default()
            };
            self.violation(user_data, sqe, res);
        }
    }

    /// One SQE, remembered under its serial.
    fn generate(&mut self) -> Sqe {
        self.serial += 1;
        let serial = self.serial;
        let (mut sqe, forbidden) = self.shaped();
        sqe.user_data = serial;
        let mut exact = None;
        if Opcode::from_raw(sqe.opcode).is_none() {
            exact = Some(Errnos::of(&[Errno::EINVAL]));
        }
        // Flags: none mostly; a chain, a skipped success, or random bits
        // (never IO_DRAIN: a barrier behind an hour-long timeout would
        // hold every later SQE).
        sqe.flags = match self.rng.below(16) {
            0 | 1 => SqeFlags::IO_LINK.bits(),
            2 => SqeFlags::CQE_SKIP_SUCCESS.bits(),
            3 => SqeFlags::ASYNC.bits(),
            4 => self.rng.next() as u8 & !SqeFlags::IO_DRAIN.bits(),
            _ => 0,
        };
        if SqeFlags::validate(sqe.flags).is_err() {
            exact = Some(Errnos::of(&[Errno::EINVAL]));
        }
        // Delivery to a thread that cannot exist: ESRCH.
        let personality = self.rng.one_in(40);
        if personality {
            sqe.personality = 0x8000 | self.rng.next() as u16;
        }
        if self.rng.one_in(24) {
            // A field the op does not use, set.
            match self.rng.below(3) {
                0 => sqe.buf_index = self.rng.next() as u16 | 1,
                1 => sqe.splice_fd_in = self.rng.next() as i32 | 1,
                _ => sqe.pad = self.rng.next() | 1,
            }
        }
        let pending = Pending {
            serial,
            opcode: sqe.opcode,
            flags: sqe.flags,
            len: sqe.len,
            personality,
            forbidden,
            exact,
            done: false,
        };
        self.pending()[(serial % MAX_SQES as u64) as usize] = pending;
        sqe
    }

    /// An SQE for a random opcode: each field shaped for the op, at a
    /// boundary, or random.  Also whether it names memory no op may touch
    /// (so it must fail).
    fn shaped(&mut self) -> (Sqe, bool) {
        let rng = &mut self.rng;
        let opcode = match rng.below(20) {
            _ if self.only.is_some() => self.only.unwrap_or(0),
            0 => loop {
                // An opcode the ABI does not define.
                let raw = rng.next() as u8;
                if Opcode::from_raw(raw).is_none() {
                    break raw;
                }
            },
            _ => rng.pick(Opcode::ALL) as u8,
        };
        let mut sqe = Sqe {
            opcode,
            ..Sqe::default()
        };
        let mut forbidden = false;
        let Some(op) = Opcode::from_raw(opcode) else {
            sqe.fd = rng.next() as i32;
            sqe.addr = rng.next();
            sqe.len = rng.next() as u32;
            return (sqe, false);
        };
        match op {
            Opcode::Nop => {
                if rng.one_in(4) {
                    sqe.off = rng.boundary64();
                }
            }
            Opcode::Read | Opcode::Write => {
                let writes = op == Opcode::Read;
                let (addr, kind) = targets::buffer(rng, writes);
                sqe.fd = targets::handle(rng);
                if !writes && (0..=2).contains(&sqe.fd) && kind != Kind::Forbidden {
                    // A WRITE to the console prints: only a buffer it must
                    // refuse goes there.
                    sqe.fd = 5;
                }
                sqe.addr = addr;
                sqe.len = targets::length(rng);
                sqe.off = rng.pick(&[0, 0, u64::MAX, 1, 4096, 1 << 40]);
                forbidden =
                    sqe.len != 0 && (kind == Kind::Forbidden || (writes && kind == Kind::ReadOnly));
            }
            Opcode::OpenAt => {
                sqe.fd = if rng.one_in(4) {
                    targets::handle(rng)
                } else {
                    abi::file::AT_FDCWD
                };
                sqe.addr = targets::path(rng);
                sqe.op_flags = if rng.one_in(4) { rng.boundary32() } else { 0 };
                sqe.len = if rng.one_in(4) { rng.boundary32() } else { 0 };
            }
            Opcode::Close => sqe.fd = close_target(rng),
            Opcode::Statx => {
                sqe.fd = abi::file::AT_FDCWD;
                sqe.addr = targets::path(rng);
                let (out, kind) = targets::buffer(rng, true);
                sqe.off = out;
                sqe.len = rng.boundary32();
                sqe.op_flags = if rng.one_in(3) { rng.boundary32() } else { 0 };
                forbidden = kind != Kind::Usable;
            }
            Opcode::Timeout | Opcode::LinkTimeout => {
                sqe.addr = targets::timespec(rng);
                sqe.len = if rng.one_in(6) { rng.boundary32() } else { 1 };
                sqe.off = if rng.one_in(6) { rng.boundary64() } else { 0 };
                sqe.op_flags = if rng.one_in(5) { rng.boundary32() } else { 0 };
            }
            Opcode::AsyncCancel => {
                // A recent serial (a cancel storm), or anything.
                sqe.addr = if rng.one_in(4) {
                    rng.boundary64()
                } else {
                    self.serial.saturating_sub(rng.below(64))
                };
            }
            Opcode::MsgRing => {
                sqe.fd = targets::handle(rng);
                // The parent's ring (handle 3) reads ours as noise: keep
                // them clear of its own `user_data` range (the top).
                sqe.off = rng.boundary64() >> 1;
                sqe.len = rng.boundary32();
                if rng.one_in(8) {
                    sqe.addr = rng.boundary64();
                }
            }
            Opcode::FutexWait | Opcode::FutexWake => {
                sqe.fd = if rng.one_in(4) {
                    rng.boundary32() as i32
                } else {
                    abi::file::FUTEX2_SIZE_U32 | abi::file::FUTEX2_PRIVATE
                };
                let (addr, kind) = targets::buffer(rng, false);
                sqe.addr = if rng.one_in(3) { addr } else { addr & !3 };
                // A wake need not read the word; a wait must.
                sqe.off = rng.boundary64();
                sqe.addr3 = if rng.one_in(4) {
                    rng.boundary64()
                } else {
                    abi::file::FUTEX_BITSET_MATCH_ANY
                };
                forbidden = op == Opcode::FutexWait && kind == Kind::Forbidden;
            }
            Opcode::Pipe => {
                let (addr, kind) = targets::buffer(rng, true);
                sqe.addr = addr;
                sqe.op_flags = if rng.one_in(4) { rng.boundary32() } else { 0 };
                forbidden = kind != Kind::Usable;
            }
            Opcode::Mmap => {
                sqe.fd = if rng.one_in(5) {
                    targets::handle(rng)
                } else {
                    -1
                };
                sqe.addr = targets::mm_address(rng);
                sqe.len = targets::length(rng);
                sqe.ioprio = targets::prot(rng) as u16;
                sqe.op_flags = targets::map_flags(rng);
                sqe.off = if rng.one_in(5) { rng.boundary64() } else { 0 };
                let (out, kind) = targets::buffer(rng, true);
                sqe.addr3 = out;
                forbidden = kind != Kind::Usable && out != 0;
            }
            Opcode::Munmap | Opcode::Mprotect => {
                sqe.addr = targets::mm_address(rng);
                sqe.len = targets::length(rng);
                if op == Opcode::Mprotect {
                    sqe.op_flags = targets::prot(rng);
                }
            }
            Opcode::ThreadSpawn => thread_spawn(rng, &mut sqe),
            Opcode::ProcessSpawn => {
                let program = rng.pick(targets::PROGRAMS);
                sqe.addr = program.as_ptr() as u64;
                sqe.len = program.len() as u32;
                if rng.one_in(5) {
                    sqe.addr = targets::buffer(rng, false).0;
                    sqe.len = targets::length(rng);
                }
                let argv: &[u8] = rng.pick(&[b"" as &[u8], b"x\0", b"x", b"a\0b\0"]);
                sqe.off = argv.as_ptr() as u64;
                sqe.op_flags = argv.len() as u32;
                if rng.one_in(5) {
                    sqe.off = targets::buffer(rng, false).0;
                    sqe.op_flags = rng.boundary32();
                }
                sqe.addr3 = match rng.below(4) {
                    0 => targets::buffer(rng, false).0,
                    1 => &STDIO as *const abi::SpawnStdio as u64,
                    _ => 0,
                };
            }
            Opcode::Wait => {
                sqe.fd = targets::handle(rng);
                if rng.one_in(6) {
                    sqe.addr = rng.boundary64();
                }
            }
            Opcode::VmQuery | Opcode::MemStats => {
                let (addr, kind) = targets::buffer(rng, true);
                sqe.addr = addr;
                sqe.len = targets::length(rng);
                forbidden = kind != Kind::Usable && sqe.len != 0;
            }
            Opcode::SpaceClone | Opcode::RemapPages => {
                sqe.fd = targets::handle(rng);
                sqe.addr = targets::mm_address(rng);
                sqe.off = targets::mm_address(rng);
                sqe.len = targets::length(rng);
                sqe.op_flags = targets::prot(rng);
            }
        }
        if rng.one_in(16) {
            // One field anything at all.
            match rng.below(6) {
                0 => sqe.fd = rng.boundary32() as i32,
                1 => sqe.off = rng.boundary64(),
                2 => sqe.len = rng.boundary32(),
                3 => sqe.op_flags = rng.boundary32(),
                4 => sqe.ioprio = rng.next() as u16,
                _ => sqe.addr3 = rng.boundary64(),
            }
            // A length or pointer may now be anything: the isolation
            // check stays with what was aimed on purpose.
            forbidden = false;
            if op == Opcode::ThreadSpawn {
                thread_spawn(rng, &mut sqe);
            }
        }
        (sqe, forbidden)
    }
}

/// The handles the child of a PROCESS_SPAWN may get as 0, 1 and 2: never
/// the console's input (a child reading it would wait forever).
static STDIO: abi::SpawnStdio = abi::SpawnStdio {
    handles: [4, 1, 2],
    reserved: 0,
};

/// CLOSE of anything but standard output and error (the worker reports
/// through them).
fn close_target(rng: &mut Rng) -> i32 {
    loop {
        let fd = targets::handle(rng);
        if fd != 1 && fd != 2 {
            return fd;
        }
    }
}

/// A THREAD_SPAWN that cannot start a thread anywhere but at
/// [`thread_entry`] on a kernel-made stack: either it is malformed (a
/// reserved field set, an entry outside user space, a stack top the
/// kernel must refuse), or it is the one good form.
fn thread_spawn(rng: &mut Rng, sqe: &mut Sqe) {
    let entry = thread_entry as *const () as usize as u64;
    *sqe = Sqe::new(Opcode::ThreadSpawn);
    match rng.below(6) {
        0 => sqe.fd = rng.next() as i32 | 1,
        1 => sqe.len = rng.next() as u32 | 1,
        2 => {
            // Outside user space: the kernel must refuse it (an entry in
            // user space would start a thread there).
            let addr = rng.pick(targets::FORBIDDEN);
            sqe.addr = if (0x1000..targets::USER_END).contains(&addr) {
                u64::MAX
            } else {
                addr
            };
        }
        3 => {
            sqe.addr = entry;
            sqe.off = targets::USER_END + rng.below(1 << 20);
        }
        _ => sqe.addr = entry,
    }
    if sqe.addr == 0 {
        sqe.addr = entry;
    }
    sqe.addr3 = rng.next();
}

/// Where the fuzzer's threads start: they end at once.
extern "C" fn thread_entry(_argument: u64, _index: u64) -> ! {
    rt::syscall::exit_thread(0)
}

/// Whether `res` is one the op's contract allows for what was asked.
fn judge(pending: &Pending, res: i32) -> bool {
    if res < 0 {
        let errno = res.unsigned_abs();
        let mut allowed = match (pending.exact, Opcode::from_raw(pending.opcode)) {
            (Some(exact), _) => exact.with(ANY_OP),
            (None, Some(op)) => contract::errnos(op),
            (None, None) => Errnos::of(&[Errno::EINVAL]).with(ANY_OP),
        };
        // Reserved fields set: EINVAL from any op.
        allowed = allowed.with(Errnos::of(&[Errno::EINVAL]));
        if pending.personality {
            allowed = allowed.with(Errnos::of(&[Errno::ESRCH]));
        }
        return allowed.contains(errno);
    }
    let Some(op) = Opcode::from_raw(pending.opcode) else {
        return false;
    };
    if pending.exact.is_some() {
        return false;
    }
    let max = contract::max_success(op, pending.len);
    if pending.forbidden {
        // Memory the op must not touch: it may only succeed by moving
        // nothing (a VM_QUERY buffer too short for one record).
        return max == Some(pending.len) && res == 0;
    }
    max.is_none_or(|max| res as u32 <= max)
}
