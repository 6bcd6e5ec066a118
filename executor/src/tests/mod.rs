//! Host tests of the executor, run by `cargo test` at the workspace root
//! (`cfg(test)` turns on the std platform; see Cargo.toml).  Each one fails
//! if the feature it names breaks; a watchdog turns hangs into failures.

mod budget;
mod cross_cpu;
mod idle;
mod join;
mod leak;
mod sync;
mod timers;
mod util;
mod wake_order;
