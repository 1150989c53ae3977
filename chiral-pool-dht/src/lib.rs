//! # chiral-pool-dht
//!
//! [`RecordStore`](chiral_pool_core::store::RecordStore) backends.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
