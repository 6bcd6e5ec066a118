//! A minimal spin lock with a non-blocking `try_lock`.
//!
//! Lock order: the crate never holds two of these at once, and never holds
//! one across an `.await`.  One exception to "no foreign code under a
//! lock": an [`Event`](super::Event) wakes its listeners under its lock
//! (see `event.rs` for why that is safe), so a task wake's `pend` (an IPI
//! send, which never waits for the target) runs under it.  Otherwise wakers
//! are woken and dropped only after unlocking.  Interrupt handlers never
//! spin on one: code reachable from a signal or a wake only ever calls
//! [`SpinLock::try_lock`] (see `event.rs`), so an interrupt taken while its
//! own CPU holds a lock cannot deadlock.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one holder at a time, so
// sharing the lock between threads only ever moves `T` between them.
unsafe impl<T: Send> Sync for SpinLock<T> {}

pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock if it is free; never waits.
    pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        // Acquire: see the previous holder's writes.  SeqCst is not needed
        // here; callers that pair the lock with other flags say so.
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinGuard { lock: self })
    }

    /// Takes the lock, spinning while another CPU holds it.  Never called
    /// on a path an interrupt handler can reach.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves this thread holds the lock, and `&mut
        // self` that no other reference from this guard is live.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // Release: publish this holder's writes to the next one.
        self.lock.locked.store(false, Ordering::Release);
    }
}
