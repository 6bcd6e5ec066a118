//! File-operation arguments with Linux's values and layouts.

/// `dirfd` for "relative to the working directory" (the initfs root).
pub const AT_FDCWD: i32 = -100;

/// `open` flags.
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_ACCMODE: u32 = 3;
pub const O_CREAT: u32 = 0o100;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_CLOEXEC: u32 = 0o2000000;

/// File-type bits of `stx_mode`.
pub const S_IFMT: u16 = 0o170000;
pub const S_IFDIR: u16 = 0o040000;
pub const S_IFREG: u16 = 0o100000;
pub const S_IFLNK: u16 = 0o120000;

/// `stx_mask` bits the kernel fills.
pub const STATX_TYPE: u32 = 0x1;
pub const STATX_MODE: u32 = 0x2;
pub const STATX_NLINK: u32 = 0x4;
pub const STATX_INO: u32 = 0x100;
pub const STATX_SIZE: u32 = 0x200;
pub const STATX_BLOCKS: u32 = 0x400;
pub const STATX_BASIC_STATS: u32 = 0x7ff;

/// A `statx` timestamp.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}

/// Linux's `struct statx` (256 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub spare2: [u64; 14],
}

impl Statx {
    /// The struct's bytes, as the kernel copies them out.
    pub fn to_bytes(&self) -> [u8; 256] {
        let mut out = [0u8; 256];
        let mut put =
            |offset: usize, bytes: &[u8]| out[offset..offset + bytes.len()].copy_from_slice(bytes);
        put(0, &self.stx_mask.to_le_bytes());
        put(4, &self.stx_blksize.to_le_bytes());
        put(8, &self.stx_attributes.to_le_bytes());
        put(16, &self.stx_nlink.to_le_bytes());
        put(20, &self.stx_uid.to_le_bytes());
        put(24, &self.stx_gid.to_le_bytes());
        put(28, &self.stx_mode.to_le_bytes());
        put(32, &self.stx_ino.to_le_bytes());
        put(40, &self.stx_size.to_le_bytes());
        put(48, &self.stx_blocks.to_le_bytes());
        put(56, &self.stx_attributes_mask.to_le_bytes());
        out
    }
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Statx>() == 256);
    assert!(offset_of!(Statx, stx_nlink) == 16);
    assert!(offset_of!(Statx, stx_mode) == 28);
    assert!(offset_of!(Statx, stx_ino) == 32);
    assert!(offset_of!(Statx, stx_size) == 40);
    assert!(offset_of!(Statx, stx_blocks) == 48);
    assert!(offset_of!(Statx, stx_atime) == 64);
    assert!(offset_of!(Statx, stx_rdev_major) == 128);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statx_bytes_put_fields_at_linux_offsets() {
        let statx = Statx {
            stx_mask: 0x7ff,
            stx_mode: S_IFREG | 0o644,
            stx_size: 1234,
            stx_ino: 9,
            ..Statx::default()
        };
        let bytes = statx.to_bytes();
        assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), 0x7ff);
        assert_eq!(
            u16::from_le_bytes(bytes[28..30].try_into().unwrap()),
            S_IFREG | 0o644
        );
        assert_eq!(u64::from_le_bytes(bytes[32..40].try_into().unwrap()), 9);
        assert_eq!(u64::from_le_bytes(bytes[40..48].try_into().unwrap()), 1234);
    }

    #[test]
    fn mem_stats_bytes_are_the_fields_in_order() {
        let mut stats = MemStats {
            heap_bytes_requested: 1,
            free_frames: 3,
            heap_large_frames: 11,
            private_dirty_bytes: 7,
            user_reserve_frames: 256,
            fpu_areas: 3,
            ..MemStats::default()
        };
        stats.slab_classes[1] = SlabClassStats {
            object_bytes: 32,
            objects: 5,
            frames: 2,
            spare_frames: 1,
        };
        let bytes = stats.to_bytes();
        let word =
            |index: usize| u64::from_le_bytes(bytes[index * 8..index * 8 + 8].try_into().unwrap());
        assert_eq!((word(0), word(2), word(10)), (1, 3, 11));
        assert_eq!((word(15), word(16), word(17), word(18)), (32, 5, 2, 1));
        let tail = 11 + MAX_SLAB_CLASSES * 4;
        assert_eq!((word(tail), word(tail + 1), word(tail + 2)), (7, 256, 3));
        assert_eq!(stats.slab_objects(), 5);
        stats.resident_bytes = 2 * 4096;
        stats.page_table_bytes = 4096;
        assert_eq!(stats.available_frames(), 3 + 2 + 1 + 11 + 2);
        assert_eq!(stats.heap_frames_in_use(), 11 + 1);
    }

    #[test]
    fn a_footprint_counts_spare_slabs_as_free_and_prints_every_class() {
        let mut stats = MemStats {
            managed_frames: 100,
            free_frames: 60,
            ..MemStats::default()
        };
        stats.slab_classes[0] = SlabClassStats {
            object_bytes: 16,
            objects: 7,
            frames: 3,
            spare_frames: 1,
        };
        let footprint = stats.footprint();
        assert_eq!(footprint.frames_in_use, 39);
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            footprint.to_string(),
            "frames=39 slab=7,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
        );
    }
}

