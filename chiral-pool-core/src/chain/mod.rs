//! The chain a pool mines: its tip, where jobs come from (the
//! [`WorkSource`] trait) and a synthetic chain for demos and tests.
//!
//! A tip is announced through a `tokio::sync::watch` channel (no runtime is
//! needed to hold or read one), so a Stratum server, a node's accounting
//! and its share validators all follow the same chain.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::payout::CoinbasePlan;
use crate::pow::{BlockHeader, CompactTarget, Hash256, Target, TargetError};
use crate::share::commitment::Commitment;
use crate::share::WorkTemplate;

/// The chain tip jobs build on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Hash of the current best block, internal byte order.
    pub prev_hash: Hash256,
    /// Network target, compact.
    pub bits: CompactTarget,
    /// Height of the block being mined.
    pub height: u32,
}

/// Why a work source gave no template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no work: {0}")]
pub struct WorkError(pub String);

/// A provider of work: the tip, and per-miner templates whose coinbase
/// commits to the pool and the miner's payout id.
pub trait WorkSource: Send + Sync + 'static {
    /// A receiver that always holds the current tip and changes on every
    /// new block.
    fn tip(&self) -> watch::Receiver<Tip>;

    /// A template on the current tip whose coinbase pays
    /// `payouts.outputs(total, finder)` (`total`: the block's reward plus
    /// the fees of the transactions it takes), in that order, then carries
    /// `commitment` (pool, miner and share chain position) as its last
    /// output, with `extranonce_len` bytes left between `coinb1` and
    /// `coinb2`. An error when the source has no work to give (no template
    /// yet, or none that fits).
    fn template(
        &self,
        commitment: &Commitment,
        payouts: &CoinbasePlan,
        finder: &[u8],
        extranonce_len: usize,
    ) -> Result<WorkTemplate, WorkError>;

    /// Reports a share that met the network target: its header and its
    /// coinbase (non-witness serialization, as the job built it), from
    /// which the source rebuilds the whole block of the template it
    /// issued. Returns whether the block extended the chain, as far as
    /// the source knows at once (a real chain answers later, by its tip).
    fn block_found(&self, header: &BlockHeader, coinbase: &[u8]) -> bool;

    /// The height of the block mined on `hash` (one above the block's),
    /// if this source knows the block: what a node's share chain asks for
    /// the blocks links build on. Default: none known.
    fn next_height(&self, hash: &Hash256) -> Option<u32> {
        let _ = hash;
        None
    }

    /// Learns a block whose parent this source never saw, at BIP 34
    /// height `height`, on the word of a share chain that checked its work
    /// (see [`SyntheticChain::adopt`]). Returns whether it did. Default:
    /// no (a source on a real chain learns blocks from the chain).
    fn adopt(&self, header: &BlockHeader, height: u32) -> bool {
        let _ = (header, height);
        false
    }
}

impl std::fmt::Debug for dyn WorkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tip = *self.tip().borrow();
        f.debug_struct("WorkSource")
            .field("height", &tip.height)
            .finish_non_exhaustive()
    }
}

/// A synthetic chain for demos and tests: coinbase-only blocks with a fixed
/// network target. It keeps a tree of the blocks it knows (the most recent
/// [`SYNTHETIC_MEMORY`]): a block on any known block is accepted, and the
/// longest branch is the tip (on equal height the first seen stays), so
/// nodes that learn the same blocks in another order follow the same chain.
///
/// ```
/// use chiral_pool_core::chain::{SyntheticChain, WorkSource};
/// use chiral_pool_core::pow::CompactTarget;
/// let chain = SyntheticChain::new(CompactTarget::from_consensus(0x207fffff))?;
/// assert_eq!(chain.tip().borrow().height, 1);
/// // Bits that name no target are refused, not read as "any hash wins".
/// assert!(SyntheticChain::new(CompactTarget::from_consensus(0x0480_0001)).is_err());
/// # Ok::<(), chiral_pool_core::pow::TargetError>(())
/// ```
#[derive(Debug)]
pub struct SyntheticChain {
    tip: watch::Sender<Tip>,
    network_target: Target,
    reward: u64,
    known: Mutex<KnownBlocks>,
}

/// Blocks a [`SyntheticChain`] remembers.
pub const SYNTHETIC_MEMORY: usize = 4_096;

