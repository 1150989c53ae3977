//! # chiral-stratum
//!
//! Stratum V1 for chiral-pool. Not built yet: this crate only reserves the
//! name and the dependency direction (stratum -> core).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
