//! Reading published share batches back, every share verified once per
//! batch and node, and the publishers' standing.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::publish::PARTS_PER_SLOT;
use super::verdicts::BatchVerdict;
use super::{ManagerError, PoolManager, Result};
use crate::codec;
use crate::identity::PublicKey;
use crate::ids::PoolId;
use crate::record::{select_best, RecordKey, SignedRecord, MAX_RECORD_BYTES};
use crate::share::{Share, ShareValidator, VerifiedShare};
use crate::store::RecordStore;

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
        // Hashing happens outside the manager's lock, on the validator's
        // snapshot of the tips.
        let validator = self.verifier(pool)?;
        let slot_secs = self.slot_secs();
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
                    let verdict = self.verdict(pool, &validator, record);
                    page.rejected += verdict.invalid;
                    page.pending += verdict.waiting.len();
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
    /// the same record before and nothing in it was waiting for a tip;
    /// else the kept one with its waiting shares judged again; else a
    /// fresh one. The publisher's standing moves by what changed since the
    /// record was last charged, so reading a batch again never counts
    /// twice, whoever reads it.
    fn verdict(
        &self,
        pool: &PoolId,
        validator: &ShareValidator,
        record: &SignedRecord,
    ) -> Arc<BatchVerdict> {
        let signature = *record.signature();
        let kept = self.state().verdicts.get(&signature);
        if let Some(kept) = &kept {
            if kept.waiting.is_empty() {
                return kept.clone();
            }
        }
        let verdict = match codec::decode::<ShareBatch>(record.payload(), MAX_RECORD_BYTES) {
            Ok(batch) if batch.pool_id == *pool => match &kept {
                Some(kept) => kept.rejudge(validator, &batch.shares),
                None => BatchVerdict::judge(validator, &batch.shares),
            },
            // A batch that does not decode, or names another pool, counts
            // as one invalid share.
            _ => BatchVerdict::invalid(1),
        };
        let verdict = Arc::new(verdict);
        let now = self.now();
        let recovery = self.slot_secs();
        let mut state = self.state();
        let delta = state.verdicts.charge(&signature, &verdict);
        state
            .standing
            .adjust(record.publisher(), delta, now, recovery);
        state.verdicts.insert(signature, verdict.clone());
        verdict
    }
}
