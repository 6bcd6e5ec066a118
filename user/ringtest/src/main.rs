//! `ringtest`: checks the ring the way a user program sees it.  Prints a
//! line per check and exits with the number that failed.
#![no_std]
#![no_main]

extern crate freestanding;

use abi::{Cqe, Errno, Opcode, Sqe, SqeFlags};
use rt::ring::Ring;

mod pie;

rt::entry!(main);

/// The top of the stack mapping (see the kernel's `proc::spawn`): the page
/// above it is not mapped.
const STACK_TOP: u64 = 0x0000_7fff_ffff_f000;

fn nop(user_data: u64) -> Sqe {
    Sqe {
        user_data,
        ..Sqe::new(Opcode::Nop)
    }
}

fn write(fd: i32, addr: u64, len: u32, user_data: u64) -> Sqe {
    Sqe {
        fd,
        addr,
        len,
        user_data,
        ..Sqe::new(Opcode::Write)
    }
}

/// Submits one SQE and returns its CQE.
fn one(ring: &mut Ring, sqe: &Sqe) -> Result<Cqe, Errno> {
    ring.push(sqe)?;
    ring.submit_and_wait(1)?;
    ring.wait()
}

fn expect_res(ring: &mut Ring, sqe: &Sqe, want: Result<u32, Errno>) -> bool {
    match one(ring, sqe) {
        Ok(cqe) => {
            cqe.user_data == sqe.user_data
                && cqe.result().map_err(|e| e.known()) == want.map_err(Some)
        }
        Err(_) => false,
    }
}

/// Submits `sqes` together and collects the first `count` CQEs.
fn collect(ring: &mut Ring, sqes: &[Sqe], count: usize) -> [Option<Cqe>; 8] {
    let mut out = [None; 8];
    for sqe in sqes {
        if ring.push(sqe).is_err() {
            return out;
        }
    }
    if ring.submit().is_err() {
        return out;
    }
    for slot in out.iter_mut().take(count) {
        *slot = ring.wait().ok();
    }
    out
}

/// The `(user_data, res)` of collected CQEs.
fn outcomes(cqes: &[Option<Cqe>]) -> [(u64, i32); 8] {
    let mut out = [(0, 0); 8];
    for (slot, cqe) in out.iter_mut().zip(cqes) {
        if let Some(cqe) = cqe {
            *slot = (cqe.user_data, cqe.res);
        }
    }
    out
}

fn timeout(spec: &abi::Timespec, user_data: u64) -> Sqe {
    Sqe {
        addr: spec as *const abi::Timespec as u64,
        len: 1,
        user_data,
        ..Sqe::new(Opcode::Timeout)
    }
}

fn linked(sqe: Sqe) -> Sqe {
    Sqe {
        flags: sqe.flags | SqeFlags::IO_LINK.bits(),
        ..sqe
    }
}

/// What a `ring_enter` (one NOP submitted) left in the registers the
/// kernel must not leak through, with known values put in all of them
/// first: RDX, RSI, RDI, R8, R9, R10, the sixteen XMM registers (their low
/// quadwords), and MXCSR and the x87 control word, which it must keep.
struct AfterTrap {
    gprs: [u64; 6],
    xmm_low: [u64; 16],
    mxcsr: u32,
    fcw: u16,
    result: i64,
}

/// MXCSR: all exceptions masked, round toward zero (not the default).
const TEST_MXCSR: u32 = 0x7f80;
/// x87 control word: 53-bit precision (not the default 64).
const TEST_FCW: u16 = 0x027f;