/// FUTEX_WAIT/FUTEX_WAKE's `fd`: futex2 flags.  Only 32-bit futexes.
pub const FUTEX2_SIZE_U32: i32 = 2;
/// A private futex (the only kind here: futexes are per process).
pub const FUTEX2_PRIVATE: i32 = 128;
/// `addr3` of a futex op: wake and wait regardless of bits.
pub const FUTEX_BITSET_MATCH_ANY: u64 = 0xffff_ffff;

/// MEM_STATS fills this (`addr`/`len`): what the kernel holds, in bytes
/// and counts.  Fields are appended, never reordered.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Kernel heap: bytes asked for, and bytes taken (size classes round up).
    pub heap_bytes_requested: u64,
    pub heap_bytes_allocated: u64,
    /// Physical frames: free, and managed in all.
    pub free_frames: u64,
    pub managed_frames: u64,
    /// Executor tasks alive on all CPUs.
    pub live_tasks: u64,
    /// Threads alive in all processes, and those parked waiting for a
    /// delivered result (blocked, with no kernel stack).
    pub live_threads: u64,
    pub parked_threads: u64,
    /// The size of a `Thread` control block.
    pub thread_struct_bytes: u64,
    /// The calling process: bytes of user memory mapped (frames in its
    /// page tables, the ring's included), and of its page tables.
    pub resident_bytes: u64,
    pub page_table_bytes: u64,
    /// Frames held by kernel heap blocks too large for a slab class.
    pub heap_large_frames: u64,
    /// The kernel heap's slab classes, smallest first; the unused tail of
    /// the array is zero (`object_bytes == 0`).
    pub slab_classes: [SlabClassStats; MAX_SLAB_CLASSES],
    /// The calling process: bytes of private memory only it maps (pages it
    /// wrote or had zeroed, shared with no other space; `VM_QUERY` gives
    /// them per region).
    pub private_dirty_bytes: u64,
    /// Frames user memory never takes (the kernel heap's and page tables'
    /// reserve): a page fault, or an op that would leave kernel memory
    /// behind, fails once `free_frames` is down to this.
    pub user_reserve_frames: u64,
    /// Threads holding a saved FPU area (512 bytes of kernel heap each):
    /// those interrupted or faulted since their last syscall.
    pub fpu_areas: u64,
}

/// How many slab classes [`MemStats`] has room for.
pub const MAX_SLAB_CLASSES: usize = 16;

/// What one slab class of the kernel heap holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlabClassStats {
    /// The size of the class's objects.
    pub object_bytes: u64,
    /// Objects handed out and not returned.
    pub objects: u64,
    /// Frames its slabs hold, and of those the empty spare slab's (kept
    /// for reuse; it is free memory in all but name).
    pub frames: u64,
    pub spare_frames: u64,
}

impl MemStats {
    /// Frames the kernel heap holds: its slabs' (spare ones included) and
    /// its large blocks'.
    pub fn heap_frames(&self) -> u64 {
        let slabs: u64 = self.slab_classes.iter().map(|class| class.frames).sum();
        slabs + self.heap_large_frames
    }

