//! Publishing accepted shares in signed batches, one slot at a time.
//!
//! A share waits in the pool's queue with this node's verdict (when it has
//! one) and the slot it belongs to (the current slot at the next flush, or
//! for shares replayed from a journal the slot of their own time). A flush
//! publishes every waiting share; what a failed put leaves unpublished
//! waits again with its slot, so a retry puts it where readers look.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::verdicts::BatchVerdict;
use super::{ManagerError, PoolManager, Result};
use crate::codec;
use crate::ids::PoolId;
use crate::pow::sha256d;
use crate::record::{RecordKey, RecordKind, SignedRecord, MAX_RECORD_BYTES};
use crate::share::{Share, ShareError, VerifiedShare};
use crate::store::{RecordStore, StoreError};

use super::shares::ShareBatch;

/// Batch parts per slot are numbered `slot * PARTS_PER_SLOT + part`.
pub(super) const PARTS_PER_SLOT: u64 = 1_000_000;

/// Bytes a batch leaves for the record envelope around it (kind, key,
/// publisher, sequence, expiry, signature).
const ENVELOPE_ALLOWANCE: usize = 1_024;

/// A share waiting for publication.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub share: Share,
    /// This node's verdict, kept with the batch so reading it back
    /// verifies nothing again; none for shares replayed from a journal.
    pub verdict: Option<VerifiedShare>,
    /// The slot it goes to; none: the current slot at the flush.
    pub slot: Option<u64>,
}

impl<S: RecordStore> PoolManager<S> {
    /// Validates a share for a tracked pool (remembering it, so a second
    /// submit is a duplicate) and queues it for publication; a full batch
    /// is published at once. The hashing runs outside the manager's lock.
    pub async fn submit_share(&self, share: Share) -> Result<VerifiedShare> {
        let pool = share.pool_id;
        let verifier = self.verifier(&pool)?;
        let verified = verifier.verify(&share)?;
        self.state()
            .validators
            .get_mut(&pool)
            .ok_or(ManagerError::UnknownPool(pool))?
            .remember(&verified)?;
        if self.queue(share, Some(verified.clone()))? {
            self.flush_shares(&pool).await?;
        }
        Ok(verified)
    }

    /// Queues a share this node has already verified and deduplicated
    /// (its Stratum server's validator made `verified`) for publication,
    /// without verifying it again: one verification per share and node.
    /// The verdict must be the share's (same header hash, pool and payout
    /// id); it is kept with the batch, so reading the batch back costs no
    /// second verification either. Returns whether a full batch is
    /// waiting (call [`flush_shares`](Self::flush_shares)).
    pub fn queue_verified(&self, share: Share, verified: VerifiedShare) -> Result<bool> {
        if verified.pool_id != share.pool_id
            || verified.payout_id != share.payout_id
            || verified.hash != sha256d(&share.header.to_bytes())
        {
            return Err(ShareError::VerdictMismatch.into());
        }
        self.queue(share, Some(verified))
    }

    /// Queues shares accepted before a restart (read back from a journal)
    /// for the slots of their header times, where readers look for them,
    /// instead of all in the current slot (of which readers read only
    /// `max_batches_per_slot` batches), and publishes them. Returns how
    /// many were published; on failure the rest stay queued for their
    /// slots and go out with the next flush. Their batches are verified
    /// when read, like any other.
    pub async fn publish_restored(&self, pool: &PoolId, shares: Vec<Share>) -> Result<usize> {
        let slot_secs = self.slot_secs();
        {
            let mut state = self.state();
            if !state.validators.contains_key(pool) {
                return Err(ManagerError::UnknownPool(*pool));
            }
            let queue = state.pending.entry(*pool).or_default();
            for share in shares {
                if share.pool_id != *pool {
                    return Err(ShareError::WrongPool.into());
                }
                let slot = u64::from(share.header.time()) / slot_secs;
                queue.push(Pending {
                    share,
                    verdict: None,
                    slot: Some(slot),
                });
            }
        }
        self.flush_shares(pool).await
    }

    /// Publishes every queued share of `pool` as signed batches, each in
    /// its slot (the current one unless it has its own), and advertises
    /// this node as a publisher of each slot. Returns how many shares were
    /// published. A failed put does not stop the other slots; what it left
    /// unpublished stays queued for its slot, and the first error is
    /// returned.
    pub async fn flush_shares(&self, pool: &PoolId) -> Result<usize> {
        // One flush at a time: part numbers are taken only once a put has
        // succeeded, so a failed put leaves no gap for readers to stop at.
        let _publishing = self.publishing.lock().await;
        let waiting = std::mem::take(self.state().pending.entry(*pool).or_default());
        let current = self.now() / self.slot_secs();
        let mut by_slot: BTreeMap<u64, Vec<Pending>> = BTreeMap::new();
        for p in waiting {
            by_slot
                .entry(p.slot.unwrap_or(current))
                .or_default()
                .push(p);
        }
        // Forget the part counters of slots nothing is published to any
        // more (older than the last two and than every slot waiting now).
        let oldest = by_slot
            .keys()
            .next()
            .copied()
            .unwrap_or(current)
            .min(current.saturating_sub(2));
        self.state()
            .parts
            .retain(|(p, s), _| p != pool || *s >= oldest);
        let mut published = 0;
        let mut first_error = None;
        for (slot, shares) in by_slot {
            let total = shares.len();
            let Err((done, error)) = self.publish_in_slot(pool, slot, &shares).await else {
                published += total;
                continue;
            };
            published += done;
            let mut requeued: Vec<Pending> = shares
                .into_iter()
                .skip(done)
                .map(|p| Pending {
                    slot: Some(slot),
                    ..p
                })
                .collect();
            let mut state = self.state();
            let queue = state.pending.entry(*pool).or_default();
            requeued.append(queue);
            *queue = requeued;
            first_error.get_or_insert(error);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(published),
        }
    }

