//! # chiral-stratum
//!
//! Stratum V1 for chiral-pool: a server that standard miners connect to,
//! and a client (used by the example CPU miner).
//!
//! - [`wire`]: messages and error codes; [`codec`]: line framing;
//! - [`job`]: `mining.notify` and the header rebuild of a submit;
//! - [`server`]: the server (work comes from a
//!   `chiral_pool_core::chain::WorkSource`);
//! - [`vardiff`]: per-connection difficulty; [`client`]: the client.
//!
//! Every submit is rebuilt into a header and checked by
//! chiral-pool-core's `ShareValidator`; nothing a miner claims is trusted.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod job;
mod method;
pub mod server;
pub mod vardiff;
pub mod wire;

/// The crate README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
