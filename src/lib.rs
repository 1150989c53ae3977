//! # chiral-pool
//!
//! Decentralized mining pools in Rust: shares every peer verifies, signed
//! and expiring DHT records, and payouts computed to the atom.
//!
//! This facade re-exports the workspace crates and wires them into nodes:
//! - [`core`]: the domain (proof-of-work, shares, pools, records, payouts,
//!   the `RecordStore` trait, the pool manager);
//! - [`dht`]: record stores (Kademlia, memory, mock);
//! - [`stratum`]: Stratum V1 server and client;
//! - [`bitcoind`]: a Bitcoin Core work source;
//! - [`chain_rpc`]: the synthetic chain served over Bitcoin Core's RPC
//!   subset, so node processes can share one chain;
//! - [`node`]: a pool node (DHT + manager + Stratum + accounting);
//! - [`api`]: the node's HTTP API: JSON, live events, the dashboard page
//!   and admin actions;
//! - [`metrics`]: the node's Prometheus metrics;
//! - [`miner`]: a CPU miner on the Stratum client;
//! - [`demo`]: the one-process local pool network of the README.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use chiral_bitcoind as bitcoind;
pub use chiral_pool_core as core;
pub use chiral_pool_dht as dht;
pub use chiral_stratum as stratum;

pub mod api;
pub mod chain_rpc;
pub mod demo;
pub mod metrics;
pub mod miner;
pub mod node;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
