//! [`StdRuntime`]: starts a [`Runtime`] with one OS thread per CPU, and
//! stops it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use super::block_on::block_on;
use super::platform::StdPlatform;
use crate::join::JoinHandle;
use crate::platform::Platform;
use crate::runtime::{Config, Runtime};

/// A running runtime whose CPUs are OS threads.  Dropping it stops the
/// threads (the runtime itself, like every runtime, is leaked).
pub struct StdRuntime {
    runtime: &'static Runtime,
    platform: &'static StdPlatform,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl StdRuntime {
    /// Starts `cpu_count` CPU threads with the default [`Config`].
    pub fn start(cpu_count: usize) -> Self {
        Self::with_config(cpu_count, Config::default())
    }

    pub fn with_config(cpu_count: usize, config: Config) -> Self {
        let platform: &'static StdPlatform = Box::leak(Box::new(StdPlatform::new(cpu_count)));
        let runtime = Runtime::new(platform, config);
        let stop = Arc::new(AtomicBool::new(false));
        // Every CPU binds its thread before `start` returns, so a pend can
        // never miss a thread that is not registered yet.
        let bound = Arc::new(Barrier::new(cpu_count + 1));
        let threads = (0..cpu_count)
            .map(|cpu| {
                let (stop, bound) = (Arc::clone(&stop), Arc::clone(&bound));
                thread::Builder::new()
                    .name(format!("cpu{cpu}"))
                    .spawn(move || {
                        platform.bind_current_thread(cpu);
                        bound.wait();
                        runtime
                            .executor(cpu)
                            .run_until(|| stop.load(Ordering::SeqCst));
                    })
                    .expect("spawn CPU thread")
            })
            .collect();
        bound.wait();
        Self {
            runtime,
            platform,
            stop,
            threads,
        }
    }

    pub fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    pub fn platform(&self) -> &'static StdPlatform {
        self.platform
    }

    /// See [`Runtime::spawn`].
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(future)
    }

    /// See [`Runtime::spawn_on`].
    pub fn spawn_on<F>(&self, cpu: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn_on(cpu, future)
    }

    /// Runs `future` as a task and waits for its output on this thread.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        block_on(self.spawn(future)).expect("block_on task was cancelled")
    }

    /// Stops every CPU thread and waits for them; re-raises a panic from any
    /// of them (a failed assertion inside a task, say).
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for cpu in 0..self.runtime.cpu_count() {
            self.platform.pend(cpu);
        }
        let mut panic = None;
        for thread in self.threads.drain(..) {
            if let Err(payload) = thread.join() {
                panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = panic
            && !thread::panicking()
        {
            std::panic::resume_unwind(payload);
        }
    }
}

impl Drop for StdRuntime {
    fn drop(&mut self) {
        self.stop_threads();
    }
}
