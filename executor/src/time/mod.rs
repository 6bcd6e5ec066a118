//! Deadline timers: a per-CPU timer queue ([`TimerQueue`]), the [`Sleep`]
//! future, and [`timeout`].
//!
//! Deadlines are nanoseconds on the platform clock ([`crate::now`]).  Each
//! CPU fires its own expired timers at the start of every round, and
//! reports its earliest deadline in [`RunOutcome`](crate::RunOutcome) and to
//! `halt`, so the kernel programs the LAPIC timer for exactly that instant:
//! no periodic tick while idle.
//!
//! Guarantees: a sleeper resumes only once `now() >= deadline` (it checks
//! the clock itself, so even a spurious wake cannot end it early), and the
//! timers of one CPU fire in deadline order (ties in registration order).

mod sleep;
mod timeout;
mod timer_queue;

pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout};
pub(crate) use timer_queue::TimerQueue;
