//! Per-CPU async executors (DESIGN.md section 6).
#![cfg_attr(not(feature = "std"), no_std)]
