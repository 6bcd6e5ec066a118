//! The lock for threads of one process: [`Mutex`] (shared rings, program
//! globals) and, through [`RawMutex`], the heap's allocator.
//!
//! It spins briefly, then yields the CPU (`ring_enter` with `YIELD`): a
//! plain spin lock would let every waiter burn its whole time slice while
//! the holder sits preempted in a run queue.  The guard and the `Mutex`
//! type around the lock word are `lock_api`'s.
//!
//! Lock order: a [`Mutex`] may be held while allocating, so the heap's lock
//! comes last; the allocator takes no other lock.

use core::sync::atomic::{AtomicBool, Ordering};
use lock_api::GuardSend;

/// A mutual-exclusion lock protecting a `T`.
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
/// Holds a [`Mutex`] until dropped.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;

/// The lock word: spin, then yield.
pub struct RawMutex {
    locked: AtomicBool,
}

/// Spins before the lock yields the CPU.
const SPINS: u32 = 64;

// SAFETY: `lock` and `try_lock` return holding the lock only after their
// own compare-exchange turned `locked` from false to true, so one holder
// at a time; Acquire there and Release in `unlock` order each holder's
// accesses after the previous holder's.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)] // lock_api's pattern
    const INIT: Self = Self {
        locked: AtomicBool::new(false),
    };

    // Nothing ties the lock to the thread that took it.
    type GuardMarker = GuardSend;

    fn lock(&self) {
        let mut spins = 0;
        while !self.try_lock_weak() {
            spins += 1;
            if spins < SPINS {
                core::hint::spin_loop();
            } else {
                spins = 0;
                yield_now();
            }
        }
    }

    fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl RawMutex {
    fn try_lock_weak(&self) -> bool {
        self.locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
}

/// Gives the CPU to other threads.
pub fn yield_now() {
    crate::syscall::ring_enter(0, 0, 0, abi::EnterFlags::YIELD.bits());
}
