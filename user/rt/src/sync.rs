//! A lock for threads that share the process's ring.
//!
//! It spins briefly, then yields the CPU (`ring_enter` with `YIELD`): a
//! plain spin lock would let every waiter burn its whole time slice while
//! the holder sits preempted in a run queue.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

pub struct Mutex<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out one guard at a time, so `T` is only reached
// from one thread at once; it must be `Send` to move between threads.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// Spins before the lock yields the CPU.
const SPINS: u32 = 64;

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        let mut spins = 0;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < SPINS {
                core::hint::spin_loop();
            } else {
                spins = 0;
                yield_now();
            }
        }
        MutexGuard { mutex: self }
    }
}

/// Gives the CPU to other threads.
pub fn yield_now() {
    crate::syscall::ring_enter(0, 0, 0, abi::EnterFlags::YIELD.bits());
}

pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the
        // only reference through it.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.locked.store(false, Ordering::Release);
    }
}