/// Block hash to the height of the block mined on it, with insertion order
/// for the bound.
#[derive(Debug, Default)]
struct KnownBlocks {
    heights: std::collections::HashMap<Hash256, u32>,
    order: std::collections::VecDeque<Hash256>,
}

impl SyntheticChain {
    /// A chain at height 1 on a zero genesis hash, with network target
    /// `bits`; bits that do not decode to a target are an error.
    pub fn new(bits: CompactTarget) -> Result<Self, TargetError> {
        Self::resume(Tip {
            prev_hash: [0; 32],
            bits,
            height: 1,
        })
    }

    /// A chain continuing from `tip` (a restarted node's last tip); its
    /// bits must decode to a target.
    pub fn resume(tip: Tip) -> Result<Self, TargetError> {
        let network_target = Target::from_compact(tip.bits)?;
        let mut known = KnownBlocks::default();
        known.heights.insert(tip.prev_hash, tip.height);
        known.order.push_back(tip.prev_hash);
        let (tip, _) = watch::channel(tip);
        Ok(SyntheticChain {
            tip,
            network_target,
            reward: 0,
            known: Mutex::new(known),
        })
    }

    /// The chain with each block's coinbase paying `reward` atoms (what
    /// the share chain splits). Default: 0.
    pub fn with_reward(mut self, reward: u64) -> Self {
        self.reward = reward;
        self
    }

    /// Each block's coinbase value, atoms.
    pub fn reward(&self) -> u64 {
        self.reward
    }

    /// The height of the block mined on `hash`, if `hash` is a block this
    /// chain knows (the genesis hash included).
    pub fn next_height(&self, hash: &Hash256) -> Option<u32> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.heights.get(hash).copied()
    }

    /// Learns a block whose parent this chain never saw, at BIP 34 height
    /// `height`: a block of a share chain's assumed base
    /// ([`crate::sharechain::ShareChain::assume`]), which a node joining
    /// late takes on its work. Becomes the tip if its branch is the
    /// longest. Returns whether it did.
    pub fn adopt(&self, header: &BlockHeader, height: u32) -> bool {
        self.learn(header, Some(height))
    }

    /// Records a block at `height`, or on a known parent when `height` is
    /// `None` (the next block is one higher); the longest branch is the
    /// tip, on equal height the first seen stays.
    fn learn(&self, header: &BlockHeader, height: Option<u32>) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let Some(height) = height.or_else(|| known.heights.get(header.prev_hash()).copied()) else {
            return false;
        };
        let Some(next) = height.checked_add(1) else {
            return false;
        };
        let tip = *self.tip.borrow();
        let hash = header.hash();
        let meets = self.network_target.is_met_by(&hash);
        if header.bits() != tip.bits || !meets || known.heights.contains_key(&hash) {
            return false;
        }
        known.heights.insert(hash, next);
        known.order.push_back(hash);
        while known.order.len() > SYNTHETIC_MEMORY {
            if let Some(old) = known.order.pop_front() {
                known.heights.remove(&old);
            }
        }
        if height < tip.height {
            return false;
        }
        self.tip.send_replace(Tip {
            prev_hash: hash,
            bits: tip.bits,
            height: next,
        });
        true
    }

    /// The network target (fixed for the chain's life).
    pub fn network_target(&self) -> Target {
        self.network_target
    }
}

impl WorkSource for SyntheticChain {
    fn tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    fn template(
        &self,
        commitment: &Commitment,
        payouts: &CoinbasePlan,
        finder: &[u8],
        extranonce_len: usize,
    ) -> Result<WorkTemplate, WorkError> {
        let tip = *self.tip.borrow();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        Ok(WorkTemplate::synthetic_paying(
            commitment,
            &payouts.outputs(self.reward, finder).outputs,
            tip.prev_hash,
            tip.bits,
            now,
            tip.height,
            extranonce_len,
        ))
    }

    fn block_found(&self, header: &BlockHeader, _coinbase: &[u8]) -> bool {
        self.learn(header, None)
    }

    fn next_height(&self, hash: &Hash256) -> Option<u32> {
        SyntheticChain::next_height(self, hash)
    }

    fn adopt(&self, header: &BlockHeader, height: u32) -> bool {
        SyntheticChain::adopt(self, header, height)
    }
}
