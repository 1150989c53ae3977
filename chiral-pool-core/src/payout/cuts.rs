//! The order of cuts from a block reward: fee, finder bonus, miners.

use serde::{Deserialize, Serialize};

use crate::pool::FeeBps;

/// How a reward is cut before miners share it.
///
/// Order, each floor-rounded in integers:
/// 1. `fee = floor(reward * fee_bps / 10_000)` to the operator;
/// 2. `finder_bonus = floor((reward - fee) * finder_bps / 10_000)` to the
///    miner whose share was the block;
/// 3. the rest, `reward - fee - finder_bonus`, to the miners by the scheme.
///
/// ```
/// use chiral_pool_core::{payout::RewardCuts, pool::FeeBps};
/// let cuts = RewardCuts { fee: FeeBps::new(100).unwrap(), finder_bonus: FeeBps::new(50).unwrap() };
/// let c = cuts.apply(1_000_000);
/// assert_eq!((c.fee, c.finder_bonus, c.miners), (10_000, 4_950, 985_050));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RewardCuts {
    /// The operator's fee.
    pub fee: FeeBps,
    /// Bonus to the block finder, taken after the fee.
    pub finder_bonus: FeeBps,
}

/// A reward after the cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutReward {
    /// Operator fee, atoms.
    pub fee: u64,
    /// Finder bonus, atoms.
    pub finder_bonus: u64,
    /// What the miners share, atoms.
    pub miners: u64,
}

impl RewardCuts {
    /// Cuts with only a fee.
    pub fn fee_only(fee: FeeBps) -> Self {
        RewardCuts {
            fee,
            finder_bonus: FeeBps::ZERO,
        }
    }

    /// Applies the cuts; `fee + finder_bonus + miners == reward` exactly.
    pub fn apply(&self, reward: u64) -> CutReward {
        let fee = self.fee.of(reward);
        let finder_bonus = self.finder_bonus.of(reward - fee);
        CutReward {
            fee,
            finder_bonus,
            miners: reward - fee - finder_bonus,
        }
    }
}
