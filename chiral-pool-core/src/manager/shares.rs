//! Publishing accepted shares in signed batches, and reading them back with
//! every share verified again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{ManagerError, PoolManager, Result};
use crate::codec;
use crate::identity::PublicKey;
use crate::ids::PoolId;
use crate::record::{select_best, RecordKey, RecordKind, SignedRecord, MAX_RECORD_BYTES};
use crate::share::{Share, VerifiedShare};
use crate::store::RecordStore;

/// Batch parts per slot are numbered `slot * PARTS_PER_SLOT + part`.
const PARTS_PER_SLOT: u64 = 1_000_000;

/// The payload of a share batch record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareBatch {
    /// The pool.
    pub pool_id: PoolId,
    /// The shares, each with its full proof.
    pub shares: Vec<Share>,
}

/// Shares fetched from the network for a time range, each verified here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharePage {
    /// Verified, deduplicated shares, sorted by (time, hash): the same
    /// order on every node.
    pub shares: Vec<VerifiedShare>,
    /// Shares dropped as invalid.
    pub rejected: usize,
    /// Shares seen more than once (across publishers or batches).
    pub duplicates: usize,
    /// Publishers whose batches were read, sorted.
    pub publishers: Vec<PublicKey>,
}

impl<S: RecordStore> PoolManager<S> {
    /// Validates a share for a tracked pool and queues it for publication;
    /// a full batch is published at once.
    pub async fn submit_share(&self, share: Share) -> Result<VerifiedShare> {
        let pool = share.pool_id;
        let (verified, full) = {
            let mut state = self.state();
            let validator = state
                .validators
                .get_mut(&pool)
                .ok_or(ManagerError::UnknownPool(pool))?;
            let verified = validator.accept(&share)?;
            let pending = state.pending.entry(pool).or_default();
            pending.push(share);
            (verified, pending.len() >= self.config.max_batch_shares)
        };
        if full {
            self.flush_shares(&pool).await?;
        }
        Ok(verified)
    }

    /// Publishes the queued shares of `pool` as signed batches in the
    /// current time slot and advertises this node as a publisher of the
    /// slot. Returns how many shares were published. On failure the shares
    /// stay queued.
    pub async fn flush_shares(&self, pool: &PoolId) -> Result<usize> {
        let shares = std::mem::take(self.state().pending.entry(*pool).or_default());
        if shares.is_empty() {
            return Ok(0);
        }
        let slot_secs = self.config.share_slot.as_secs().max(1);
        let slot = self.now() / slot_secs;
        let mut published = 0;
        for chunk in batches(&shares, self.config.max_batch_shares) {
            if let Err(e) = self.publish_batch(pool, slot, chunk).await {
                // Requeue what was not published.
                let mut state = self.state();
                let pending = state.pending.entry(*pool).or_default();
                let mut rest = shares[published..].to_vec();
                rest.append(pending);
                *pending = rest;
                return Err(e);
            }
            published += chunk.len();
        }
        Ok(published)
    }

    async fn publish_batch(&self, pool: &PoolId, slot: u64, shares: &[Share]) -> Result<()> {
        let part = {
            let mut state = self.state();
            let next = state.parts.entry((*pool, slot)).or_insert(0);
            let part = *next;
            *next += 1;
            // Forget counters of slots long gone.
            state.parts.retain(|(_, s), _| *s + 2 >= slot);
            part
        };
        let me = self.keypair.public();
        let payload = codec::encode(&ShareBatch {
            pool_id: *pool,
            shares: shares.to_vec(),
        })?;
        let record = SignedRecord::sign(
            &self.keypair,
            RecordKind::ShareBatch,
            RecordKey::share_batch(pool, &me, slot * PARTS_PER_SLOT + part),
            payload,
            1,
            self.now() + self.config.share_retention.as_secs(),
        )?;
        self.store.put(record).await?;
        self.store
            .advertise(
                &RecordKey::share_publishers(pool, slot),
                self.config.share_retention,
            )
            .await?;
        Ok(())
    }

