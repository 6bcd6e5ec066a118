//! A process: an address space, its threads, and how it ended.
//!
//! For now a process has one thread; its exit status is published once and
//! announced on an `Event`, so any number of waiters see it.

use crate::mm::space::Space;
use crate::ring::Ring;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use executor::Event;
use spin::Mutex;

/// A fault that killed a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error_code: u64,
    /// CR2 for a page fault.
    pub address: u64,
}

impl Fault {
    pub fn name(&self) -> &'static str {
        crate::arch::exception_name(self.vector)
    }

    /// The signal Linux sends for this fault.
    pub fn signal(&self) -> i32 {
        const SIGILL: i32 = 4;
        const SIGTRAP: i32 = 5;
        const SIGBUS: i32 = 7;
        const SIGFPE: i32 = 8;
        const SIGKILL: i32 = 9;
        const SIGSEGV: i32 = 11;
        match self.vector {
            0 | 16 | 19 => SIGFPE,
            1 | 3 => SIGTRAP,
            6 => SIGILL,
            17 => SIGBUS,
            12..=14 => SIGSEGV,
            _ => SIGKILL,
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(status)`.
    Exited(i32),
    /// The kernel killed it for a fault.
    Killed(Fault),
}

impl ExitStatus {
    /// The Linux `wait` status: `status << 8` for an exit, the signal
    /// number Linux would have sent for a fault.
    pub fn wait_status(self) -> i32 {
        match self {
            Self::Exited(status) => (status & 0xff) << 8,
            Self::Killed(fault) => fault.signal(),
        }
    }
}

pub struct Process {
    pub pid: u64,
    pub name: String,
    space: Mutex<Option<Space>>,
    /// The process's ring (ring 0).  In-flight operations hold it too, so
    /// it outlives the process's mapping of it.
    ring: Arc<Ring>,
    status: Mutex<Option<ExitStatus>>,
    exited: Event,
    pub handles: Mutex<super::handles::HandleTable>,
}

static NEXT_PID: AtomicU64 = AtomicU64::new(1);

impl Process {
    pub fn new(name: String, space: Space, ring: Arc<Ring>) -> Self {
        Self {
            pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
            name,
            space: Mutex::new(Some(space)),
            ring,
            status: Mutex::new(None),
            exited: Event::new(),
            handles: Mutex::new(super::handles::HandleTable::default()),
        }
    }

    /// Ring `id` of this process (only ring 0 exists).
    pub fn ring(&self, id: u64) -> Option<Arc<Ring>> {
        (id == 0).then(|| self.ring.clone())
    }

    /// Runs `f` on the address space; `None` once the process has ended.
    pub fn with_space<R>(&self, f: impl FnOnce(&Space) -> R) -> Option<R> {
        self.space.lock().as_ref().map(f)
    }

    /// Loads this process's page table on the calling CPU.
    pub fn activate_space(&self) {
        match self.space.lock().as_ref() {
            Some(space) => space.activate(),
            None => crate::mm::paging::activate_kernel(),
        }
    }

    /// Records how the process ended, frees its address space (the caller
    /// has switched to the kernel page table) and wakes the waiters.
    pub fn exit(&self, status: ExitStatus) {
        drop(self.space.lock().take());
        let first = {
            let mut slot = self.status.lock();
            let first = slot.is_none();
            if first {
                *slot = Some(status);
            }
            first
        };
        if first {
            self.exited.wake_all();
        }
    }

    /// How the process ended, once it has.
    pub fn status(&self) -> Option<ExitStatus> {
        *self.status.lock()
    }

    /// Waits for the process to end.
    pub async fn wait(&self) -> ExitStatus {
        self.exited
            .wait_until(|| self.status.lock().is_some())
            .await;
        self.status().expect("woken before the status was set")
    }
}
