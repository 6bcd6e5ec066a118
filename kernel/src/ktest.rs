//! In-guest kernel tests, registered next to the code they test.
//!
//! ```ignore
//! ktest!(fn frames_round_trip() {
//!     ensure_eq!(free_before, free_after);
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
//! then exits QEMU with `Success` or `TestsFailed`.  Tests run on the BSP
//! after every CPU is online; they reach the others through `smp::call_on`.

use alloc::string::String;

/// What a test returns: `Err` carries the failure message.
pub type TestResult = Result<(), String>;

/// One registered test.
#[repr(C)]
pub struct KTest {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// Declares an in-kernel test.
#[macro_export]
macro_rules! ktest {
    (fn $name:ident() $body:block) => {
        #[cfg(not(test))]
        fn $name() -> $crate::ktest::TestResult $body

        #[cfg(not(test))]
        const _: () = {
            #[used]
            #[unsafe(link_section = ".ktest")]
            static ENTRY: $crate::ktest::KTest =
                $crate::ktest::KTest { name: concat!(module_path!(), "::", stringify!($name)), run: $name };
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
    use super::KTest;
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

    /// Runs the tests whose name contains `filter`, then exits QEMU.
    pub fn run(filter: &str) -> ! {
        let name = |test: &KTest| test.name.strip_prefix("kernel::").unwrap_or(test.name);
        let selected = || all().iter().filter(|test| name(test).contains(filter));
        kprintln!("ktest: start {}", selected().count());
        let (mut passed, mut failed) = (0, 0);
        for test in selected() {
            match (test.run)() {
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
