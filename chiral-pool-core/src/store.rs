//! The storage abstraction every pool operation runs on.
//!
//! A [`RecordStore`] is a key → candidate-records map shared by a network
//! (a DHT, or one process), plus provider-style set membership so that
//! directories never need a shared read-modify-write record.

use std::time::Duration;

use async_trait::async_trait;

use crate::identity::PublicKey;
use crate::record::{RecordError, RecordKey, SignedRecord};

/// What a successful put achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PutReport {
    /// The local node stored the record.
    pub stored_locally: bool,
    /// How many other peers acknowledged the record (0 for local stores).
    pub peers: usize,
}

/// Errors of a [`RecordStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record failed verification and was not stored.
    #[error("record rejected: {0}")]
    Rejected(#[from] RecordError),
    /// The operation did not finish in time.
    #[error("operation timed out")]
    Timeout,
    /// No peer could be reached.
    #[error("network unreachable: {0}")]
    Unreachable(String),
    /// The store was shut down.
    #[error("store is shut down")]
    Closed,
    /// A backend-specific failure.
    #[error("backend: {0}")]
    Backend(String),
}

/// A shared, verifying record store.
///
/// Implementations verify every record with [`SignedRecord::verify`] on
/// write and on read, drop expired records, and bound their memory.
/// Records live until their own `expires_at`; the owner republishes.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Stores a record under its key until it expires.
    async fn put(&self, record: SignedRecord) -> Result<PutReport, StoreError>;

    /// Every valid, unexpired candidate for `key`, from every publisher;
    /// choose one with [`crate::record::select_best`] or read them all.
    async fn get(&self, key: &RecordKey) -> Result<Vec<SignedRecord>, StoreError>;

    /// Advertises this node as a member of the set `set` for `ttl`.
    async fn advertise(&self, set: &RecordKey, ttl: Duration) -> Result<(), StoreError>;

    /// The public keys of every node currently advertising `set`, sorted.
    async fn members(&self, set: &RecordKey) -> Result<Vec<PublicKey>, StoreError>;

    /// The public key this store signs and advertises as.
    fn local_key(&self) -> PublicKey;
}
