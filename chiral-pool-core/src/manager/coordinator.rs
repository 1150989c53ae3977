//! Coordinator leases: signed, expiring, renewed; one winner by rule.

use super::{PoolManager, Result};
use crate::codec;
use crate::identity::PublicKey;
use crate::ids::PoolId;
use crate::record::{select_best, CoordinatorLease, RecordKey, RecordKind, SignedRecord};
use crate::store::RecordStore;

/// What this node's lease on a pool looks like after a [`PoolManager::tick_coordinator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// This node coordinates.
    Holder,
    /// Another node coordinates.
    Follower(PublicKey),
    /// Nobody holds a valid lease (the store could not be read).
    Vacant,
}

impl<S: RecordStore> PoolManager<S> {
    /// The current coordinator of `pool`: among valid lease records, the
    /// earliest tenure wins, then the smaller key (see
    /// [`CoordinatorLease`]). `None` when no lease is valid.
    pub async fn find_coordinator(&self, pool: &PoolId) -> Result<Option<PublicKey>> {
        let key = RecordKey::coordinator(pool);
        let candidates = self.store.get(&key).await?;
        let now = self.now();
        Ok(select_best(candidates.iter().filter(|r| r.key() == &key), now).map(|r| *r.publisher()))
    }

    /// Whether this node holds the winning lease of `pool` now.
    pub async fn is_coordinator(&self, pool: &PoolId) -> Result<bool> {
        Ok(self.find_coordinator(pool).await? == Some(self.keypair.public()))
    }

    /// Claims (or renews) the lease of `pool` and reports who won. A claim
    /// is made only when no valid lease exists or when this node holds it;
    /// simultaneous claims are settled by the winner rule, and the loser's
    /// claim is simply not renewed.
    pub async fn become_coordinator(&self, pool: &PoolId) -> Result<LeaseStatus> {
        self.state().resigned.remove(pool);
        self.claim(pool).await
    }

    async fn claim(&self, pool: &PoolId) -> Result<LeaseStatus> {
        let me = self.keypair.public();
        let current = self.find_coordinator(pool).await?;
        match current {
            Some(holder) if holder != me => return Ok(LeaseStatus::Follower(holder)),
            _ => {}
        }
        let now = self.now();
        let (since, seq) = {
            let mut state = self.state();
            let entry = state.leases.entry(*pool).or_insert((now, 0));
            if current.is_none() {
                // A new tenure: any older claim of ours has lapsed.
                entry.0 = now;
            }
            entry.1 += 1;
            *entry
        };
        self.publish_lease(
            pool,
            since,
            seq,
            now + self.config.lease_ttl.as_secs().max(1),
        )
        .await?;
        Ok(match self.find_coordinator(pool).await? {
            Some(holder) if holder == me => LeaseStatus::Holder,
            Some(holder) => LeaseStatus::Follower(holder),
            None => LeaseStatus::Vacant,
        })
    }

    /// Keeps the lease machinery going (call every `lease_ttl / 3`): the
    /// holder renews, and anyone claims a vacant lease, so a dead or
    /// resigned coordinator is replaced within one lease period.
    /// A node that resigned does not claim again until
    /// [`become_coordinator`](Self::become_coordinator) is called.
    pub async fn tick_coordinator(&self, pool: &PoolId) -> Result<LeaseStatus> {
        if self.state().resigned.contains(pool) {
            return Ok(match self.find_coordinator(pool).await? {
                Some(holder) => LeaseStatus::Follower(holder),
                None => LeaseStatus::Vacant,
            });
        }
        self.claim(pool).await
    }

    /// Gives the lease up: publishes a renewal that expires now + 1 s, so
    /// the lease lapses at once and others may claim it.
    pub async fn resign_coordinator(&self, pool: &PoolId) -> Result<()> {
        if !self.is_coordinator(pool).await? {
            return Ok(());
        }
        let now = self.now();
        let (since, seq) = {
            let mut state = self.state();
            let Some(entry) = state.leases.get_mut(pool) else {
                return Ok(());
            };
            entry.1 += 1;
            let out = *entry;
            state.leases.remove(pool);
            state.resigned.insert(*pool);
            out
        };
        self.publish_lease(pool, since, seq, now + 1).await
    }

    /// Signs and stores this node's lease record for `pool`.
    async fn publish_lease(
        &self,
        pool: &PoolId,
        since: u64,
        seq: u64,
        expires_at: u64,
    ) -> Result<()> {
        let lease = CoordinatorLease {
            pool_id: *pool,
            since,
        };
        let record = SignedRecord::sign(
            &self.keypair,
            RecordKind::Coordinator,
            RecordKey::coordinator(pool),
            codec::encode(&lease)?,
            seq,
            expires_at,
        )?;
        self.store.put(record).await?;
        Ok(())
    }
}
