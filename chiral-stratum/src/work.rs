//! Where jobs come from: the [`WorkSource`] trait and a synthetic chain.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pow::{BlockHeader, Hash256, Target};
use chiral_pool_core::share::WorkTemplate;
use tokio::sync::watch;

/// The chain tip jobs build on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Hash of the current best block, internal byte order.
    pub prev_hash: Hash256,
    /// Network target, compact.
    pub bits: u32,
    /// Height of the block being mined.
    pub height: u32,
}

/// A provider of work: the tip, and per-miner templates whose coinbase
/// commits to the pool and the miner's payout id.
pub trait WorkSource: Send + Sync + 'static {
    /// A receiver that always holds the current tip and changes on every
    /// new block.
    fn tip(&self) -> watch::Receiver<Tip>;

    /// A template on the current tip for `payout` mining for `pool`, with
    /// `extranonce_len` bytes left between `coinb1` and `coinb2`.
    fn template(&self, pool: &PoolId, payout: &PayoutId, extranonce_len: usize) -> WorkTemplate;

    /// Reports a share that met the network target. Returns whether the
    /// block extended the chain.
    fn block_found(&self, header: &BlockHeader) -> bool;
}

/// A synthetic chain for demos and tests: coinbase-only blocks with a fixed
/// network target; a found block becomes the new tip at once.
///
/// ```
/// use chiral_stratum::work::{SyntheticChain, WorkSource};
/// let chain = SyntheticChain::new(0x207fffff);
/// assert_eq!(chain.tip().borrow().height, 1);
/// ```
#[derive(Debug)]
pub struct SyntheticChain {
    tip: watch::Sender<Tip>,
    lock: Mutex<()>,
}

impl SyntheticChain {
    /// A chain at height 1 on a zero genesis hash, with network target `bits`.
    pub fn new(bits: u32) -> Self {
        Self::resume(Tip {
            prev_hash: [0; 32],
            bits,
            height: 1,
        })
    }

    /// A chain continuing from `tip` (a restarted node's last tip).
    pub fn resume(tip: Tip) -> Self {
        let (tip, _) = watch::channel(tip);
        SyntheticChain {
            tip,
            lock: Mutex::new(()),
        }
    }

    /// The network target.
    pub fn network_target(&self) -> Target {
        Target::from_compact(self.tip.borrow().bits).unwrap_or(Target::MAX)
    }
}

impl WorkSource for SyntheticChain {
    fn tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    fn template(&self, pool: &PoolId, payout: &PayoutId, extranonce_len: usize) -> WorkTemplate {
        let tip = *self.tip.borrow();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        WorkTemplate::synthetic(
            pool,
            payout,
            tip.prev_hash,
            tip.bits,
            now,
            tip.height,
            extranonce_len,
        )
    }

    fn block_found(&self, header: &BlockHeader) -> bool {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let tip = *self.tip.borrow();
        let meets = Target::from_compact(tip.bits).is_ok_and(|t| t.is_met_by(&header.hash()));
        if header.prev_hash() != &tip.prev_hash || header.bits() != tip.bits || !meets {
            return false;
        }
        self.tip.send_replace(Tip {
            prev_hash: header.hash(),
            bits: tip.bits,
            height: tip.height + 1,
        });
        true
    }
}
