//! In-kernel tests of the submission path: an SQE that `check` refuses
//! never reaches its op, whichever op it names.

use super::submit::submit;
use crate::ops::Context;
use crate::proc::process::ExitStatus;
use crate::proc::spawn::spawn;
use crate::{ensure_eq, ktest};
use abi::{Cqe, CqeFlags, Errno, Opcode, Sqe, SqeFlags};
use alloc::vec::Vec;

ktest!(
    async fn sqes_with_fields_their_op_does_not_use_are_refused_before_it_runs() {
        // A process that has ended: its ring and (empty) handle table are
        // all these ops could touch.
        let process = spawn("bin/true", &["true"]).map_err(|e| alloc::format!("{e}"))?;
        ensure_eq!(process.wait().await, ExitStatus::Exited(0));
        let ring = process.ring(0).ok_or("no ring")?;
        let context = Context {
            process: process.clone(),
        };
        let einval = Errno::EINVAL.as_res();
        // Each pair: the SQE, and what its CQE must say.  Before `check`,
        // the NOPs with `pad` and `buf_index` set completed with 0, and
        // the CLOSE and WAIT got their ops' own errno.
        let cases = [
            (Sqe::new(Opcode::Nop), 0),
            (
                Sqe {
                    pad: 1,
                    ..Sqe::new(Opcode::Nop)
                },
                einval,
            ),
            (
                Sqe {
                    buf_index: 3,
                    ..Sqe::new(Opcode::Nop)
                },
                einval,
            ),
            (
                Sqe {
                    splice_fd_in: -1,
                    ..Sqe::new(Opcode::Nop)
                },
                einval,
            ),
            (
                Sqe {
                    fd: 77,
                    ..Sqe::new(Opcode::Close)
                },
                Errno::EBADF.as_res(),
            ),
            (
                Sqe {
                    fd: 77,
                    addr3: 1,
                    ..Sqe::new(Opcode::Close)
                },
                einval,
            ),
            (
                Sqe {
                    fd: 77,
                    pad: u64::MAX,
                    ..Sqe::new(Opcode::Wait)
                },
                einval,
            ),
            (
                Sqe {
                    flags: SqeFlags::ASYNC.bits(),
                    ioprio: 1,
                    ..Sqe::new(Opcode::Munmap)
                },
                einval,
            ),
            (
                Sqe {
                    opcode: 200,
                    ..Sqe::default()
                },
                einval,
            ),
            (
                Sqe {
                    flags: SqeFlags::FIXED_FILE.bits(),
                    ..Sqe::new(Opcode::Nop)
                },
                einval,
            ),
        ];
        let sqes: Vec<Sqe> = (1..)
            .zip(&cases)
            .map(|(user_data, (sqe, _))| Sqe { user_data, ..*sqe })
            .collect();
        let mut done = Vec::new();
        submit(&ring, &sqes, &context, &mut done);
        let expected: Vec<Cqe> = (1..)
            .zip(&cases)
            .map(|(user_data, (_, res))| Cqe::new(user_data, *res, CqeFlags::empty()))
            .collect();
        ensure_eq!(done, expected);
        Ok(())
    }
);
