//! PROP (proportional per round) and SOLO.

use std::collections::BTreeMap;

use super::cuts::RewardCuts;
use super::settlement::Settlement;
use crate::ids::PayoutId;

/// Proportional payouts per round: every share since the last block
/// counts with its full weight; a block pays the round and starts a new one.
///
/// Known weakness, shown by this crate's tests: early in a round each share
/// is worth more than later ones, which rewards pool hopping. PPLNS does
/// not have it.
///
/// ```
/// use chiral_pool_core::{ids::PayoutId, payout::*};
/// let mut round = PropRound::default();
/// round.add(&PayoutId::new("a").unwrap(), 3);
/// round.add(&PayoutId::new("b").unwrap(), 1);
/// let s = round.settle(400, RewardCuts::default(), None);
/// assert_eq!(s.payouts[0].1, 300);
/// assert!(round.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct PropRound {
    weights: BTreeMap<PayoutId, u128>,
}

impl PropRound {
    /// Adds a share's weight to the current round.
    pub fn add(&mut self, miner: &PayoutId, weight: u128) {
        let w = self.weights.entry(miner.clone()).or_default();
        *w = w.saturating_add(weight);
    }

    /// Whether the round has no shares.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Pays the round and empties it. An empty round leaves the miners' part
    /// in [`Settlement::unfilled`].
    pub fn settle(
        &mut self,
        reward: u64,
        cuts: RewardCuts,
        finder: Option<&PayoutId>,
    ) -> Settlement {
        let weights: Vec<(PayoutId, u128)> =
            std::mem::take(&mut self.weights).into_iter().collect();
        let unfilled = u128::from(weights.is_empty());
        Settlement::from_weights(reward, cuts, finder, weights, unfilled)
    }
}

/// SOLO: the finder takes the whole reward after the fee (a finder bonus
/// makes no sense here and is ignored).
///
/// ```
/// use chiral_pool_core::{ids::PayoutId, payout::*, pool::FeeBps};
/// let finder = PayoutId::new("lucky").unwrap();
/// let s = settle_solo(1_000, FeeBps::new(100).unwrap(), &finder);
/// assert_eq!((s.fee, s.amount_for(&finder)), (10, 990));
/// ```
pub fn settle_solo(reward: u64, fee: crate::pool::FeeBps, finder: &PayoutId) -> Settlement {
    Settlement::from_weights(
        reward,
        RewardCuts::fee_only(fee),
        None,
        vec![(finder.clone(), 1)],
        0,
    )
}