    /// Fetches every published batch of `pool` whose slot overlaps
    /// `[from, to]` (unix seconds), verifies every share with this node's
    /// validator for the pool (proof, commitment, target, tip), drops
    /// duplicates, and lowers the standing of publishers of invalid shares.
    /// Publishers below the minimum standing are skipped.
    pub async fn get_shares_for_pool(
        &self,
        pool: &PoolId,
        from: u64,
        to: u64,
    ) -> Result<SharePage> {
        if !self.state().validators.contains_key(pool) {
            return Err(ManagerError::UnknownPool(*pool));
        }
        let slot_secs = self.config.share_slot.as_secs().max(1);
        let slots = (to / slot_secs).saturating_sub(from / slot_secs) + 1;
        let max_slots = self.config.share_retention.as_secs() / slot_secs + 1;
        if to < from || slots > max_slots {
            return Err(ManagerError::RangeTooLong { slots, max_slots });
        }
        let mut page = SharePage::default();
        let mut seen: BTreeSet<[u8; 32]> = BTreeSet::new();
        let mut publishers = BTreeSet::new();
        for slot in from / slot_secs..=to / slot_secs {
            let members = self
                .store
                .members(&RecordKey::share_publishers(pool, slot))
                .await?;
            for publisher in members {
                if self.standing(&publisher) < self.config.min_standing {
                    continue;
                }
                publishers.insert(publisher);
                for part in 0..self.config.max_batches_per_slot {
                    let key =
                        RecordKey::share_batch(pool, &publisher, slot * PARTS_PER_SLOT + part);
                    let candidates = self.store.get(&key).await?;
                    let now = self.now();
                    let own = candidates
                        .iter()
                        .filter(|r| r.publisher() == &publisher && r.key() == &key);
                    let Some(record) = select_best(own, now) else {
                        break;
                    };
                    let batch: ShareBatch = match codec::decode(record.payload(), MAX_RECORD_BYTES)
                    {
                        Ok(b) => b,
                        Err(_) => {
                            self.penalize(&publisher, 1);
                            continue;
                        }
                    };
                    self.verify_batch(pool, &publisher, batch, from, to, &mut seen, &mut page);
                }
            }
        }
        page.publishers = publishers.into_iter().collect();
        page.shares.sort_by_key(|s| (s.time, s.hash));
        Ok(page)
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_batch(
        &self,
        pool: &PoolId,
        publisher: &PublicKey,
        batch: ShareBatch,
        from: u64,
        to: u64,
        seen: &mut BTreeSet<[u8; 32]>,
        page: &mut SharePage,
    ) {
        let mut bad = 0;
        {
            let state = self.state();
            let Some(validator) = state.validators.get(pool) else {
                return;
            };
            for share in &batch.shares {
                match validator.verify(share) {
                    Ok(v) if batch.pool_id == *pool => {
                        let t = v.time as u64;
                        if !seen.insert(v.hash) {
                            page.duplicates += 1;
                        } else if (from..=to).contains(&t) {
                            page.shares.push(v);
                        }
                    }
                    _ => bad += 1,
                }
            }
        }
        if bad > 0 {
            page.rejected += bad;
            self.penalize(publisher, bad as i64);
        }
    }

    fn penalize(&self, publisher: &PublicKey, points: i64) {
        *self.state().standing.entry(*publisher).or_default() -= points;
    }
}

/// Splits shares into batches of at most `max` that each fit in a record.
fn batches(shares: &[Share], max: usize) -> Vec<&[Share]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < shares.len() {
        let mut end = (start + max.max(1)).min(shares.len());
        // Shrink until the encoded batch leaves room for the envelope.
        while end > start + 1 {
            let size: usize = shares[start..end]
                .iter()
                .map(|s| s.to_bytes().map_or(usize::MAX, |b| b.len()))
                .fold(0usize, |a, b| a.saturating_add(b));
            if size + 1024 <= MAX_RECORD_BYTES {
                break;
            }
            end = start + (end - start) / 2;
        }
        out.push(&shares[start..end]);
        start = end;
    }
    out
}
