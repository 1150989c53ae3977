//! The in-process backend: one shared table, many handles.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::record::{RecordKey, SignedRecord};
use chiral_pool_core::store::{PutReport, RecordStore, SharedClock, StoreError, SystemClock};

use crate::table::{RecordTable, TableLimits};

/// A network that lives in one process: every [`MemoryStore`] made from it
/// sees the same records. Same semantics as the DHT backend (verification
/// on write and read, expiry, bounds), without the network.
///
/// ```
/// # tokio_test_block(async {
/// use chiral_pool_core::{identity::Keypair, pool::PoolAnnouncement, record::*, store::*};
/// use chiral_pool_dht::MemoryNetwork;
/// let clock = ManualClock::new(1_000);
/// let net = MemoryNetwork::with_clock(std::sync::Arc::new(clock.clone()));
/// let owner = Keypair::from_secret_bytes([1; 32]);
/// let (a, b) = (net.store(owner.public()), net.store(Keypair::generate().public()));
/// let ann = PoolAnnouncement::new(owner.public(), "alpha", "stratum+tcp://127.0.0.1:3333", 1_000, 1_060);
/// a.put(SignedRecord::pool(&owner, &ann, 1).unwrap()).await.unwrap();
/// assert_eq!(b.get(&RecordKey::pool(&ann.id)).await.unwrap().len(), 1);
/// clock.advance(60);
/// assert!(b.get(&RecordKey::pool(&ann.id)).await.unwrap().is_empty()); // expired
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryNetwork {
    table: Arc<Mutex<RecordTable>>,
    clock: SharedClock,
}

impl Default for MemoryNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryNetwork {
    /// A network on the system clock with default limits.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A network on `clock` with default limits.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self::with_limits(clock, TableLimits::new())
    }

    /// A network on `clock` with `limits`.
    pub fn with_limits(clock: SharedClock, limits: TableLimits) -> Self {
        MemoryNetwork {
            table: Arc::new(Mutex::new(RecordTable::new(limits))),
            clock,
        }
    }

    /// A handle for the node whose key is `local`.
    pub fn store(&self, local: PublicKey) -> MemoryStore {
        MemoryStore {
            net: self.clone(),
            local,
        }
    }

    fn table(&self) -> MutexGuard<'_, RecordTable> {
        // A panic while holding the lock cannot leave the table half
        // written (every mutation is a single insert), so keep serving.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One node's handle on a [`MemoryNetwork`].
#[derive(Debug, Clone)]
pub struct MemoryStore {
    net: MemoryNetwork,
    local: PublicKey,
}

impl MemoryStore {
    /// A store on a fresh private network (single-process use).
    pub fn new(local: PublicKey) -> Self {
        MemoryNetwork::new().store(local)
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn put(&self, record: SignedRecord) -> Result<PutReport, StoreError> {
        let now = self.net.clock.now();
        self.net.table().insert(record, now)?;
        Ok(PutReport {
            stored_locally: true,
            peers: 0,
        })
    }

    async fn get(&self, key: &RecordKey) -> Result<Vec<SignedRecord>, StoreError> {
        let now = self.net.clock.now();
        Ok(self.net.table().get(key, now))
    }

    async fn advertise(&self, set: &RecordKey, ttl: Duration) -> Result<(), StoreError> {
        let now = self.net.clock.now();
        self.net
            .table()
            .advertise(set, self.local, now.saturating_add(ttl.as_secs()), now)
    }

    async fn members(&self, set: &RecordKey) -> Result<Vec<PublicKey>, StoreError> {
        let now = self.net.clock.now();
        Ok(self.net.table().members(set, now))
    }

    fn local_key(&self) -> PublicKey {
        self.local
    }
}
