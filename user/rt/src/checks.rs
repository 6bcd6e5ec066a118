//! What guest test programs share: a list of named checks, kept while they
//! run (the checks need the ring to themselves) and printed at the end.
//!
//! ```ignore
//! let mut checks = rt::checks::Checks::new("ringtest");
//! checks.check("nop completes with 0", ok);
//! return checks.report(&mut ring); // the number that failed
//! ```

use crate::io::Writer;
use crate::ring::Ring;
use core::fmt::Write;

/// The most checks one program records.
pub const MAX_CHECKS: usize = 96;

pub struct Checks {
    program: &'static str,
    results: [(&'static str, bool); MAX_CHECKS],
    count: usize,
    /// Checks past [`MAX_CHECKS`]: counted as failures.
    dropped: usize,
}

impl Checks {
    pub fn new(program: &'static str) -> Self {
        Self {
            program,
            results: [("", false); MAX_CHECKS],
            count: 0,
            dropped: 0,
        }
    }

    /// Records the check `name` as passed or failed.
    pub fn check(&mut self, name: &'static str, ok: bool) {
        match self.results.get_mut(self.count) {
            Some(slot) => {
                *slot = (name, ok);
                self.count += 1;
            }
            None => self.dropped += 1,
        }
    }

    /// Prints a line per check; returns how many failed.
    pub fn report(&self, ring: &mut Ring) -> i32 {
        let mut failed = self.dropped as i32;
        for &(name, ok) in &self.results[..self.count] {
            let verdict = if ok { "ok" } else { "FAIL" };
            let _ = writeln!(Writer(ring), "{}: {verdict} {name}", self.program);
            failed += i32::from(!ok);
        }
        if self.dropped > 0 {
            let _ = writeln!(
                Writer(ring),
                "{}: FAIL {} checks past the limit of {MAX_CHECKS}",
                self.program,
                self.dropped
            );
        }
        failed
    }
}
