//! NOP: completes at once with 0.  Every field but the opcode, the flags
//! and `user_data` must be zero.

use super::{Context, Started};
use abi::{Errno, Sqe};

pub fn start(sqe: &Sqe, _context: &Context) -> Started {
    let unused = [
        sqe.fd as u64,
        sqe.off,
        sqe.addr,
        u64::from(sqe.len),
        u64::from(sqe.op_flags),
        sqe.addr3,
    ];
    if unused.iter().any(|&field| field != 0) || sqe.ioprio != 0 {
        return Started::Done(Errno::EINVAL.as_res());
    }
    Started::Done(0)
}
