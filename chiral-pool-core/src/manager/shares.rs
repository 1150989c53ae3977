//! Publishing accepted shares in signed batches, and reading them back with
//! every share verified, once per batch and node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::verdicts::BatchVerdict;
use super::{ManagerError, PoolManager, Result};
use crate::codec;
use crate::identity::PublicKey;
use crate::ids::PoolId;
use crate::record::{select_best, RecordKey, RecordKind, SignedRecord, MAX_RECORD_BYTES};
use crate::share::{Share, ShareError, ShareValidator, VerifiedShare};
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
    /// Shares dropped as invalid: their proof, commitment or target does
    /// not check out, and never will.
    pub rejected: usize,
    /// Shares on a block this node does not know (yet): not counted and
    /// not held against their publisher; read again once the tip is known.
    pub pending: usize,
    /// Shares seen more than once (across publishers or batches).
    pub duplicates: usize,
    /// Publishers whose batches were read, sorted.
    pub publishers: Vec<PublicKey>,
}

impl<S: RecordStore> PoolManager<S> {
    /// Validates a share for a tracked pool (remembering it, so a second
    /// submit is a duplicate) and queues it for publication; a full batch
    /// is published at once.
    pub async fn submit_share(&self, share: Share) -> Result<VerifiedShare> {
        let pool = share.pool_id;
        let verified = {
            let mut state = self.state();
            let validator = state
                .validators
                .get_mut(&pool)
                .ok_or(ManagerError::UnknownPool(pool))?;
            validator.accept(&share)?
        };
        self.queue_verified(share, verified.clone()).await?;
        Ok(verified)
    }

    /// Queues a share this node has already verified and deduplicated
    /// (its Stratum server's validator made `verified`) for publication,
    /// without verifying it again: one verification per share and node.
    /// The verdict is kept with the batch, so reading the batch back costs
    /// no second verification either. A full batch is published at once.
    pub async fn queue_verified(&self, share: Share, verified: VerifiedShare) -> Result<()> {
        let pool = share.pool_id;
        if verified.pool_id != pool {
            return Err(ShareError::WrongPool.into());
        }
        let full = {
            let mut state = self.state();
            if !state.validators.contains_key(&pool) {
                return Err(ManagerError::UnknownPool(pool));
            }
            let pending = state.pending.entry(pool).or_default();
            pending.push((share, Some(verified)));
            pending.len() >= self.config.max_batch_shares
        };
        if full {
            self.flush_shares(&pool).await?;
        }
        Ok(())
    }

    /// Publishes the queued shares of `pool` as signed batches in the
    /// current time slot and advertises this node as a publisher of the
    /// slot. Returns how many shares were published. On failure the shares
    /// stay queued.
    pub async fn flush_shares(&self, pool: &PoolId) -> Result<usize> {
        let shares = std::mem::take(self.state().pending.entry(*pool).or_default());
        let slot = self.now() / self.slot_secs();
        self.publish_in_slot(pool, slot, shares).await
    }

    /// Publishes shares accepted before a restart (read back from a
    /// journal) in the slots of their header times, where readers look for
    /// them, instead of all in the current slot (which readers read only
    /// `max_batches_per_slot` batches of). Returns how many were published.
    /// Their batches are verified when read, like any other.
    pub async fn publish_restored(&self, pool: &PoolId, shares: Vec<Share>) -> Result<usize> {
        if !self.state().validators.contains_key(pool) {
            return Err(ManagerError::UnknownPool(*pool));
        }
        let slot_secs = self.slot_secs();
        let mut by_slot: BTreeMap<u64, Vec<(Share, Option<VerifiedShare>)>> = BTreeMap::new();
        for share in shares {
            let slot = u64::from(share.header.time()) / slot_secs;
            by_slot.entry(slot).or_default().push((share, None));
        }
        let mut published = 0;
        for (slot, shares) in by_slot {
            published += self.publish_in_slot(pool, slot, shares).await?;
        }
        Ok(published)
    }

    fn slot_secs(&self) -> u64 {
        self.config.share_slot.as_secs().max(1)
    }

