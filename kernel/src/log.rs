//! Leveled logging to the serial console.
//!
//! `error!`, `warn!`, `info!`, `debug!` and `trace!` print one line each:
//!
//! ```text
//! [    0.012345] I cpu0 mm: 502 MiB usable
//! ```
//!
//! The time is seconds since boot (zero until the TSC is calibrated).
//! `kprintln!` prints a raw line, for output that tools parse (test results,
//! reports).

use core::sync::atomic::{AtomicU8, Ordering};

/// How important a message is; lower is more important.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "error" => Self::Error,
            "warn" => Self::Warn,
            "info" => Self::Info,
            "debug" => Self::Debug,
            "trace" => Self::Trace,
            _ => return None,
        })
    }

    #[cfg(not(test))]
    fn letter(self) -> char {
        match self {
            Self::Error => 'E',
            Self::Warn => 'W',
            Self::Info => 'I',
            Self::Debug => 'D',
            Self::Trace => 'T',
        }
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Messages less important than `level` are dropped from now on.
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// The macros' back end.
#[cfg(not(test))]
pub fn log(level: Level, module: &str, args: core::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let uptime_us = crate::time::uptime_ns() / 1000;
    let module = module.strip_prefix("kernel::").unwrap_or(module);
    let module = module.strip_prefix("arch::x86_64::").unwrap_or(module);
    crate::arch::serial::write_fmt(format_args!(
        "[{:5}.{:06}] {} cpu{} {}: {}\n",
        uptime_us / 1_000_000,
        uptime_us % 1_000_000,
        level.letter(),
        crate::arch::percpu::cpu_index(),
        module,
        args
    ));
}

#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::arch::serial::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, module_path!(), format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, module_path!(), format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, module_path!(), format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, module_path!(), format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Trace, module_path!(), format_args!($($arg)*)) };
}
