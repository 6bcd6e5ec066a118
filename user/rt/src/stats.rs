//! What the kernel holds (MEM_STATS).

use crate::process::run_one;
use crate::ring::Ring;
use abi::file::MemStats;
use abi::{Errno, Opcode, Sqe};

pub fn mem(ring: &mut Ring) -> Result<MemStats, Errno> {
    let mut out = MemStats::default();
    let sqe = Sqe {
        addr: &mut out as *mut MemStats as u64,
        len: core::mem::size_of::<MemStats>() as u32,
        ..Sqe::new(Opcode::MemStats)
    };
    run_one(ring, sqe, u64::MAX - 11)?;
    Ok(out)
}
