//! The auxiliary vector on a new program's initial stack: `(type, value)`
//! pairs after `envp`'s NULL, ending with `AT_NULL`.  Linux's numbers where
//! Linux has the entry; this kernel's own from 0x1000 up.

/// The end of the vector.
pub const AT_NULL: u64 = 0;
/// The page size.
pub const AT_PAGESZ: u64 = 6;
/// The address of the process's ring mapping (header, SQEs, CQEs).
pub const AT_RING_ADDR: u64 = 0x1000;
/// The length of that mapping in bytes.
pub const AT_RING_BYTES: u64 = 0x1001;
