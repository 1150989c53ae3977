//! PPS and FPPS: the pool pays each share its expected value.

use ruint::aliases::U256;

use crate::pool::FeeBps;
use crate::pow::Difficulty;

/// Pay-per-share pricing.
///
/// A share of difficulty `d` while the network is at `D` is worth
/// `floor((reward + avg_tx_fees) * (10_000 - fee_bps) * d / (10_000 * D))`
/// atoms. PPS has `avg_tx_fees = 0`; FPPS adds the average transaction fees
/// per block.
///
/// ```
/// use chiral_pool_core::{payout::PpsPricing, pool::FeeBps, pow::Difficulty};
/// let pps = PpsPricing::pps(5_000_000_000, FeeBps::new(200).unwrap());
/// // A share at 1/1000 of the network difficulty: 0.98 * 50 BTC / 1000.
/// let v = pps.share_value(Difficulty::from_integer(1), Difficulty::from_integer(1000));
/// assert_eq!(v, 4_900_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PpsPricing {
    /// Block subsidy, atoms.
    pub block_reward: u64,
    /// Average transaction fees per block, atoms (0 for plain PPS).
    pub avg_tx_fees: u64,
    /// The operator's fee.
    pub fee: FeeBps,
}

impl PpsPricing {
    /// Plain PPS.
    pub fn pps(block_reward: u64, fee: FeeBps) -> Self {
        PpsPricing {
            block_reward,
            avg_tx_fees: 0,
            fee,
        }
    }

    /// FPPS: PPS plus the average transaction fees.
    pub fn fpps(block_reward: u64, avg_tx_fees: u64, fee: FeeBps) -> Self {
        PpsPricing {
            block_reward,
            avg_tx_fees,
            fee,
        }
    }

    /// Atoms paid for one share. Zero if the network difficulty is zero.
    pub fn share_value(&self, share: Difficulty, network: Difficulty) -> u64 {
        if network.raw() == 0 {
            return 0;
        }
        let gross = U256::from(self.block_reward) + U256::from(self.avg_tx_fees);
        let num = gross * U256::from(10_000 - self.fee.bps() as u64) * U256::from(share.raw());
        let den = U256::from(10_000u64) * U256::from(network.raw());
        u64::try_from(num / den).unwrap_or(u64::MAX)
    }

    /// Reserve, atoms, that keeps the operator's probability of ruin below
    /// `2^-ruin_bits`.
    ///
    /// The operator's balance is a random walk that gains `f * B` per
    /// block's worth of shares on average with variance `B^2` per block,
    /// so the ruin probability with reserve `R` is about `exp(-2 f R / B)`
    /// (the diffusion approximation; Rosenfeld 2011, section on PPS).
    /// Solving gives `R = B * ln(2) * ruin_bits / (2 f)`, with `ln 2`
    /// rounded up to 0.6932 and the result rounded up. A zero fee has no
    /// finite reserve: returns `u64::MAX`.
    pub fn reserve_for_ruin(&self, ruin_bits: u32) -> u64 {
        if self.fee.bps() == 0 {
            return u64::MAX;
        }
        let b = self.block_reward as u128 + self.avg_tx_fees as u128;
        // R = B * 0.6932 * k / (2 * bps / 10_000) = B * 6932 * k / (2 * bps)
        let num = U256::from(b) * U256::from(6932u32) * U256::from(ruin_bits);
        let den = U256::from(2 * self.fee.bps() as u64);
        let r = num.div_ceil(den);
        u64::try_from(r).unwrap_or(u64::MAX)
    }
}
