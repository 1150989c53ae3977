//! # chiral-pool-core
//!
//! The domain of a decentralized mining pool, with no networking:
//!
//! - [`pow`]: sha256d, block headers, merkle roots, 256-bit targets;
//! - [`share`]: shares that carry their own proof, and the validator every
//!   peer runs;
//! - [`pool`], [`ids`], [`identity`]: pools bound to their owner's key;
//! - [`record`]: signed, expiring, versioned envelopes and their selection;
//! - [`store`]: the async [`RecordStore`](store::RecordStore) trait that
//!   backends (DHT, memory, mock, durable) implement;
//! - [`payout`]: exact integer payout schemes and a ledger.
//!
//! Amounts are integer atoms (`u64`); weights and products are `u128` or
//! wider; nothing consensus-like uses floating point.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
pub mod codec;
pub mod identity;
pub mod ids;
pub mod manager;
pub mod payout;
pub mod pool;
pub mod pow;
pub mod record;
pub mod share;
pub mod sharechain;
pub mod store;

/// The crate README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
