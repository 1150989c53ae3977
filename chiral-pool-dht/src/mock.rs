//! Misbehaving networks on demand, deterministically.
//!
//! - [`MockNetwork`]: named nodes, each with its own replica; a put reaches
//!   every node the putter can reach, a get reads every replica the reader
//!   can reach. Partitions cut links between named nodes and heal later.
//! - [`MockStore`]: wraps any [`RecordStore`] and injects faults from a
//!   seeded [`FaultPlan`]: latency, dropped puts, failing gets, and stale or
//!   forged candidates in get results (which the wrapped store never
//!   verified, so the layer above must).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::record::{RecordKey, SignedRecord};
use chiral_pool_core::store::{PutReport, RecordStore, SharedClock, StoreError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::table::{RecordTable, TableLimits};

#[derive(Debug, Default)]
struct MockInner {
    nodes: BTreeMap<String, RecordTable>,
    cuts: BTreeSet<(String, String)>,
}

impl MockInner {
    fn linked(&self, a: &str, b: &str) -> bool {
        a == b || !self.cuts.contains(&ordered(a, b))
    }

    fn reachable(&self, from: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|n| self.linked(from, n))
            .cloned()
            .collect()
    }
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// A simulated network of named nodes with partitions.
///
/// ```
/// use chiral_pool_dht::MockNetwork;
/// use chiral_pool_core::{identity::Keypair, store::ManualClock};
/// let net = MockNetwork::new(std::sync::Arc::new(ManualClock::new(0)));
/// let a = net.node("a", Keypair::generate().public());
/// let b = net.node("b", Keypair::generate().public());
/// net.partition(&["a"], &["b"]);
/// assert!(!net.is_linked("a", "b"));
/// net.heal();
/// assert!(net.is_linked("a", "b"));
/// ```
#[derive(Debug, Clone)]
pub struct MockNetwork {
    inner: Arc<Mutex<MockInner>>,
    clock: SharedClock,
}

impl MockNetwork {
    /// An empty network on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        MockNetwork {
            inner: Arc::default(),
            clock,
        }
    }

    fn inner(&self) -> MutexGuard<'_, MockInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or reattaches to) the node `name` whose key is `local`.
    pub fn node(&self, name: &str, local: PublicKey) -> MockNode {
        self.inner()
            .nodes
            .entry(name.to_owned())
            .or_insert_with(|| RecordTable::new(TableLimits::new()));
        MockNode {
            net: self.clone(),
            name: name.to_owned(),
            local,
        }
    }

    /// Cuts every link between a node of `left` and a node of `right`.
    pub fn partition(&self, left: &[&str], right: &[&str]) {
        let mut inner = self.inner();
        for a in left {
            for b in right {
                inner.cuts.insert(ordered(a, b));
            }
        }
    }

    /// Cuts `name` off from every other node.
    pub fn isolate(&self, name: &str) {
        let mut inner = self.inner();
        let others: Vec<String> = inner.nodes.keys().filter(|n| *n != name).cloned().collect();
        for o in others {
            inner.cuts.insert(ordered(name, &o));
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.inner().cuts.clear();
    }

    /// Whether `a` and `b` can talk.
    pub fn is_linked(&self, a: &str, b: &str) -> bool {
        self.inner().linked(a, b)
    }

    /// Drops a node and its replica (a node that left for good).
    pub fn remove(&self, name: &str) {
        self.inner().nodes.remove(name);
    }
}

/// One node of a [`MockNetwork`].
#[derive(Debug, Clone)]
pub struct MockNode {
    net: MockNetwork,
    name: String,
    local: PublicKey,
}

impl MockNode {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait]
impl RecordStore for MockNode {
    async fn put(&self, record: SignedRecord) -> Result<PutReport, StoreError> {
        let now = self.net.clock.now();
        record.verify(now)?;
        let mut inner = self.net.inner();
        if !inner.nodes.contains_key(&self.name) {
            return Err(StoreError::Closed);
        }
        let mut report = PutReport::default();
        for peer in inner.reachable(&self.name) {
            if let Some(table) = inner.nodes.get_mut(&peer) {
                let stored = table.insert(record.clone(), now).is_ok();
                if peer == self.name {
                    report.stored_locally = stored;
                } else if stored {
                    report.peers += 1;
                }
            }
        }
        Ok(report)
    }

    async fn get(&self, key: &RecordKey) -> Result<Vec<SignedRecord>, StoreError> {
        let now = self.net.clock.now();
        let inner = self.net.inner();
        if !inner.nodes.contains_key(&self.name) {
            return Err(StoreError::Closed);
        }
        let mut found: Vec<SignedRecord> = Vec::new();
        for peer in inner.reachable(&self.name) {
            if let Some(table) = inner.nodes.get(&peer) {
                for r in table.get(key, now) {
                    if !found.contains(&r) {
                        found.push(r);
                    }
                }
            }
        }
        found.sort_by(|a, b| {
            (a.publisher(), a.seq(), a.signature()).cmp(&(b.publisher(), b.seq(), b.signature()))
        });
        Ok(found)
    }

    async fn advertise(&self, set: &RecordKey, ttl: Duration) -> Result<(), StoreError> {
        let now = self.net.clock.now();
        let mut inner = self.net.inner();
        for peer in inner.reachable(&self.name) {
            if let Some(table) = inner.nodes.get_mut(&peer) {
                table.advertise(set, self.local, now.saturating_add(ttl.as_secs()), now)?;
            }
        }
        Ok(())
    }