fn trap_with_registers_set() -> AfterTrap {
    let mut out = AfterTrap {
        gprs: [0; 6],
        xmm_low: [0; 16],
        mxcsr: 0,
        fcw: 0,
        result: 0,
    };
    let pattern: u64 = 0x5a5a_1234_a5a5_4321;
    let (mut rdx, mut rsi, mut rdi, mut r8, mut r9, mut r10): (u64, u64, u64, u64, u64, u64);
    let mut control = [0u32; 2];
    let xmm = &mut out.xmm_low;
    // SAFETY: loads a pattern into XMM0-15 and new control words, enters
    // the kernel (ring 0, one SQE: the NOP queued by the caller), then
    // stores what came back into `xmm` and `control`, which the asm names
    // as pointers it writes.  Every register it changes is an output or
    // declared clobbered; the control words are restored before it ends.
    unsafe {
        core::arch::asm!(
            "movq xmm0, {pattern}",
            "pshufd xmm0, xmm0, 0x44",
            "movdqa xmm1, xmm0", "movdqa xmm2, xmm0", "movdqa xmm3, xmm0",
            "movdqa xmm4, xmm0", "movdqa xmm5, xmm0", "movdqa xmm6, xmm0",
            "movdqa xmm7, xmm0", "movdqa xmm8, xmm0", "movdqa xmm9, xmm0",
            "movdqa xmm10, xmm0", "movdqa xmm11, xmm0", "movdqa xmm12, xmm0",
            "movdqa xmm13, xmm0", "movdqa xmm14, xmm0", "movdqa xmm15, xmm0",
            "push {mxcsr}",
            "ldmxcsr [rsp]",
            "mov word ptr [rsp], {fcw:x}",
            "fldcw [rsp]",
            "pop r11",
            "mov r8, {pattern}", "mov r9, {pattern}",
            "syscall",
            "movq [{xmm} + 0], xmm0", "movq [{xmm} + 8], xmm1",
            "movq [{xmm} + 16], xmm2", "movq [{xmm} + 24], xmm3",
            "movq [{xmm} + 32], xmm4", "movq [{xmm} + 40], xmm5",
            "movq [{xmm} + 48], xmm6", "movq [{xmm} + 56], xmm7",
            "movq [{xmm} + 64], xmm8", "movq [{xmm} + 72], xmm9",
            "movq [{xmm} + 80], xmm10", "movq [{xmm} + 88], xmm11",
            "movq [{xmm} + 96], xmm12", "movq [{xmm} + 104], xmm13",
            "movq [{xmm} + 112], xmm14", "movq [{xmm} + 120], xmm15",
            "stmxcsr [{control}]",
            "fnstcw [{control} + 4]",
            // Back to the defaults for the rest of the program.
            "push 0x1f80",
            "ldmxcsr [rsp]",
            "mov word ptr [rsp], 0x037f",
            "fldcw [rsp]",
            "pop r11",
            pattern = in(reg) pattern,
            mxcsr = in(reg) u64::from(TEST_MXCSR),
            fcw = in(reg) TEST_FCW,
            xmm = in(reg) xmm.as_mut_ptr(),
            control = in(reg) control.as_mut_ptr(),
            inlateout("rax") abi::Syscall::RingEnter as u64 => out.result,
            inlateout("rdi") 0u64 => rdi,
            inlateout("rsi") 1u64 => rsi,
            inlateout("rdx") 0u64 => rdx,
            inlateout("r10") 0u64 => r10,
            out("r8") r8,
            out("r9") r9,
            out("rcx") _,
            out("r11") _,
            clobber_abi("sysv64"),
        );
    }
    out.gprs = [rdx, rsi, rdi, r8, r9, r10];
    out.mxcsr = control[0];
    out.fcw = control[1] as u16;
    out
}

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 100;
    };
    if rt::args().nth(1) == Some(pie::WHERE) {
        return pie::report(&mut ring);
    }
    let mut checks = rt::checks::Checks::new("ringtest");
    let mut check = |name: &'static str, ok: bool| checks.check(name, ok);

    check(
        "nop completes with 0",
        expect_res(&mut ring, &nop(1), Ok(0)),
    );
    let unknown = Sqe {
        opcode: 99,
        user_data: 2,
        ..Sqe::new(Opcode::Nop)
    };
    check(
        "unknown opcode is EINVAL",
        expect_res(&mut ring, &unknown, Err(Errno::EINVAL)),
    );
    let bad_flags = Sqe {
        flags: 1 << 7,
        ..nop(3)
    };
    check(
        "unknown flag bit is EINVAL",
        expect_res(&mut ring, &bad_flags, Err(Errno::EINVAL)),
    );
    let fixed = Sqe {
        flags: SqeFlags::FIXED_FILE.bits(),
        ..nop(4)
    };
    check(
        "unsupported flag is EINVAL",
        expect_res(&mut ring, &fixed, Err(Errno::EINVAL)),
    );
    let nop_with_args = Sqe {
        addr: 0x1000,
        ..nop(5)
    };
    check(
        "nop with arguments is EINVAL",
        expect_res(&mut ring, &nop_with_args, Err(Errno::EINVAL)),
    );

    let text = b"ringtest: a write through the ring\n";
    let good = write(1, text.as_ptr() as u64, text.len() as u32, 6);
    check(
        "write returns its length",
        expect_res(&mut ring, &good, Ok(text.len() as u32)),
    );
    check(
        "write to a bad fd is EBADF",
        expect_res(
            &mut ring,
            &write(7, text.as_ptr() as u64, 4, 7),
            Err(Errno::EBADF),
        ),
    );
    check(
        "write from a kernel address is EFAULT",
        expect_res(
            &mut ring,
            &write(1, 0xffff_8000_0000_0000, 8, 8),
            Err(Errno::EFAULT),
        ),
    );
    check(
        "write from an unmapped page is EFAULT",
        expect_res(&mut ring, &write(1, 0x1000, 8, 9), Err(Errno::EFAULT)),
    );
    check(
        "write past the end of a mapping is EFAULT",
        expect_res(
            &mut ring,
            &write(1, STACK_TOP - 8, 16, 10),
            Err(Errno::EFAULT),
        ),
    );
    check(
        "write with an overflowing range is EFAULT",
        expect_res(
            &mut ring,
            &write(1, u64::MAX - 3, 8, 11),
            Err(Errno::EFAULT),
        ),
    );

    // CQE_SKIP_SUCCESS: the first NOP posts nothing; only the second shows.
    let skipped = Sqe {
        flags: SqeFlags::CQE_SKIP_SUCCESS.bits(),
        ..nop(12)
    };
    let seen = ring
        .push(&skipped)
        .and_then(|()| ring.push(&nop(13)))
        .and_then(|()| ring.submit_and_wait(1));
    let first = ring.pop();
    check(
        "skip-success posts no CQE",
        seen.is_ok() && first.map(|c| c.user_data) == Some(13) && ring.pop().is_none(),
    );

    // A batch of 32 comes back complete, in order.
    let mut batch_ok =
        (0..32).all(|i| ring.push(&nop(100 + i)).is_ok()) && ring.submit_and_wait(32) == Ok(32);
    for i in 0..32 {
        batch_ok &= ring.pop().map(|c| c.user_data) == Some(100 + i);
    }
    check("a batch of 32 completes in order", batch_ok);

    // Overflow: 4 batches of 64 NOPs into a 128-entry CQ without reaping.
    // Nothing may be lost: every user_data comes back exactly once.
    let mut submitted_ok = true;
    for round in 0..4u64 {
        for i in 0..64 {
            submitted_ok &= ring.push(&nop(1000 + round * 64 + i)).is_ok();
        }
        submitted_ok &= ring.submit() == Ok(64);
    }
    let overflowed = ring.overflowed();
    let mut seen = [false; 256];
    let mut reaped = 0;
    while reaped < 256 {
        match ring.wait() {
            Ok(cqe)
                if (1000..1256).contains(&cqe.user_data)
                    && !seen[(cqe.user_data - 1000) as usize] =>
            {
                seen[(cqe.user_data - 1000) as usize] = true;
                reaped += 1;
            }
            _ => break,
        }
    }
    check(
        "the CQ overflowed into the kernel",
        submitted_ok && overflowed > 0,
    );
    check(
        "no CQE was lost to the overflow",
        reaped == 256 && ring.pop().is_none() && ring.overflowed() == 0,
    );

    // Past the overflow limit the kernel refuses submissions with EBUSY;
    // an SQE published by the refused call still runs once the program
    // has reaped and enters again.
    let mut filled = true;
    let mut refused = None;
    for round in 0..100u64 {
        for i in 0..64 {
            filled &= ring.push(&nop(2000 + round * 64 + i)).is_ok();
        }
        match ring.submit() {
            Ok(64) => {}
            Err(Errno::EBUSY) => {
                refused = Some(round);
                break;
            }
            _ => filled = false,
        }
    }
    // Reap everything, then enter with nothing new: the refused batch
    // must go in now.
    let refused_range = refused.map_or(0..0, |round| 2000 + round * 64..2000 + round * 64 + 64);
    let (mut drained, mut from_refused) = (0u32, 0u32);
    let mut count = |cqe: Cqe| {
        drained += 1;
        from_refused += u32::from(refused_range.contains(&cqe.user_data));
    };
    loop {
        while let Some(cqe) = ring.pop() {
            count(cqe);
        }
        match ring.submit() {
            Ok(0) if ring.overflowed() == 0 => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    while let Some(cqe) = ring.pop() {
        count(cqe);
    }
    check(
        "past the overflow limit, ring_enter is EBUSY",
        filled && refused.is_some(),
    );
    check(
        "SQEs of a refused ring_enter run on the next one",
        from_refused == 64 && drained > 4096,
    );

    // Children: exit statuses, kills, and bad requests.
    use rt::process::{WaitStatus, spawn, wait};
    let true_status = spawn(&mut ring, "bin/true", b"").and_then(|child| wait(&mut ring, child));
    check(
        "a child's exit status comes back",
        true_status == Ok(WaitStatus::Exited(0)),
    );
    let fault_status =
        spawn(&mut ring, "bin/fault", b"fault\0").and_then(|child| wait(&mut ring, child));
    check(
        "a child killed for a page fault shows SIGSEGV",
        fault_status == Ok(WaitStatus::Signaled(11)),
    );
    let own = pie::here();
    let children = pie::child(&mut ring).and_then(|first| Ok((first, pie::child(&mut ring)?)));
    check(
        "two children load apart (both at 4 MiB with aslr=off), statics moved along",
        children.is_ok_and(|(first, second)| pie::apart_and_consistent(own, first, second)),
    );
    check(
        "VM_QUERY shows the code at the program's load address",
        pie::code_is_where_vm_query_says(&mut ring),
    );
    check(
        "spawning a missing program is ENOENT",
        spawn(&mut ring, "bin/nothing", b"") == Err(Errno::ENOENT),
    );
    check(
        "waiting on a bad handle is EBADF",
        wait(&mut ring, 77) == Err(Errno::EBADF),
    );
    let bad_path = Sqe {
        addr: 0xffff_8000_0000_0000,
        len: 8,
        ..Sqe::new(Opcode::ProcessSpawn)
    };
    check(
        "a spawn path in kernel memory is EFAULT",
        expect_res(&mut ring, &bad_path, Err(Errno::EFAULT)),
    );
    check(
        "an argv block without its NUL is EINVAL",
        spawn(&mut ring, "bin/true", b"true") == Err(Errno::EINVAL),
    );

    // Files of the initfs.
    use rt::fs;
    let motd = fs::open(&mut ring, c"etc/motd");
    let mut buffer = [0u8; 8];
    let first = motd.and_then(|handle| fs::read(&mut ring, handle, &mut buffer));
    check(
        "open and read an initfs file",
        first == Ok(8) && &buffer == b"Welcome.",
    );
    let size = fs::statx(&mut ring, c"etc/motd")
        .map(|statx| (statx.stx_size, statx.stx_mode & abi::file::S_IFMT));
    check(
        "statx gives the size and type",
        matches!(size, Ok((bytes, abi::file::S_IFREG)) if bytes > 8),
    );
    if let Ok(handle) = motd {
        check(
            "close releases a handle",
            fs::close(&mut ring, handle).is_ok(),
        );
        check(
            "closing it again is EBADF",
            fs::close(&mut ring, handle) == Err(Errno::EBADF),
        );
    }
    check(
        "opening a missing file is ENOENT",
        fs::open(&mut ring, c"etc/none") == Err(Errno::ENOENT),
    );
    let bin = fs::open(&mut ring, c"bin");
    check(
        "reading a directory is EISDIR",
        bin.and_then(|h| fs::read(&mut ring, h, &mut buffer)) == Err(Errno::EISDIR),
    );
    let write_open = Sqe {
        fd: abi::file::AT_FDCWD,
        addr: c"etc/motd".as_ptr() as u64,
        op_flags: abi::file::O_WRONLY,
        ..Sqe::new(Opcode::OpenAt)
    };
    check(
        "opening for writing is EROFS",
        expect_res(&mut ring, &write_open, Err(Errno::EROFS)),
    );
    let again = fs::open(&mut ring, c"etc/motd");
    let bad_buffer = again.map(|handle| Sqe {
        fd: handle,
        addr: 0xffff_8000_0000_0000,
        len: 8,
        off: u64::MAX,
        ..Sqe::new(Opcode::Read)
    });
    check(
        "reading into kernel memory is EFAULT",
        bad_buffer.is_ok_and(|sqe| expect_res(&mut ring, &sqe, Err(Errno::EFAULT))),
    );

    // Timeouts, links, cancellation, drains.
    let ms = abi::Timespec::from_ns(1_000_000);
    let long = abi::Timespec::from_ns(10_000_000_000);
    let etime = Errno::ETIME.as_res();
    let ecanceled = Errno::ECANCELED.as_res();
    check(
        "a timeout completes with ETIME",
        expect_res(&mut ring, &timeout(&ms, 400), Err(Errno::ETIME)),
    );
    let counted = Sqe {
        off: 3,
        ..timeout(&ms, 401)
    };
    check(
        "a completion-count timeout is EOPNOTSUPP",
        expect_res(&mut ring, &counted, Err(Errno::EOPNOTSUPP)),
    );
    let bad_spec = Sqe {
        addr: 0xffff_8000_0000_0000,
        ..timeout(&ms, 402)
    };
    check(
        "a timespec in kernel memory is EFAULT",
        expect_res(&mut ring, &bad_spec, Err(Errno::EFAULT)),
    );
    let chain = collect(
        &mut ring,
        &[linked(nop(410)), linked(nop(411)), nop(412)],
        3,
    );
    check(
        "a chain runs in order",
        outcomes(&chain)[..3] == [(410, 0), (411, 0), (412, 0)],
    );
    let broken = collect(
        &mut ring,
        &[
            linked(Sqe {
                addr: 1,
                ..nop(420)
            }),
            linked(nop(421)),
            nop(422),
        ],
        3,
    );
    check(
        "a failure cancels the rest of its chain",
        outcomes(&broken)[..3]
            == [
                (420, Errno::EINVAL.as_res()),
                (421, ecanceled),
                (422, ecanceled),
            ],
    );
    let link_timeout = Sqe {
        addr: &ms as *const abi::Timespec as u64,
        len: 1,
        user_data: 431,
        ..Sqe::new(Opcode::LinkTimeout)
    };
    let fired = outcomes(&collect(
        &mut ring,
        &[linked(timeout(&long, 430)), link_timeout],
        2,
    ));
    check(
        "a link timeout cancels a slow op",
        fired[..2].contains(&(430, ecanceled)) && fired[..2].contains(&(431, etime)),
    );
    let idle = Sqe {
        addr: &long as *const abi::Timespec as u64,
        user_data: 441,
        ..link_timeout
    };
    let quick = outcomes(&collect(&mut ring, &[linked(nop(440)), idle], 2));
    check(
        "a quick op cancels its link timeout",
        quick[..2].contains(&(440, 0)) && quick[..2].contains(&(441, ecanceled)),
    );
    // Found by the fuzzer: bad flags were answered with the EFAULT of the
    // timespec pointer, read first.
    let bad_flags = Sqe {
        addr: 0xffff_8000_0000_0000,
        flags: 0x80,
        user_data: 443,
        ..link_timeout
    };
    let refused = outcomes(&collect(&mut ring, &[linked(nop(444)), bad_flags], 2));
    check(
        "a link timeout with unknown flags is EINVAL, before its pointer is read",
        refused[..2].contains(&(443, Errno::EINVAL.as_res())),
    );
    check(
        "a lone link timeout is EINVAL",
        expect_res(
            &mut ring,
            &Sqe {
                user_data: 442,
                ..link_timeout
            },
            Err(Errno::EINVAL),
        ),
    );
    let cancel = Sqe {
        addr: 450,
        user_data: 451,
        ..Sqe::new(Opcode::AsyncCancel)
    };
    let cancelled = outcomes(&collect(&mut ring, &[timeout(&long, 450), cancel], 2));
    check(
        "async cancel stops a running op",
        cancelled[..2].contains(&(450, ecanceled)) && cancelled[..2].contains(&(451, 0)),
    );
    let nothing = Sqe {
        addr: 999,
        user_data: 452,
        ..Sqe::new(Opcode::AsyncCancel)
    };
    check(
        "cancelling nothing is ENOENT",
        expect_res(&mut ring, &nothing, Err(Errno::ENOENT)),
    );
    let drain = Sqe {
        flags: SqeFlags::IO_DRAIN.bits(),
        ..nop(461)
    };
    let drained = outcomes(&collect(
        &mut ring,
        &[timeout(&ms, 460), drain, nop(462)],
        3,
    ));
    check(
        "a drain waits for what came before",
        drained[..3] == [(460, etime), (461, 0), (462, 0)],
    );
    // NOPs done at once before a drain in the same batch: their CQEs are
    // posted before the drain runs (they once waited for the end of the
    // batch, while the drain's task could run on another CPU first).
    let drain = Sqe {
        flags: SqeFlags::IO_DRAIN.bits(),
        ..nop(465)
    };
    let order = outcomes(&collect(
        &mut ring,
        &[nop(463), nop(464), drain, nop(466)],
        4,
    ));
    check(
        "CQEs done before a drain come before the drain's",
        order[..4] == [(463, 0), (464, 0), (465, 0), (466, 0)],
    );

    // A CQE that arrives while the runtime waits for another one (here: a
    // console write's) is set aside, not lost.
    let kept = ring
        .push(&nop(470))
        .and_then(|()| ring.submit().map(|_| ()));
    let written = rt::io::write_with(
        &mut ring,
        1,
        b"ringtest: (a write while a NOP's CQE waits)\n",
    );
    check(
        "a CQE reaped while waiting for another is kept",
        kept.is_ok() && written.is_ok() && ring.pop().map(|c| c.user_data) == Some(470),
    );

    // MSG_RING needs a ring behind the handle.
    check(
        "msg_ring to no handle is EBADF",
        rt::process::msg_ring(&mut ring, 50, 1, 0) == Err(Errno::EBADF),
    );
    let file = fs::open(&mut ring, c"etc/motd");
    check(
        "msg_ring to a file is EBADF",
        file.is_ok_and(|handle| {
            rt::process::msg_ring(&mut ring, handle, 1, 0) == Err(Errno::EBADF)
        }),
    );

    // Registers across a trap: nothing of the kernel's comes back, the
    // control words the ABI makes callee-saved do.
    let queued = ring.push(&nop(480)).is_ok() && ring.publish() == 1;
    let after = trap_with_registers_set();
    let reaped = ring.wait_for(480).is_ok_and(|cqe| cqe.res == 0);
    check(
        "ring_enter ran the NOP queued before the register check",
        queued && after.result == 1 && reaped,
    );
    check(
        "ring_enter returns RDX, RSI, RDI, R8, R9 and R10 zeroed",
        after.gprs == [0; 6],
    );
    check(
        "ring_enter returns all sixteen XMM registers zeroed",
        after.xmm_low == [0; 16],
    );
    check(
        "ring_enter keeps MXCSR and the x87 control word",
        after.mxcsr == TEST_MXCSR && after.fcw == TEST_FCW,
    );

    checks.report(&mut ring)
}