    /// The wire form: every field as a little-endian `u64`, in order.
    pub fn to_bytes(&self) -> [u8; core::mem::size_of::<MemStats>()] {
        let head = [
            self.heap_bytes_requested,
            self.heap_bytes_allocated,
            self.free_frames,
            self.managed_frames,
            self.live_tasks,
            self.live_threads,
            self.parked_threads,
            self.thread_struct_bytes,
            self.resident_bytes,
            self.page_table_bytes,
            self.heap_large_frames,
        ];
        let classes = self.slab_classes.iter().flat_map(|class| {
            [
                class.object_bytes,
                class.objects,
                class.frames,
                class.spare_frames,
            ]
        });
        let tail = [
            self.private_dirty_bytes,
            self.user_reserve_frames,
            self.fpu_areas,
        ];
        let mut bytes = [0u8; core::mem::size_of::<MemStats>()];
        for (chunk, word) in bytes
            .chunks_exact_mut(8)
            .zip(head.into_iter().chain(classes).chain(tail))
        {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// Free frames plus those the kernel heap and the calling process hold
    /// (its pages and page tables): constant while the kernel keeps
    /// nothing it should have given back, however the heap's slabs or the
    /// caller's stack and tables move (the leak checks' frame count).
    pub fn available_frames(&self) -> u64 {
        self.free_frames + (self.resident_bytes + self.page_table_bytes) / 4096 + self.heap_frames()
    }

    /// Slab objects in use, over all classes.
    pub fn slab_objects(&self) -> u64 {
        self.slab_classes.iter().map(|class| class.objects).sum()
    }

    /// Frames the kernel heap holds beyond the empty spare slabs.
    pub fn heap_frames_in_use(&self) -> u64 {
        self.heap_large_frames
            + self
                .slab_classes
                .iter()
                .map(|class| class.frames - class.spare_frames)
                .sum::<u64>()
    }
}

const _: () = assert!(core::mem::size_of::<MemStats>() == 11 * 8 + MAX_SLAB_CLASSES * 32 + 24);

/// What must come back exactly once a process is gone, for the leak
/// checks: frames in use (an empty spare slab counts as free) and the
/// kernel heap's objects in each slab class.  It prints as the
/// `memcheck:` lines' machine-readable part, `frames=N slab=A,B,...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub frames_in_use: u64,
    pub slab_objects: [u64; MAX_SLAB_CLASSES],
}

impl MemStats {
    pub fn footprint(&self) -> Footprint {
        let spare: u64 = self
            .slab_classes
            .iter()
            .map(|class| class.spare_frames)
            .sum();
        Footprint {
            frames_in_use: self.managed_frames - self.free_frames - spare,
            slab_objects: core::array::from_fn(|class| self.slab_classes[class].objects),
        }
    }
}

impl core::fmt::Display for Footprint {
    fn fmt(&self, out: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(out, "frames={} slab=", self.frames_in_use)?;
        for (index, objects) in self.slab_objects.iter().enumerate() {
            let comma = if index == 0 { "" } else { "," };
            write!(out, "{comma}{objects}")?;
        }
        Ok(())
    }
}

/// One record of `VM_QUERY`'s output: a region of the caller's address
/// space.  Records come in address order, as many as fit the buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmRegion {
    pub start: u64,
    pub end: u64,
    /// `ProtFlags` bits.
    pub prot: u32,
    /// [`VM_USER_ACCESSIBLE`], [`VM_STACK`], ... bits.
    pub flags: u32,
    /// Byte offset into the backing object of `start`.
    pub offset: u64,
    /// Pages mapped now.
    pub resident_pages: u64,
    /// Mapped pages an op holds pinned (a READ into them in flight).
    pub pinned_pages: u64,
    /// Mapped pages of a private region that only this space maps: written
    /// (or zeroed) for it, shared with nobody.
    pub private_dirty_pages: u64,
    /// Pages still shared copy-on-write: the first write copies them.
    pub cow_pages: u64,
}

const _: () = assert!(core::mem::size_of::<VmRegion>() == 64);

/// `VmRegion::flags`: user code may touch the region.
pub const VM_USER_ACCESSIBLE: u32 = 1 << 0;
/// A stack region: a thread's RSP must lie in one on every kernel entry.
pub const VM_STACK: u32 = 1 << 1;
/// Made by `MMAP` (only these can be unmapped or reprotected).
pub const VM_MMAPPED: u32 = 1 << 2;
/// Writes are shared with other mappings of the object.
pub const VM_SHARED: u32 = 1 << 3;
/// Private pages still shared copy-on-write.
pub const VM_COW: u32 = 1 << 4;
/// Backed by an initfs file (a file mapping, or the kernel's copy of the
/// program's ELF image).
pub const VM_FILE: u32 = 1 << 5;
/// Frames the space does not own (the ring).
pub const VM_PHYSICAL: u32 = 1 << 6;
/// A shared file mapping some of whose pages `REMAP_PAGES` rearranged:
/// each may show another file page, with its own protection.
pub const VM_NONLINEAR: u32 = 1 << 7;

impl VmRegion {
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// The record as it lies in memory (little-endian).
    pub fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut bytes = [0u8; Self::BYTES];
        bytes[0..8].copy_from_slice(&self.start.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.end.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.prot.to_le_bytes());
        bytes[20..24].copy_from_slice(&self.flags.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.offset.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.resident_pages.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.pinned_pages.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.private_dirty_pages.to_le_bytes());
        bytes[56..64].copy_from_slice(&self.cow_pages.to_le_bytes());
        bytes
    }
}
