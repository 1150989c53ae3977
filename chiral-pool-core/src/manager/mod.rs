//! The pool manager: announce, discover, coordinate and share work over any
//! [`RecordStore`].
//!
//! [`PoolManager`] is generic over the store, so the same code runs on the
//! memory, mock and Kademlia backends. It never trusts the store: every
//! record it reads is verified again, every share in a fetched batch is
//! re-validated with a [`ShareValidator`], and publishers of invalid shares
//! lose standing.

mod announce;
mod publish;
mod shares;
mod stats;
mod verdicts;

pub use announce::{DiscoveredPool, Source};
pub use shares::{ShareBatch, SharePage};
pub use stats::{MinerStats, PoolStats};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::identity::{Keypair, PublicKey};
use crate::ids::PoolId;
use crate::pool::{PoolAnnouncement, PoolError};
use crate::pow::{CompactTarget, Hash256};
use crate::record::RecordError;
use crate::share::{ShareError, ShareValidator, ShareValidatorConfig};
use crate::store::{RecordStore, SharedClock, StoreError};
use verdicts::{Standing, Verdicts};

/// Settings of a [`PoolManager`]; each default is on its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagerConfig {
    /// Lifetime of announcements and directory entries. Default: 1 h.
    pub announce_ttl: Duration,
    /// Width of a share time slot; batches are keyed by slot. Whole
    /// seconds, at least one. Default: 60 s.
    pub share_slot: Duration,
    /// How long share batches stay in the store. Default: 24 h.
    pub share_retention: Duration,
    /// Most shares in one published batch (a batch must also fit in one
    /// record). Default: 96.
    pub max_batch_shares: usize,
    /// Most batches read per publisher and slot. Default: 64.
    pub max_batches_per_slot: u64,
    /// Standing below which a publisher's batches are ignored; each
    /// invalid share costs one point, each valid share and each
    /// `share_slot` of time gives one back (up to 0). Shares on a tip this
    /// node does not know yet cost nothing. Default: -10.
    pub min_standing: i64,
    /// Concurrent store lookups while discovering. Default: 16.
    pub lookup_concurrency: usize,
}

impl ManagerConfig {
    /// The documented defaults.
    pub const fn new() -> Self {
        ManagerConfig {
            announce_ttl: Duration::from_secs(3600),
            share_slot: Duration::from_secs(60),
            share_retention: Duration::from_secs(24 * 3600),
            max_batch_shares: 96,
            max_batches_per_slot: 64,
            min_standing: -10,
            lookup_concurrency: 16,
        }
    }
}

