//! The platform trait: what the executor needs from the machine.
//!
//! The kernel implements [`Platform`] once, on per-CPU data and the LAPIC;
//! `std_platform` implements it with OS threads for host tests.  The
//! [`Runtime`](crate::Runtime) holds it as `&'static dyn Platform`, so task
//! code is not generic over it.

/// The machine under the executors.
///
/// # Time
///
/// [`now`](Platform::now) is in **nanoseconds** on one monotonic clock that
/// all CPUs share (the kernel: the invariant TSC scaled by its calibrated
/// frequency).  Deadlines everywhere in this crate are values of that clock.
/// A timer is fired only once `now() >= deadline`, so a clock that ran
/// backwards, or differed between CPUs, could only make a sleeper wait
/// longer, never wake it early: [`Sleep`](crate::Sleep) re-checks `now()`
/// itself before it resolves.
///
/// # Interrupt context
///
/// [`pend`](Platform::pend), [`current_cpu`](Platform::current_cpu) and
/// [`now`](Platform::now) are called on the wake path, which interrupt
/// handlers use, so they must not allocate or take locks.
pub trait Platform: Send + Sync {
    /// How many CPUs (executors) there are.  Constant for the runtime's life.
    fn cpu_count(&self) -> usize;

    /// The index of the CPU running the caller, below
    /// [`cpu_count`](Platform::cpu_count).
    ///
    /// Host threads that are not CPUs may return any value at or above
    /// `cpu_count()`; the runtime then places their spawns and timers on
    /// CPU 0.  The kernel always returns its per-CPU index (GS-based).
    fn current_cpu(&self) -> usize;

    /// Monotonic time in nanoseconds, shared by all CPUs.
    fn now(&self) -> u64;

    /// Makes `cpu` leave [`halt`](Platform::halt) soon, because work was
    /// queued for it.
    ///
    /// The kernel sends an IPI whose handler only acknowledges it.  `cpu`
    /// may be the calling CPU (an interrupt handler waking a task of the CPU
    /// it interrupted); the kernel may then skip the IPI, because the halt it
    /// interrupted returns anyway.  Spurious pends are harmless.
    fn pend(&self, cpu: usize);

    /// Idles the calling CPU until [`pend`](Platform::pend) is called for it,
    /// an interrupt arrives, or the clock reaches `deadline` (if any).
    ///
    /// May return early for no reason; the CPU loop simply runs again.  The
    /// kernel arms the LAPIC timer (TSC-deadline mode) for `deadline`, or
    /// disarms it for `None`, then executes `sti; hlt` with interrupts
    /// disabled up to that instruction pair, so a pend that raced with the
    /// decision to halt is taken as an interrupt that ends the `hlt` (see
    /// [`Executor::enter_idle`](crate::Executor::enter_idle) for the
    /// protocol).
    fn halt(&self, deadline: Option<u64>);
}
