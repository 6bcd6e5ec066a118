//! Parsers for firmware data formats.  Pure functions over byte slices, so
//! they build and test on the host.
//!
//! - `s5`: finds the `\_S5_` sleep type in the DSDT's AML, for ACPI power-off.

pub mod s5;
