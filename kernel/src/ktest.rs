//! In-guest kernel tests, registered next to the code they test.
//!
//! ```ignore
//! ktest!(fn frames_round_trip() {
//!     ensure_eq!(free_before, free_after);
//!     Ok(())
//! });
//! ktest!(async fn tasks_run_everywhere() {
//!     let value = runtime.spawn_on(1, async { 42 }).await;
//!     Ok(())
//! });
//! ```
//!
//! `ktest!` places a [`KTest`] in the `.ktest` linker section; [`run`]
//! walks the section, runs the tests whose name contains the filter, and
//! prints the protocol the host harness reads:
//!
//! ```text
//! ktest: start N
//! ktest: pass NAME
//! ktest: FAIL NAME: MESSAGE
//! ktest: done P passed, F failed
//! ```
//!
//! then exits QEMU with `Success` or `TestsFailed`.
//!
//! The runner is a task on the BSP's executor, and the BSP runs its normal
//! CPU loop meanwhile: with one kernel stack per CPU, nothing may wait on
//! the stack (a user thread resumed on this CPU would reset it), so a test
//! that waits is an `async fn`.  Plain tests run inside the runner's poll.

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::Pin;

/// What a test returns: `Err` carries the failure message.
pub type TestResult = Result<(), String>;

/// A test's future.
pub type TestFuture = Pin<Box<dyn Future<Output = TestResult> + Send>>;

/// How a test runs.
pub enum TestFn {
    Sync(fn() -> TestResult),
    Async(fn() -> TestFuture),
}

/// One registered test.
#[repr(C)]
pub struct KTest {
    pub name: &'static str,
    pub run: TestFn,
}

/// Declares an in-kernel test: `ktest!(fn name() { .. })` or
/// `ktest!(async fn name() { .. })`; the body returns [`TestResult`].
#[macro_export]
macro_rules! ktest {
    (fn $name:ident() $body:block) => {
        #[cfg(not(test))]
        fn $name() -> $crate::ktest::TestResult $body

        $crate::ktest!(@register $name, $crate::ktest::TestFn::Sync($name));
    };
    (async fn $name:ident() $body:block) => {
        #[cfg(not(test))]
        async fn $name() -> $crate::ktest::TestResult $body

        $crate::ktest!(@register $name, $crate::ktest::TestFn::Async(|| alloc::boxed::Box::pin($name())));
    };
    (@register $name:ident, $run:expr) => {
        // The registration is a `link_section` static, which the
        // `unsafe_code` lint counts; modules that otherwise deny unsafe
        // code allow this one form (they say `deny`, not `forbid`).
        #[cfg(not(test))]
        #[allow(unsafe_code)]
        const _: () = {
            #[used]
            #[unsafe(link_section = ".ktest")]
            static ENTRY: $crate::ktest::KTest =
                $crate::ktest::KTest { name: concat!(module_path!(), "::", stringify!($name)), run: $run };
        };
    };
}

/// Fails the test unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr) => {
        $crate::ensure!($cond, "{}", stringify!($cond))
    };
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(alloc::format!("{}:{}: {}", file!(), line!(), alloc::format!($($message)+)));
        }
    };
}

/// Fails the test unless the two values are equal.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {{
        let (left, right) = (&$left, &$right);
        $crate::ensure!(
            left == right,
            "{} == {} failed: {:?} != {:?}",
            stringify!($left),
            stringify!($right),
            left,
            right
        );
    }};
}

#[cfg(not(test))]
mod runner {
    use super::{KTest, TestFn};
    use crate::arch::qemu::{self, ExitCode};
    use crate::kprintln;

    unsafe extern "C" {
        static __ktest_start: u8;
        static __ktest_end: u8;
    }

    /// Every registered test, in link order.
    pub fn all() -> &'static [KTest] {
        // SAFETY: the linker script brackets the `.ktest` section, which
        // holds only `KTest` entries placed by `ktest!`, with these symbols.
        unsafe {
            let start = (&raw const __ktest_start).cast::<KTest>();
            let end = (&raw const __ktest_end).cast::<KTest>();
            let count = (end as usize - start as usize) / core::mem::size_of::<KTest>();
            core::slice::from_raw_parts(start, count)
        }
    }

    /// Runs the tests whose name contains `filter` as a task on the BSP,
    /// then exits QEMU.  The BSP runs its CPU loop meanwhile.
    pub fn run(filter: &'static str) -> ! {
        let runtime = crate::sched::runtime().expect("tests need the executors");
        runtime.spawn_on(0, run_all(filter)).detach();
        crate::sched::run(runtime)
    }

    async fn run_all(filter: &'static str) {
        let name = |test: &KTest| test.name.strip_prefix("kernel::").unwrap_or(test.name);
        let selected = || all().iter().filter(|test| name(test).contains(filter));
        kprintln!("ktest: start {}", selected().count());
        let (mut passed, mut failed) = (0, 0);
        for test in selected() {
            let result = match &test.run {
                TestFn::Sync(run) => run(),
                TestFn::Async(run) => run().await,
            };
            match result {
                Ok(()) => {
                    passed += 1;
                    kprintln!("ktest: pass {}", name(test));
                }
                Err(message) => {
                    failed += 1;
                    kprintln!("ktest: FAIL {}: {}", name(test), message);
                }
            }
        }
        kprintln!("ktest: done {passed} passed, {failed} failed");
        qemu::exit(if failed == 0 {
            ExitCode::Success
        } else {
            ExitCode::TestsFailed
        })
    }
}

#[cfg(not(test))]
pub use runner::{all, run};