    /// Queues one share; returns whether a full batch is waiting.
    fn queue(&self, share: Share, verdict: Option<VerifiedShare>) -> Result<bool> {
        let pool = share.pool_id;
        let mut state = self.state();
        if !state.validators.contains_key(&pool) {
            return Err(ManagerError::UnknownPool(pool));
        }
        let queue = state.pending.entry(pool).or_default();
        queue.push(Pending {
            share,
            verdict,
            slot: None,
        });
        Ok(queue.len() >= self.config.max_batch_shares)
    }

    pub(super) fn slot_secs(&self) -> u64 {
        // `ManagerConfig::check` refuses slots under a second.
        self.config.share_slot.as_secs()
    }

    /// Publishes `shares` as batches in `slot` (or, once a slot holds the
    /// `max_batches_per_slot` batches readers read, the next one). On an
    /// error, says how many were published before it.
    async fn publish_in_slot(
        &self,
        pool: &PoolId,
        slot: u64,
        shares: &[Pending],
    ) -> std::result::Result<(), (usize, ManagerError)> {
        let mut published = 0;
        for chunk in batches(shares, self.config.max_batch_shares) {
            if let Err(e) = self.publish_batch(pool, slot, chunk).await {
                return Err((published, e));
            }
            published += chunk.len();
        }
        Ok(())
    }

    async fn publish_batch(&self, pool: &PoolId, slot: u64, shares: &[Pending]) -> Result<()> {
        let now = self.now();
        let (slot, part, seq) = {
            let mut state = self.state();
            // A full slot spills into the next: readers read only the
            // first `max_batches_per_slot` parts of each.
            let mut slot = slot;
            while state.parts.get(&(*pool, slot)).copied().unwrap_or(0)
                >= self.config.max_batches_per_slot
            {
                slot += 1;
            }
            let part = state.parts.get(&(*pool, slot)).copied().unwrap_or(0);
            // Sequence numbers only grow, and start from the time, so a
            // batch a restarted node publishes again under a key it used
            // before (its part counters start over) replaces the old one.
            let seq = now.max(state.batch_seq + 1);
            state.batch_seq = seq;
            (slot, part, seq)
        };
        let me = self.keypair.public();
        let payload = codec::encode(&ShareBatch {
            pool_id: *pool,
            shares: shares.iter().map(|p| p.share.clone()).collect(),
        })?;
        let record = SignedRecord::sign(
            &self.keypair,
            RecordKind::ShareBatch,
            RecordKey::share_batch(pool, &me, slot * PARTS_PER_SLOT + part),
            payload,
            seq,
            now + self.config.share_retention.as_secs(),
        )?;
        let signature = *record.signature();
        let report = self.store.put(record).await?;
        if !report.stored_locally {
            return Err(
                StoreError::Backend("the store kept another batch under our key".into()).into(),
            );
        }
        {
            let mut state = self.state();
            state.parts.insert((*pool, slot), part + 1);
            // Our own verdicts travel with our own batch: reading it back
            // verifies nothing again.
            let verdicts: Option<Vec<VerifiedShare>> =
                shares.iter().map(|p| p.verdict.clone()).collect();
            if let Some(verdicts) = verdicts {
                state
                    .verdicts
                    .insert(signature, Arc::new(BatchVerdict::of_own(verdicts)));
            }
        }
        self.store
            .advertise(
                &RecordKey::share_publishers(pool, slot),
                self.config.share_retention,
            )
            .await?;
        Ok(())
    }
}

/// Splits shares into batches of at most `max` that each fit in a record,
/// encoding each share once to learn its size.
fn batches(shares: &[Pending], max: usize) -> Vec<&[Pending]> {
    let sizes: Vec<usize> = shares
        .iter()
        .map(|p| p.share.to_bytes().map_or(usize::MAX, |b| b.len()))
        .collect();
    let budget = MAX_RECORD_BYTES - ENVELOPE_ALLOWANCE;
    let mut out = Vec::new();
    let mut start = 0;
    while start < shares.len() {
        let mut end = start;
        let mut bytes = 0usize;
        while end < shares.len() && end - start < max.max(1) {
            let next = bytes.saturating_add(sizes[end]);
            // A batch holds at least one share, whatever its size.
            if next > budget && end > start {
                break;
            }
            bytes = next;
            end += 1;
        }
        out.push(&shares[start..end]);
        start = end;
    }
    out
}
