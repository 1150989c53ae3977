//! The outcome of paying one block: who gets what, to the atom.

use serde::{Deserialize, Serialize};

use super::cuts::RewardCuts;
use super::pplns::split_with_sink;
use crate::ids::PayoutId;

/// Keys of a split that may include the unfilled-window sink. The sink
/// sorts after every miner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SplitKey {
    Miner(PayoutId),
    Unfilled,
}

/// How one block reward was divided.
///
/// Conservation holds exactly:
/// `fee + finder_bonus + sum(payouts) + unfilled == reward`
/// (see [`Settlement::is_conserved`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The block reward being divided, atoms.
    pub reward: u64,
    /// Operator fee, atoms.
    pub fee: u64,
    /// Bonus paid to the finder, on top of its entry in `payouts`.
    pub finder_bonus: u64,
    /// Who found the block, if a finder bonus applies.
    pub finder: Option<PayoutId>,
    /// Atoms per miner, sorted by payout id; zero payouts are kept so every
    /// miner in the window is listed.
    pub payouts: Vec<(PayoutId, u64)>,
    /// The part of the miners' reward for work the window is missing (an
    /// unfilled PPLNS window); never handed to the miners present.
    pub unfilled: u64,
}

impl Settlement {
    /// Splits the miners' part of `reward` by `weights` (sorted, unique),
    /// with `unfilled_weight` of missing work going to the sink.
    pub(crate) fn from_weights(
        reward: u64,
        cuts: RewardCuts,
        finder: Option<&PayoutId>,
        weights: Vec<(PayoutId, u128)>,
        unfilled_weight: u128,
    ) -> Self {
        let cuts = match finder {
            Some(_) => cuts,
            None => RewardCuts::fee_only(cuts.fee),
        };
        let cut = cuts.apply(reward);
        let (payouts, unfilled) = split_with_sink(cut.miners, weights, unfilled_weight);
        Settlement {
            reward,
            fee: cut.fee,
            finder_bonus: cut.finder_bonus,
            finder: finder.cloned(),
            payouts,
            unfilled,
        }
    }

    /// A block whose outputs already paid `payouts` (sorted, unique): a
    /// pool that pays in the coinbase, where the fee and the finder's bonus
    /// are in their address's amount. `reward` is the sum.
    pub fn paid(reward: u64, payouts: Vec<(PayoutId, u64)>) -> Self {
        Settlement {
            reward,
            fee: 0,
            finder_bonus: 0,
            finder: None,
            payouts,
            unfilled: 0,
        }
    }

    /// Sum of the miners' payouts (without the finder bonus).
    pub fn paid_to_miners(&self) -> u64 {
        self.payouts.iter().map(|(_, a)| a).sum()
    }

    /// What `id` receives in total, finder bonus included.
    pub fn amount_for(&self, id: &PayoutId) -> u64 {
        let share = self
            .payouts
            .binary_search_by(|(k, _)| k.cmp(id))
            .ok()
            .and_then(|i| self.payouts.get(i))
            .map_or(0, |(_, a)| *a);
        let bonus = if self.finder.as_ref() == Some(id) {
            self.finder_bonus
        } else {
            0
        };
        share + bonus
    }

    /// Whether fee, bonus, payouts and sink add up to the reward exactly.
    pub fn is_conserved(&self) -> bool {
        let parts = self.payouts.iter().map(|(_, a)| *a as u128).sum::<u128>()
            + self.fee as u128
            + self.finder_bonus as u128
            + self.unfilled as u128;
        parts == self.reward as u128
    }
}