    /// Publishes `shares` as batches in `slot`; on failure what was not
    /// published is queued again for the next flush.
    async fn publish_in_slot(
        &self,
        pool: &PoolId,
        slot: u64,
        shares: Vec<(Share, Option<VerifiedShare>)>,
    ) -> Result<usize> {
        let mut published = 0;
        for chunk in batches(&shares, self.config.max_batch_shares) {
            if let Err(e) = self.publish_batch(pool, slot, chunk).await {
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

    async fn publish_batch(
        &self,
        pool: &PoolId,
        slot: u64,
        shares: &[(Share, Option<VerifiedShare>)],
    ) -> Result<()> {
        let now = self.now();
        let part = {
            let mut state = self.state();
            let next = state.parts.entry((*pool, slot)).or_insert(0);
            let part = *next;
            *next += 1;
            // Forget counters of slots long gone.
            let current = now / self.slot_secs();
            state
                .parts
                .retain(|(_, s), _| *s + 2 >= current || *s == slot);
            part
        };
        let me = self.keypair.public();
        let payload = codec::encode(&ShareBatch {
            pool_id: *pool,
            shares: shares.iter().map(|(s, _)| s.clone()).collect(),
        })?;
        // The sequence number is the time of publication, so a batch a
        // restarted node publishes again under the same key (its part
        // counters start over) replaces the one from before the restart.
        let record = SignedRecord::sign(
            &self.keypair,
            RecordKind::ShareBatch,
            RecordKey::share_batch(pool, &me, slot * PARTS_PER_SLOT + part),
            payload,
            now.max(1),
            now + self.config.share_retention.as_secs(),
        )?;
        // Our own verdicts travel with our own batch: reading it back
        // verifies nothing again.
        let verified: Option<Vec<VerifiedShare>> = shares.iter().map(|(_, v)| v.clone()).collect();
        if let Some(verified) = verified {
            self.state()
                .verdicts
                .insert(*record.signature(), BatchVerdict::of_own(verified));
        }
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
    /// validator for the pool (proof, commitment, target, tip) once per
    /// batch (a verdict is kept for batches read again), and drops
    /// duplicates. Invalid shares lower their publisher's standing and
    /// valid ones raise it back; shares on an unknown tip are "not yet"
    /// (counted in [`SharePage::pending`], read again later, held against
    /// no one). Publishers below the minimum standing are skipped until
    /// their standing recovers with time.
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
        // Hashing happens outside the manager's lock, on a copy of the
        // validator's tips taken once per read.
        let validator = match self.state().validators.get(pool) {
            Some(v) => v.without_memory(),
            None => return Err(ManagerError::UnknownPool(*pool)),
        };
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
                    let verdict = self.verdict(pool, &validator, record);
                    page.rejected += verdict.invalid;
                    page.pending += verdict.not_yet;
                    for v in &verdict.shares {
                        if !seen.insert(v.hash) {
                            page.duplicates += 1;
                        } else if (from..=to).contains(&u64::from(v.time)) {
                            page.shares.push(v.clone());
                        }
                    }
                }
            }
        }
        page.publishers = publishers.into_iter().collect();
        page.shares.sort_by_key(|s| (s.time, s.hash));
        Ok(page)
    }

    /// The verdict on one batch record: the kept one if this node judged
    /// the same record before and nothing in it was waiting for a tip,
    /// else a fresh one. The publisher's standing moves by what changed
    /// since the last verdict, so reading a batch again never counts twice.
    fn verdict(
        &self,
        pool: &PoolId,
        validator: &ShareValidator,
        record: &SignedRecord,
    ) -> Arc<BatchVerdict> {
        let signature = *record.signature();
        let before = self.state().verdicts.get(&signature);
        if let Some(kept) = &before {
            if kept.not_yet == 0 {
                return kept.clone();
            }
        }
        let verdict = match codec::decode::<ShareBatch>(record.payload(), MAX_RECORD_BYTES) {
            Ok(batch) if batch.pool_id == *pool => BatchVerdict::judge(validator, &batch.shares),
            // A batch that does not decode, or names another pool, counts
            // as one invalid share.
            _ => BatchVerdict::invalid(1),
        };
        let verdict = Arc::new(verdict);
        let now = self.now();
        let mut state = self.state();
        let (valid_before, invalid_before) = before
            .as_ref()
            .map_or((0, 0), |b| (b.shares.len(), b.invalid));
        let recovery = self.slot_secs();
        state.standing.adjust(
            record.publisher(),
            verdict.shares.len().saturating_sub(valid_before) as i64
                - verdict.invalid.saturating_sub(invalid_before) as i64,
            now,
            recovery,
        );
        state.verdicts.insert_arc(signature, verdict.clone());
        verdict
    }
}

/// Splits shares into batches of at most `max` that each fit in a record.
fn batches<T>(shares: &[(Share, T)], max: usize) -> Vec<&[(Share, T)]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < shares.len() {
        let mut end = (start + max.max(1)).min(shares.len());
        // Shrink until the encoded batch leaves room for the envelope.
        while end > start + 1 {
            let size: usize = shares[start..end]
                .iter()
                .map(|(s, _)| s.to_bytes().map_or(usize::MAX, |b| b.len()))
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
