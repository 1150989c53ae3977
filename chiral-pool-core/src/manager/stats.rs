//! Pool statistics computed from verified shares only.

use std::collections::BTreeMap;

use super::{PoolManager, Result};
use crate::ids::{PayoutId, PoolId};
use crate::share::VerifiedShare;
use crate::store::RecordStore;

/// One miner's figures over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerStats {
    /// The miner.
    pub payout_id: PayoutId,
    /// Verified shares.
    pub shares: u64,
    /// Sum of share difficulties, fixed point (difficulty x 2^32), which is
    /// also the expected number of hashes behind them.
    pub work: u128,
    /// Estimated hashes per second: `work / period`.
    pub hashrate: u128,
}

/// A pool's figures over a period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Per miner, sorted by payout id.
    pub miners: Vec<MinerStats>,
    /// Verified shares.
    pub shares: u64,
    /// Shares that were also blocks.
    pub blocks_found: u64,
    /// Estimated hashes per second of the whole pool.
    pub hashrate: u128,
    /// The period, seconds.
    pub period_secs: u64,
}

impl PoolStats {
    /// Figures from verified shares over `period_secs` (at least 1).
    ///
    /// A share of difficulty `d` takes `d * 2^32` hashes on average, which
    /// is exactly the fixed-point difficulty, so hashrate is the summed
    /// difficulty over the period.
    pub fn from_shares(shares: &[VerifiedShare], period_secs: u64) -> Self {
        let period = period_secs.max(1) as u128;
        let mut per: BTreeMap<&PayoutId, (u64, u128)> = BTreeMap::new();
        let mut blocks = 0;
        for s in shares {
            let e = per.entry(&s.payout_id).or_default();
            e.0 += 1;
            e.1 = e.1.saturating_add(s.difficulty.raw());
            blocks += u64::from(s.is_block);
        }
        let miners: Vec<MinerStats> = per
            .into_iter()
            .map(|(id, (n, work))| MinerStats {
                payout_id: id.clone(),
                shares: n,
                work,
                hashrate: work / period,
            })
            .collect();
        let total: u128 = miners.iter().fold(0u128, |a, m| a.saturating_add(m.work));
        PoolStats {
            shares: shares.len() as u64,
            blocks_found: blocks,
            hashrate: total / period,
            period_secs: period as u64,
            miners,
        }
    }
}

impl<S: RecordStore> PoolManager<S> {
    /// Statistics of `pool` over `[from, to]` from shares fetched and
    /// verified by this node.
    pub async fn pool_stats(&self, pool: &PoolId, from: u64, to: u64) -> Result<PoolStats> {
        let page = self.get_shares_for_pool(pool, from, to).await?;
        Ok(PoolStats::from_shares(
            &page.shares,
            to.saturating_sub(from) + 1,
        ))
    }
}
