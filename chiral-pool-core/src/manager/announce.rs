//! Announcing pools and discovering them: by id and as a directory.

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::{ManagerError, PoolManager, Result};
use crate::codec;
use crate::identity::PublicKey;
use crate::ids::PoolId;
use crate::pool::PoolAnnouncement;
use crate::record::{select_best, RecordKey, RecordKind, SignedRecord, MAX_RECORD_BYTES};
use crate::store::{RecordStore, StoreError};

/// Most pools one publisher lists in its directory entry.
pub const MAX_POOLS_PER_PUBLISHER: usize = 1024;

/// Where a discovered announcement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the network now.
    Network,
    /// The network was unreachable; this is the last copy seen.
    Cache,
}

/// A pool found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPool {
    /// The verified announcement.
    pub announcement: PoolAnnouncement,
    /// Its record's sequence number.
    pub seq: u64,
    /// Where it came from.
    pub source: Source,
}

/// The payload of a directory entry: the pools one publisher announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DirectoryEntry {
    pools: Vec<PoolId>,
}

impl<S: RecordStore> PoolManager<S> {
    /// Signs and publishes a pool announcement owned by this node's key,
    /// lists it in this node's directory entry and advertises the entry.
    /// `created_at`/`expires_at` are set from the clock and the configured
    /// TTL; announcing again (an update or a republish) bumps the sequence
    /// number.
    pub async fn announce_pool(&self, mut announcement: PoolAnnouncement) -> Result<PoolId> {
        if announcement.owner != self.keypair.public() {
            return Err(ManagerError::NotOwner);
        }
        let now = self.now();
        announcement.id = announcement
            .chain
            .pool_id(&announcement.owner, &announcement.name);
        announcement.created_at = now;
        announcement.expires_at = now + self.config.announce_ttl.as_secs();
        let id = announcement.id;
        // After a restart our own memory is empty: continue after the
        // highest sequence number the network (or our durable store) holds.
        let published = match self.store.get(&RecordKey::pool(&id)).await {
            Ok(candidates) => candidates
                .iter()
                .filter(|r| r.publisher() == &self.keypair.public())
                .map(SignedRecord::seq)
                .max()
                .unwrap_or(0),
            Err(_) => 0,
        };
        let seq = {
            let state = self.state();
            let last = state.announced.get(&id).map_or(0, |(_, s)| *s);
            let seen = state.cache.get(&id).map_or(0, |(_, s)| *s);
            last.max(seen).max(published) + 1
        };
        let record = SignedRecord::pool(&self.keypair, &announcement, seq)?;
        self.store.put(record).await?;
        {
            let mut state = self.state();
            state.announced.insert(id, (announcement.clone(), seq));
            state.cache.insert(id, (announcement, seq));
        }
        self.publish_directory_entry().await?;
        Ok(id)
    }

    /// Republishes every own announcement whose remaining lifetime is below
    /// a third of the TTL (call periodically). Returns how many were
    /// republished.
    pub async fn republish(&self) -> Result<usize> {
        let now = self.now();
        let margin = self.config.announce_ttl.as_secs() / 3;
        let due: Vec<PoolAnnouncement> = self
            .state()
            .announced
            .values()
            .filter(|(a, _)| a.expires_at.saturating_sub(now) < margin)
            .map(|(a, _)| a.clone())
            .collect();
        for ann in &due {
            self.announce_pool(ann.clone()).await?;
        }
        Ok(due.len())
    }

    async fn publish_directory_entry(&self) -> Result<()> {
        let me = self.keypair.public();
        let key = RecordKey::directory_entry(&me);
        let published = match self.store.get(&key).await {
            Ok(c) => c
                .iter()
                .filter(|r| r.publisher() == &me)
                .map(SignedRecord::seq)
                .max()
                .unwrap_or(0),
            Err(_) => 0,
        };
        let (pools, seq) = {
            let mut state = self.state();
            state.directory_seq = state.directory_seq.max(published) + 1;
            let pools: Vec<PoolId> = state
                .announced
                .keys()
                .take(MAX_POOLS_PER_PUBLISHER)
                .copied()
                .collect();
            (pools, state.directory_seq)
        };
        let record = SignedRecord::sign(
            &self.keypair,
            RecordKind::Directory,
            key,
            codec::encode(&DirectoryEntry { pools })?,
            seq,
            self.now() + self.config.announce_ttl.as_secs(),
        )?;
        self.store.put(record).await?;
        self.store
            .advertise(&RecordKey::directory_set(), self.config.announce_ttl)
            .await?;
        Ok(())
    }

