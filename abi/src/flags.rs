//! Flag words of the ABI: per-SQE ([`SqeFlags`]), per-CQE ([`CqeFlags`]),
//! `ring_enter`'s ([`EnterFlags`]), the ring header's ([`SqRingFlags`],
//! [`CqRingFlags`]) and the memory ops' ([`ProtFlags`], [`MapFlags`],
//! [`TimeoutFlags`]).
//!
//! Bit values are io_uring's and Linux's wherever those define the flag.
//! Input from user space goes through [`validate_bits`] or a type's
//! `validate`, which answer `EINVAL` for any bit the kernel does not know.
#![forbid(unsafe_code)]

use bitflags::{Flags, bitflags};

use crate::Errno;

/// Decodes a flag word from user space: `EINVAL` if any bit is undefined.
pub fn validate_bits<F: Flags>(raw: F::Bits) -> Result<F, Errno> {
    F::from_bits(raw).ok_or(Errno::EINVAL)
}

bitflags! {
    /// `Sqe::flags`: io_uring's `IOSQE_*` bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SqeFlags: u8 {
        /// `fd` indexes the registered-file table.  Not supported.
        const FIXED_FILE = 1 << 0;
        /// Start only after every earlier SQE has completed.
        const IO_DRAIN = 1 << 1;
        /// The next SQE runs after this one; a failure cancels the rest of
        /// the chain with `-ECANCELED`.
        const IO_LINK = 1 << 2;
        /// Like `IO_LINK`, but the chain survives failures.  Not supported yet.
        const IO_HARDLINK = 1 << 3;
        /// Always run asynchronously.  Accepted as a no-op: every op is a
        /// future here already.
        const ASYNC = 1 << 4;
        /// Pick a buffer from a provided group.  Not supported.
        const BUFFER_SELECT = 1 << 5;
        /// Post no CQE if the op succeeds.
        const CQE_SKIP_SUCCESS = 1 << 6;
    }
}

impl SqeFlags {
    /// The bits this kernel implements (DESIGN.md section 7), plus the
    /// `ASYNC` hint.  The others are io_uring's and answer `EINVAL`.
    pub const SUPPORTED: Self = Self::IO_DRAIN
        .union(Self::IO_LINK)
        .union(Self::ASYNC)
        .union(Self::CQE_SKIP_SUCCESS);

    /// Decodes an SQE's raw flags: `EINVAL` for unknown or unsupported bits.
    pub fn validate(raw: u8) -> Result<Self, Errno> {
        let flags: Self = validate_bits(raw)?;
        if Self::SUPPORTED.contains(flags) {
            Ok(flags)
        } else {
            Err(Errno::EINVAL)
        }
    }
}

bitflags! {
    /// `Cqe::flags`: io_uring's `IORING_CQE_F_*` bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CqeFlags: u32 {
        /// More CQEs will follow for the same SQE (a multishot op).
        const MORE = 1 << 1;
    }
}

bitflags! {
    /// `ring_enter`'s `flags` argument: io_uring's `IORING_ENTER_*` bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EnterFlags: u32 {
        /// Wait until at least `min_complete` CQEs are ready.
        const GETEVENTS = 1 << 0;
        /// This kernel's own: after submitting, wait until an op result is
        /// delivered to the calling thread (an SQE whose `personality` names
        /// it); `ring_enter` then returns that result.  See [`crate::Sqe`].
        const WAIT_DELIVERED = 1 << 16;
        /// This kernel's own: after submitting, give the CPU to other
        /// threads (the caller goes to the back of the run queue).
        const YIELD = 1 << 17;
    }
}

bitflags! {
    /// The header's `sq_flags`, written by the kernel: io_uring's
    /// `IORING_SQ_*` bits.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SqRingFlags: u32 {
        /// The kernel will not look at the SQ until `ring_enter` is called.
        /// Reserved for a polling kernel side; today every submission needs
        /// `ring_enter` anyway.
        const NEED_WAKEUP = 1 << 0;
        /// CQEs wait in the kernel's overflow list (`cq_overflow` says how
        /// many).  They are flushed in order as the program frees CQ room.
        const CQ_OVERFLOW = 1 << 1;
    }
}

bitflags! {
    /// The header's `cq_flags`, written by the program.  io_uring's only bit
    /// (`EVENTFD_DISABLED`) has no counterpart here yet, so every bit is
    /// reserved and must stay zero.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CqRingFlags: u32 {}
}

bitflags! {
    /// Memory protections, Linux's `PROT_*`.  Empty is `PROT_NONE`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ProtFlags: u32 {
        /// Readable.
        const READ = 0x1;
        /// Writable.
        const WRITE = 0x2;
        /// Executable.
        const EXEC = 0x4;
    }
}

