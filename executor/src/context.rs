//! Which runtime the calling code runs on, for the free functions
//! ([`spawn`], [`now`], `sleep`, ...) that have no runtime argument.
//!
//! With std (host tests), each thread remembers the runtime whose executor
//! it last drove, in a thread-local.  Without std (the kernel) there is one
//! runtime, remembered in a global when it is created: the kernel has no
//! thread-locals here, and needs no more than one.

use core::future::Future;

use crate::join::JoinHandle;
use crate::runtime::Runtime;

#[cfg(any(feature = "std", test))]
mod imp {
    use core::cell::Cell;

    use crate::runtime::Runtime;

    std::thread_local! {
        static CURRENT: Cell<Option<&'static Runtime>> = const { Cell::new(None) };
    }

    pub(crate) fn enter(runtime: &'static Runtime) {
        CURRENT.with(|current| current.set(Some(runtime)));
    }

    pub(crate) fn current() -> Option<&'static Runtime> {
        CURRENT.with(Cell::get)
    }
}

#[cfg(not(any(feature = "std", test)))]
mod imp {
    use core::ptr;
    use core::sync::atomic::{AtomicPtr, Ordering};

    use crate::runtime::Runtime;

    static CURRENT: AtomicPtr<Runtime> = AtomicPtr::new(ptr::null_mut());

    pub(crate) fn enter(runtime: &'static Runtime) {
        let ptr = ptr::from_ref(runtime).cast_mut();
        // The first runtime stays: the kernel creates exactly one.
        // Release: pairs with the Acquire load in `current`.
        let _ =
            CURRENT.compare_exchange(ptr::null_mut(), ptr, Ordering::Release, Ordering::Relaxed);
    }

    pub(crate) fn current() -> Option<&'static Runtime> {
        let ptr = CURRENT.load(Ordering::Acquire);
        // SAFETY: the only pointers ever stored come from `&'static
        // Runtime` in `enter`, so a non-null one is valid forever.
        unsafe { ptr.as_ref() }
    }
}

pub(crate) use imp::enter;

/// The runtime of the calling CPU.  Panics off any CPU.
pub(crate) fn current() -> &'static Runtime {
    imp::current()
        .expect("no executor runtime here: call this from a task, or use the Runtime's own methods")
}

/// Spawns a task on the calling CPU; other CPUs may steal it.  See
/// [`Runtime::spawn`].
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    current().spawn(future)
}

/// Spawns a task pinned to `cpu`.  See [`Runtime::spawn_on`].
pub fn spawn_on<F>(cpu: usize, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    current().spawn_on(cpu, future)
}

/// The platform clock, in nanoseconds.
pub fn now() -> u64 {
    current().now()
}
