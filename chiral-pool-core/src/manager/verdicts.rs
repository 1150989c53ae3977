//! Verdicts on share batches read from the store, kept so a batch read on
//! every poll is verified once, and publishers' standing.
//!
//! Verification is cheap where it matters: a share on an unknown tip is
//! refused before any hashing, so a batch waiting for a tip costs a lookup
//! per waiting share when it is read again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::identity::{PublicKey, Signature};
use crate::share::{Share, ShareError, ShareValidator, VerifiedShare};

/// Most batch verdicts kept (about 60 MiB at 96 shares a batch); past it
/// the oldest are forgotten and verified again if read again.
const MAX_VERDICTS: usize = 4_096;

/// Most records whose charge to their publisher's standing is remembered
/// (a signature and two counts each, about 6 MiB in all): a batch read
/// again after its verdict was forgotten is not charged twice.
const MAX_CHARGED: usize = 65_536;

/// Most publishers whose standing is below neutral that are remembered.
const MAX_STANDINGS: usize = 65_536;

/// What one batch record held, as this node judged it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BatchVerdict {
    /// The shares that passed every check.
    pub shares: Vec<VerifiedShare>,
    /// Shares whose proof, commitment or target fails: never valid.
    pub invalid: usize,
    /// Positions in the batch of shares on a tip this node does not know
    /// yet; only they are judged again.
    pub waiting: Vec<usize>,
}

impl BatchVerdict {
    /// Verifies every share of a batch.
    pub fn judge(validator: &ShareValidator, shares: &[Share]) -> Self {
        let mut verdict = BatchVerdict::default();
        verdict.judge_some(validator, shares, 0..shares.len());
        verdict
    }

    /// This verdict with its waiting shares (of `shares`, the same batch)
    /// judged again.
    pub fn rejudge(&self, validator: &ShareValidator, shares: &[Share]) -> Self {
        let mut verdict = BatchVerdict {
            shares: self.shares.clone(),
            invalid: self.invalid,
            waiting: Vec::new(),
        };
        verdict.judge_some(validator, shares, self.waiting.iter().copied());
        verdict
    }

    fn judge_some(
        &mut self,
        validator: &ShareValidator,
        shares: &[Share],
        positions: impl Iterator<Item = usize>,
    ) {
        for i in positions {
            let Some(share) = shares.get(i) else {
                continue;
            };
            match validator.verify(share) {
                Ok(v) => self.shares.push(v),
                Err(ShareError::Stale) => self.waiting.push(i),
                Err(_) => self.invalid += 1,
            }
        }
    }

    /// A batch this node published itself, of shares it verified.
    pub fn of_own(shares: Vec<VerifiedShare>) -> Self {
        BatchVerdict {
            shares,
            ..BatchVerdict::default()
        }
    }

    /// A batch that is not a batch of this pool: `n` invalid shares.
    pub fn invalid(n: usize) -> Self {
        BatchVerdict {
            invalid: n,
            ..BatchVerdict::default()
        }
    }
}

/// Verdicts by the signature of the record they judged (a signature names
/// one publisher's one payload), oldest forgotten first, and what each
/// record was charged to its publisher's standing.
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    by_signature: HashMap<Signature, Arc<BatchVerdict>>,
    order: VecDeque<Signature>,
    /// Record -> (valid, invalid) shares charged so far.
    charged: HashMap<Signature, (usize, usize)>,
    charged_order: VecDeque<Signature>,
}

impl Verdicts {
    pub fn get(&self, signature: &Signature) -> Option<Arc<BatchVerdict>> {
        self.by_signature.get(signature).cloned()
    }

    /// Keeps a verdict. Our own batches' verdicts are charged to no one.
    pub fn insert(&mut self, signature: Signature, verdict: Arc<BatchVerdict>) {
        if self.by_signature.insert(signature, verdict).is_none() {
            self.order.push_back(signature);
        }
        while self.order.len() > MAX_VERDICTS {
            if let Some(old) = self.order.pop_front() {
                self.by_signature.remove(&old);
            }
        }
    }

    /// The standing points `verdict` adds to what `signature`'s record was
    /// charged before (a valid share +1, an invalid one -1), and records
    /// the new charge. Charging the same verdict twice adds nothing.
    pub fn charge(&mut self, signature: &Signature, verdict: &BatchVerdict) -> i64 {
        let now = (verdict.shares.len(), verdict.invalid);
        let before = match self.charged.insert(*signature, now) {
            Some(before) => before,
            None => {
                self.charged_order.push_back(*signature);
                while self.charged_order.len() > MAX_CHARGED {
                    if let Some(old) = self.charged_order.pop_front() {
                        self.charged.remove(&old);
                    }
                }
                (0, 0)
            }
        };
        let gained = now.0.saturating_sub(before.0) as i64;
        let lost = now.1.saturating_sub(before.1) as i64;
        gained - lost
    }
}

/// Standing of share publishers: each invalid share costs a point, each
/// valid one gives one back, and one point comes back per recovery period
/// by itself, so a publisher is never shut out for good. Standing never
/// rises above 0 (neutral): good behaviour earns no credit to spend on
/// bad batches later.
#[derive(Debug, Default)]
pub(crate) struct Standing {
    /// Publisher -> (points at `since`, `since`), only below neutral.
    below: BTreeMap<PublicKey, (i64, u64)>,
}

impl Standing {
    /// Standing of `publisher` at `now` (0 when unknown).
    pub fn of(&self, publisher: &PublicKey, now: u64, recovery_secs: u64) -> i64 {
        self.below.get(publisher).map_or(0, |(points, since)| {
            let recovered = now.saturating_sub(*since) / recovery_secs.max(1);
            points
                .saturating_add(i64::try_from(recovered).unwrap_or(i64::MAX))
                .min(0)
        })
    }

    /// Moves `publisher`'s standing by `delta` points at `now`.
    pub fn adjust(&mut self, publisher: &PublicKey, delta: i64, now: u64, recovery_secs: u64) {
        if delta == 0 {
            return;
        }
        let points = self
            .of(publisher, now, recovery_secs)
            .saturating_add(delta)
            .min(0);
        if points == 0 {
            self.below.remove(publisher);
            return;
        }
        if self.below.len() >= MAX_STANDINGS && !self.below.contains_key(publisher) {
            // Forget the mildest offender to make room.
            let mildest = self
                .below
                .iter()
                .max_by_key(|(key, (p, _))| (*p, **key))
                .map(|(key, _)| *key);
            if let Some(key) = mildest {
                self.below.remove(&key);
            }
        }
        self.below.insert(*publisher, (points, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    #[test]
    fn standing_falls_with_invalid_shares_and_recovers() {
        let mut s = Standing::default();
        let p = Keypair::from_secret_bytes([9; 32]).public();
        s.adjust(&p, -12, 1_000, 60);
        assert_eq!(s.of(&p, 1_000, 60), -12);
        // Valid shares give points back, never above neutral.
        s.adjust(&p, 5, 1_000, 60);
        assert_eq!(s.of(&p, 1_000, 60), -7);
        // And time does too: one point a period.
        assert_eq!(s.of(&p, 1_000 + 3 * 60, 60), -4);
        s.adjust(&p, 100, 2_000, 60);
        assert_eq!(s.of(&p, 2_000, 60), 0);
        assert!(s.below.is_empty());
    }
}