bitflags! {
    /// Mapping flags, Linux's `MAP_*` values.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MapFlags: u32 {
        /// Writes are shared with other mappings of the object.
        const SHARED = 0x01;
        /// Writes are private (copy-on-write).
        const PRIVATE = 0x02;
        /// Map exactly at `addr`, replacing what is there.
        const FIXED = 0x10;
        /// Not backed by a file; `fd` must be -1.  Demand-zero.
        const ANONYMOUS = 0x20;
        /// A thread stack: user RSP must always lie in such a region.
        const STACK = 0x2_0000;
    }
}

impl MapFlags {
    /// Decodes `MMAP`'s `op_flags`: `EINVAL` for unknown bits, or unless
    /// exactly one of `SHARED` and `PRIVATE` is set (Linux's rule).
    pub fn validate(raw: u32) -> Result<Self, Errno> {
        let flags: Self = validate_bits(raw)?;
        let sharing = flags & (Self::SHARED | Self::PRIVATE);
        if sharing == Self::SHARED || sharing == Self::PRIVATE {
            Ok(flags)
        } else {
            Err(Errno::EINVAL)
        }
    }
}

bitflags! {
    /// `TIMEOUT`/`LINK_TIMEOUT` `op_flags`: io_uring's `IORING_TIMEOUT_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TimeoutFlags: u32 {
        /// The timespec is an absolute monotonic time, not a duration.
        const ABS = 1 << 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_uring_and_linux_bit_values() {
        assert_eq!(SqeFlags::FIXED_FILE.bits(), 1);
        assert_eq!(SqeFlags::IO_DRAIN.bits(), 2);
        assert_eq!(SqeFlags::IO_LINK.bits(), 4);
        assert_eq!(SqeFlags::IO_HARDLINK.bits(), 8);
        assert_eq!(SqeFlags::ASYNC.bits(), 16);
        assert_eq!(SqeFlags::BUFFER_SELECT.bits(), 32);
        assert_eq!(SqeFlags::CQE_SKIP_SUCCESS.bits(), 64);
        assert_eq!(CqeFlags::MORE.bits(), 2);
        assert_eq!(EnterFlags::GETEVENTS.bits(), 1);
        assert_eq!(SqRingFlags::NEED_WAKEUP.bits(), 1);
        assert_eq!(SqRingFlags::CQ_OVERFLOW.bits(), 2);
        assert_eq!(ProtFlags::all().bits(), 0x7);
        assert_eq!(MapFlags::SHARED.bits(), 0x1);
        assert_eq!(MapFlags::PRIVATE.bits(), 0x2);
        assert_eq!(MapFlags::FIXED.bits(), 0x10);
        assert_eq!(MapFlags::ANONYMOUS.bits(), 0x20);
        assert_eq!(MapFlags::STACK.bits(), 0x20000);
        assert_eq!(TimeoutFlags::ABS.bits(), 1);
    }

    #[test]
    fn sqe_flags_accept_exactly_the_supported_bits() {
        for raw in 0..=u8::MAX {
            let expected = raw & !SqeFlags::SUPPORTED.bits() == 0;
            assert_eq!(SqeFlags::validate(raw).is_ok(), expected, "{raw:#x}");
        }
        let chain = SqeFlags::IO_LINK | SqeFlags::CQE_SKIP_SUCCESS;
        assert_eq!(SqeFlags::validate(chain.bits()), Ok(chain));
        assert_eq!(SqeFlags::validate(0x80), Err(Errno::EINVAL));
        assert_eq!(
            SqeFlags::validate(SqeFlags::FIXED_FILE.bits()),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn generic_validation_rejects_unknown_bits() {
        assert_eq!(
            validate_bits::<ProtFlags>(0x3),
            Ok(ProtFlags::READ | ProtFlags::WRITE)
        );
        assert_eq!(validate_bits::<ProtFlags>(0x8), Err(Errno::EINVAL));
        assert_eq!(validate_bits::<EnterFlags>(0x2), Err(Errno::EINVAL));
        assert_eq!(validate_bits::<CqRingFlags>(0), Ok(CqRingFlags::empty()));
        assert_eq!(validate_bits::<CqRingFlags>(1), Err(Errno::EINVAL));
    }

    #[test]
    fn map_flags_need_exactly_one_sharing_mode() {
        let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
        assert_eq!(MapFlags::validate(anon.bits()), Ok(anon));
        assert_eq!(
            MapFlags::validate(0x21),
            Ok(MapFlags::SHARED | MapFlags::ANONYMOUS)
        );
        assert_eq!(MapFlags::validate(0x20), Err(Errno::EINVAL));
        assert_eq!(MapFlags::validate(0x23), Err(Errno::EINVAL));
        assert_eq!(MapFlags::validate(0x22 | 0x4000), Err(Errno::EINVAL));
    }
}
