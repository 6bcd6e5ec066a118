//! Physical frames: the buddy allocator over the per-frame `PageInfo`
//! array, and the kernel-wide instance behind a lock.
//!
//! - `page_info`: one `PageInfo` per 4 KiB frame;
//! - `buddy`: the allocator logic (host-tested);
//! - `global`: the kernel's allocator and the `Frame` ownership type;
//! - `list`: frames waiting for release after a shootdown.

pub mod buddy;
#[cfg(not(test))]
pub mod global;
pub mod list;
pub mod page_info;