    /// The pool `id` as the network has it now: the valid record with the
    /// highest sequence number. If the network cannot be reached, the
    /// cached copy (if any) with [`Source::Cache`].
    pub async fn discover_pool(&self, id: &PoolId) -> Result<Option<DiscoveredPool>> {
        match self.store.get(&RecordKey::pool(id)).await {
            Ok(candidates) => Ok(self.accept_pool(id, &candidates)),
            Err(e @ (StoreError::Timeout | StoreError::Unreachable(_))) => {
                let now = self.now();
                let cached = self.state().cache.get(id).cloned();
                match cached {
                    Some((a, seq)) if a.expires_at > now => Ok(Some(DiscoveredPool {
                        announcement: a,
                        seq,
                        source: Source::Cache,
                    })),
                    _ => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Verifies candidates, picks the winner, updates the cache if newer.
    fn accept_pool(&self, id: &PoolId, candidates: &[SignedRecord]) -> Option<DiscoveredPool> {
        let now = self.now();
        let key = RecordKey::pool(id);
        let best = select_best(candidates.iter().filter(|r| r.key() == &key), now)?;
        let announcement = best.pool_announcement().ok()?;
        let seq = best.seq();
        let mut state = self.state();
        let cached_seq = state.cache.get(id).map_or(0, |(_, s)| *s);
        if seq >= cached_seq {
            state.cache.insert(*id, (announcement.clone(), seq));
        }
        Some(DiscoveredPool {
            announcement,
            seq,
            source: Source::Network,
        })
    }

    /// Every live pool in the network: the members of the directory set,
    /// each member's signed directory entry, each listed pool's best
    /// record. Expired or invalid announcements never appear. Sorted by
    /// pool id.
    pub async fn discover_pools(&self) -> Result<Vec<DiscoveredPool>> {
        let publishers = self.store.members(&RecordKey::directory_set()).await?;
        let concurrency = self.config.lookup_concurrency.max(1);
        let lists: Vec<Vec<PoolId>> = stream::iter(publishers)
            .map(|p| async move { self.directory_of(&p).await })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut ids: Vec<PoolId> = lists.into_iter().flatten().collect();
        ids.sort();
        ids.dedup();
        let found: Vec<Option<DiscoveredPool>> = stream::iter(ids)
            .map(|id| async move { self.discover_pool(&id).await.ok().flatten() })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut pools: Vec<DiscoveredPool> = found.into_iter().flatten().collect();
        pools.sort_by_key(|p| p.announcement.id);
        Ok(pools)
    }

    /// The pool ids `publisher` lists; empty when its entry is missing or
    /// invalid.
    async fn directory_of(&self, publisher: &PublicKey) -> Vec<PoolId> {
        let key = RecordKey::directory_entry(publisher);
        let Ok(candidates) = self.store.get(&key).await else {
            return Vec::new();
        };
        let now = self.now();
        let mine = candidates.iter().filter(|r| r.publisher() == publisher);
        select_best(mine, now)
            .and_then(|r| codec::decode::<DirectoryEntry>(r.payload(), MAX_RECORD_BYTES).ok())
            .map(|e| e.pools.into_iter().take(MAX_POOLS_PER_PUBLISHER).collect())
            .unwrap_or_default()
    }

    /// The locally known pools (own and discovered), unexpired, sorted by
    /// id. A cache only: call [`discover_pools`](Self::discover_pools) to
    /// refresh it from the network.
    pub fn list_local_pools(&self) -> Vec<DiscoveredPool> {
        let now = self.now();
        self.state()
            .cache
            .values()
            .filter(|(a, _)| a.expires_at > now)
            .map(|(a, seq)| DiscoveredPool {
                announcement: a.clone(),
                seq: *seq,
                source: Source::Cache,
            })
            .collect()
    }
}
