//! The storage abstraction every pool operation runs on.
//!
//! A [`RecordStore`] is a key → candidate-records map shared by a network
//! (a DHT, or one process), plus provider-style set membership so that
//! directories never need a shared read-modify-write record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// A bound of the store (keys, records per key, set members) is reached.
    #[error("store capacity exceeded: {0}")]
    CapacityExceeded(&'static str),
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

/// A source of wall-clock time in unix seconds. Record expiry, leases and
/// share windows take time from here so tests can control it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that moves only when told; clones share the same time.
///
/// ```
/// use chiral_pool_core::store::{Clock, ManualClock};
/// let clock = ManualClock::new(100);
/// clock.advance(5);
/// assert_eq!(clock.clone().now(), 105);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(now)))
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;