impl ManagerConfig {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<()> {
        let whole_secs = |field, d: Duration| {
            if d.subsec_nanos() != 0 || d.as_secs() == 0 {
                Err(ManagerError::Config {
                    field,
                    reason: "must be a whole number of seconds, at least one",
                })
            } else {
                Ok(())
            }
        };
        whole_secs("share_slot", self.share_slot)?;
        whole_secs("announce_ttl", self.announce_ttl)?;
        whole_secs("share_retention", self.share_retention)?;
        // A slot of zero batches would leave no slot a batch fits in.
        for (field, value) in [
            ("max_batch_shares", self.max_batch_shares as u64),
            ("max_batches_per_slot", self.max_batches_per_slot),
        ] {
            if value == 0 {
                return Err(ManagerError::Config {
                    field,
                    reason: "must be above zero",
                });
            }
        }
        Ok(())
    }
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Errors of pool manager operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A record could not be built or read.
    #[error("record: {0}")]
    Record(#[from] RecordError),
    /// A payload could not be encoded.
    #[error("codec: {0}")]
    Codec(#[from] crate::codec::CodecError),
    /// An announcement is invalid.
    #[error("pool: {0}")]
    Pool(#[from] PoolError),
    /// A share was rejected.
    #[error("share: {0}")]
    Share(#[from] ShareError),
    /// The manager's key is not the store's key, so set memberships and
    /// signed records would name different nodes.
    #[error("manager key differs from the store's local key")]
    KeyMismatch,
    /// The pool is not tracked by this manager (call `track_pool`).
    #[error("pool {0} is not tracked")]
    UnknownPool(PoolId),
    /// A share query spans more slots than shares are retained for (or
    /// ends before it starts).
    #[error("time range covers {slots} slots, at most {max_slots} are kept")]
    RangeTooLong {
        /// Slots asked for.
        slots: u64,
        /// Slots retained.
        max_slots: u64,
    },
    /// Only the owner of a pool can announce it.
    #[error("only the owner's key can announce this pool")]
    NotOwner,
    /// A [`ManagerConfig`] field is out of range.
    #[error("manager config: {field} {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Result alias of the manager.
pub type Result<T, E = ManagerError> = std::result::Result<T, E>;

#[derive(Debug, Default)]
struct State {
    /// Our own announcements and their sequence numbers.
    announced: BTreeMap<PoolId, (PoolAnnouncement, u64)>,
    /// Every announcement seen, for offline use.
    cache: BTreeMap<PoolId, (PoolAnnouncement, u64)>,
    /// Sequence number of our directory entry.
    directory_seq: u64,
    /// Validators of tracked pools (with the duplicate memory of
    /// `submit_share`).
    validators: HashMap<PoolId, ShareValidator>,
    /// Their copies without memory, replaced on each new tip: shares are
    /// hashed against these outside the lock.
    verifiers: HashMap<PoolId, Arc<ShareValidator>>,
    /// Accepted shares not yet published, per pool.
    pending: BTreeMap<PoolId, Vec<publish::Pending>>,
    /// Next batch part per (pool, slot).
    parts: BTreeMap<(PoolId, u64), u64>,
    /// Sequence number of the last batch published.
    batch_seq: u64,
    /// Standing of share publishers.
    standing: Standing,
    /// Verdicts on batches read or published, by record signature.
    verdicts: Verdicts,
}

/// The decentralized pool's brain over a [`RecordStore`].
///
/// ```
/// # futures::executor::block_on(async {
/// use std::sync::Arc;
/// use chiral_pool_core::{identity::Keypair, manager::*, pool::PoolAnnouncement, store::*};
/// # use chiral_pool_core::{record::*, identity::PublicKey};
/// # use std::sync::Mutex; use std::collections::BTreeMap;
/// # // A tiny store for the example; real code uses chiral-pool-dht.
/// # struct Tiny(Mutex<BTreeMap<RecordKey, SignedRecord>>, PublicKey);
/// # #[async_trait::async_trait] impl RecordStore for Tiny {
/// #   async fn put(&self, r: SignedRecord) -> Result<PutReport, StoreError> { self.0.lock().unwrap().insert(r.key().clone(), r); Ok(PutReport::default()) }
/// #   async fn get(&self, k: &RecordKey) -> Result<Vec<SignedRecord>, StoreError> { Ok(self.0.lock().unwrap().get(k).cloned().into_iter().collect()) }
/// #   async fn advertise(&self, _: &RecordKey, _: std::time::Duration) -> Result<(), StoreError> { Ok(()) }
/// #   async fn members(&self, _: &RecordKey) -> Result<Vec<PublicKey>, StoreError> { Ok(vec![self.1]) }
/// #   fn local_key(&self) -> PublicKey { self.1 }
/// # }
/// let key = Keypair::from_secret_bytes([1; 32]);
/// let clock = ManualClock::new(1_000);
/// let store = Tiny(Default::default(), key.public());
/// let manager = PoolManager::new(key.clone(), store, Arc::new(clock), ManagerConfig::new()).unwrap();
/// let ann = PoolAnnouncement::new(key.public(), "alpha", "stratum+tcp://127.0.0.1:3333", 0, 0);
/// let id = manager.announce_pool(ann).await.unwrap();
/// let found = manager.discover_pool(&id).await.unwrap().unwrap();
/// assert_eq!(found.announcement.name, "alpha");
/// # });
/// ```
#[derive(Debug)]
pub struct PoolManager<S> {
    keypair: Keypair,
    store: S,
    clock: SharedClock,
    config: ManagerConfig,
    state: Mutex<State>,
    /// Held across a flush: one flush at a time.
    publishing: tokio::sync::Mutex<()>,
}

impl<S: RecordStore> PoolManager<S> {
    /// A manager signing with `keypair` over `store`, whose local key must
    /// be the same key; `config` out of range is an error naming the field.
    pub fn new(
        keypair: Keypair,
        store: S,
        clock: SharedClock,
        config: ManagerConfig,
    ) -> Result<Self> {
        config.check()?;
        if store.local_key() != keypair.public() {
            return Err(ManagerError::KeyMismatch);
        }
        Ok(PoolManager {
            keypair,
            store,
            clock,
            config,
            state: Mutex::default(),
            publishing: tokio::sync::Mutex::new(()),
        })
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// This node's public key.
    pub fn local_key(&self) -> PublicKey {
        self.keypair.public()
    }

    /// The settings.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    fn now(&self) -> u64 {
        self.clock.now()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // State updates are single assignments; a panic elsewhere cannot
        // leave them half done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts validating shares for `pool` with `config` (a pool tracked
    /// already keeps its validator).
    pub fn track_pool(&self, pool: PoolId, config: ShareValidatorConfig) {
        let mut state = self.state();
        if state.validators.contains_key(&pool) {
            return;
        }
        let validator = ShareValidator::new(pool, config);
        state
            .verifiers
            .insert(pool, Arc::new(validator.without_memory()));
        state.validators.insert(pool, validator);
    }

    /// Tells every tracked pool's validator about a new chain tip.
    pub fn add_tip(&self, prev_hash: Hash256, bits: CompactTarget) -> Result<()> {
        let mut guard = self.state();
        let state = &mut *guard;
        for (pool, v) in state.validators.iter_mut() {
            if v.knows_tip(&prev_hash) {
                continue;
            }
            v.add_tip(prev_hash, bits)?;
            state.verifiers.insert(*pool, Arc::new(v.without_memory()));
        }
        Ok(())
    }

    /// The verifier of a tracked pool: its validator's tips, no memory.
    fn verifier(&self, pool: &PoolId) -> Result<Arc<ShareValidator>> {
        self.state()
            .verifiers
            .get(pool)
            .cloned()
            .ok_or(ManagerError::UnknownPool(*pool))
    }

    /// The standing of a share publisher now (0 when unknown or
    /// recovered; never above 0).
    pub fn standing(&self, publisher: &PublicKey) -> i64 {
        let recovery = self.config.share_slot.as_secs().max(1);
        self.state().standing.of(publisher, self.now(), recovery)
    }
}
