//! # chiral-pool-dht
//!
//! Backends of chiral-pool-core's
//! [`RecordStore`](chiral_pool_core::store::RecordStore):
//!
//! - [`KadStore`]: libp2p Kademlia over TCP + noise + yamux, with identify,
//!   server mode forced, inbound records verified before they are stored;
//! - [`MemoryStore`]: the same semantics in one process;
//! - [`MockNetwork`] and [`MockStore`]: partitions and injected faults,
//!   deterministic from a seed;
//! - [`RecordTable`]: the verifying, bounded replica the others share.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod gossip;
pub mod kad;
mod memory;
mod mock;
mod table;

pub use gossip::{GossipHub, HubGossip};
pub use kad::{KadConfig, KadError, KadStore};
pub use memory::{MemoryNetwork, MemoryStore};
pub use mock::{forge, FaultPlan, FaultStats, MockNetwork, MockNode, MockStore};
pub use table::{RecordTable, TableLimits};

/// The crate README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