    async fn members(&self, set: &RecordKey) -> Result<Vec<PublicKey>, StoreError> {
        let now = self.net.clock.now();
        let inner = self.net.inner();
        let mut all = BTreeSet::new();
        for peer in inner.reachable(&self.name) {
            if let Some(table) = inner.nodes.get(&peer) {
                all.extend(table.members(set, now));
            }
        }
        Ok(all.into_iter().collect())
    }

    fn local_key(&self) -> PublicKey {
        self.local
    }
}

/// Which faults a [`MockStore`] injects, and how often (per mille).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// Seed of the fault generator: the same seed gives the same faults.
    pub seed: u64,
    /// Added delay before each operation (with paused tokio time this
    /// advances virtual time only). Default: none.
    pub latency: Duration,
    /// Puts acknowledged but silently not stored, per mille. Default: 0.
    pub drop_puts: u16,
    /// Gets failing with [`StoreError::Unreachable`], per mille. Default: 0.
    pub fail_gets: u16,
    /// Gets that also return an older record seen before for the key
    /// (a replay), per mille. Default: 0.
    pub stale_candidates: u16,
    /// Gets that also return a forged copy of a candidate (bumped sequence
    /// number, signature left as it was), per mille. Default: 0.
    pub forged_candidates: u16,
}

impl FaultPlan {
    /// No faults, seed 0.
    pub const fn none() -> Self {
        FaultPlan {
            seed: 0,
            latency: Duration::ZERO,
            drop_puts: 0,
            fail_gets: 0,
            stale_candidates: 0,
            forged_candidates: 0,
        }
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self::none()
    }
}

/// Counts of injected faults.
#[derive(Debug, Default)]
pub struct FaultStats {
    /// Puts dropped.
    pub dropped_puts: AtomicU64,
    /// Gets failed.
    pub failed_gets: AtomicU64,
    /// Stale candidates injected.
    pub stale: AtomicU64,
    /// Forged candidates injected.
    pub forged: AtomicU64,
}

/// Most older records remembered per key for replays.
const HISTORY_PER_KEY: usize = 8;
/// Most keys remembered for replays.
const HISTORY_KEYS: usize = 1_024;

/// Wraps a store and injects the faults of a [`FaultPlan`].
#[derive(Debug)]
pub struct MockStore<S> {
    inner: S,
    plan: FaultPlan,
    rng: Mutex<StdRng>,
    history: Mutex<BTreeMap<RecordKey, Vec<SignedRecord>>>,
    stats: Arc<FaultStats>,
}

impl<S: RecordStore> MockStore<S> {
    /// Wraps `inner` with `plan`.
    pub fn new(inner: S, plan: FaultPlan) -> Self {
        MockStore {
            inner,
            rng: Mutex::new(StdRng::seed_from_u64(plan.seed)),
            plan,
            history: Mutex::default(),
            stats: Arc::default(),
        }
    }

    /// Counts of what was injected so far.
    pub fn stats(&self) -> Arc<FaultStats> {
        self.stats.clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn roll(&self, per_mille: u16) -> bool {
        per_mille > 0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen_range(0..1000u16)
                < per_mille
    }

    async fn delay(&self) {
        if !self.plan.latency.is_zero() {
            tokio::time::sleep(self.plan.latency).await;
        }
    }

    fn remember(&self, record: &SignedRecord) {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if !h.contains_key(record.key()) && h.len() >= HISTORY_KEYS {
            return;
        }
        let seen = h.entry(record.key().clone()).or_default();
        if !seen.contains(record) {
            if seen.len() >= HISTORY_PER_KEY {
                seen.remove(0);
            }
            seen.push(record.clone());
        }
    }
}

#[async_trait]
impl<S: RecordStore> RecordStore for MockStore<S> {
    async fn put(&self, record: SignedRecord) -> Result<PutReport, StoreError> {
        self.delay().await;
        self.remember(&record);
        if self.roll(self.plan.drop_puts) {
            self.stats.dropped_puts.fetch_add(1, Ordering::Relaxed);
            return Ok(PutReport {
                stored_locally: true,
                peers: 0,
            });
        }
        self.inner.put(record).await
    }

    async fn get(&self, key: &RecordKey) -> Result<Vec<SignedRecord>, StoreError> {
        self.delay().await;
        if self.roll(self.plan.fail_gets) {
            self.stats.failed_gets.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unreachable("injected get failure".into()));
        }
        let mut found = self.inner.get(key).await?;
        for r in &found {
            self.remember(r);
        }
        if self.roll(self.plan.stale_candidates) {
            let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(old) = h.get(key).and_then(|v| v.first()) {
                self.stats.stale.fetch_add(1, Ordering::Relaxed);
                found.push(old.clone());
            }
        }
        if self.roll(self.plan.forged_candidates) {
            if let Some(victim) = found.first().cloned() {
                self.stats.forged.fetch_add(1, Ordering::Relaxed);
                found.push(forge(&victim));
            }
        }
        Ok(found)
    }

    async fn advertise(&self, set: &RecordKey, ttl: Duration) -> Result<(), StoreError> {
        self.delay().await;
        self.inner.advertise(set, ttl).await
    }

    async fn members(&self, set: &RecordKey) -> Result<Vec<PublicKey>, StoreError> {
        self.delay().await;
        if self.roll(self.plan.fail_gets) {
            self.stats.failed_gets.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unreachable("injected get failure".into()));
        }
        self.inner.members(set).await
    }

    fn local_key(&self) -> PublicKey {
        self.inner.local_key()
    }
}

/// A copy of `record` with a much higher sequence number and the original
/// signature: it decodes fine and would win selection if nobody verified it.
pub fn forge(record: &SignedRecord) -> SignedRecord {
    record.with_seq_unsigned(record.seq().saturating_add(1_000_000))
}
