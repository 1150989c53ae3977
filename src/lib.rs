//! # chiral-pool
//!
//! Decentralized mining pools in Rust: shares every peer verifies, signed
//! and expiring DHT records, and payouts computed to the atom.
//!
//! This facade re-exports the workspace crates:
//! - [`core`]: the domain (proof-of-work, shares, pools, records, payouts,
//!   the `RecordStore` trait);
//! - [`dht`]: record stores (Kademlia, memory, mock);
//! - [`stratum`]: Stratum V1.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use chiral_pool_core as core;
pub use chiral_pool_dht as dht;
pub use chiral_stratum as stratum;
