//! Share validation: every check a peer runs before a share counts.

use std::collections::{HashMap, HashSet, VecDeque};

use super::commitment::{Commitment, CommitmentError};
use super::Share;
use crate::codec::CodecError;
use crate::ids::{PayoutId, PoolId};
use crate::pow::{
    merkle_root_from_branch, sha256d, CompactTarget, Difficulty, Hash256, PowHash, Sha256d, Target,
};

/// Why a share is rejected. Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// The share's bytes do not decode.
    #[error("share encoding: {0}")]
    Codec(#[from] CodecError),
    /// Structurally invalid (size limits, wrong network bits).
    #[error("malformed share: {0}")]
    Malformed(&'static str),
    /// The share claims another pool than this validator's.
    #[error("share is for another pool")]
    WrongPool,
    /// The coinbase commitment is missing or malformed.
    #[error("coinbase commitment: {0}")]
    Commitment(#[from] CommitmentError),
    /// The coinbase commits to another pool or another payout id than the
    /// share claims.
    #[error("coinbase commits to another pool or payout id")]
    CommitmentMismatch,
    /// The merkle root rebuilt from coinbase and branch differs from the header's.
    #[error("merkle root does not match the header")]
    BadMerkleRoot,
    /// The share target is easier than the pool's minimum difficulty.
    #[error("share target is below the pool minimum difficulty")]
    BelowPoolMinimum,
    /// The header hash does not meet the share target.
    #[error("hash does not meet the share target")]
    LowDifficulty,
    /// The header builds on a block that is not among the recent tips.
    #[error("share builds on an unknown or stale block")]
    Stale,
    /// The same header was accepted before.
    #[error("duplicate share")]
    Duplicate,
    /// The dedupe memory for this tip is full; raise the share difficulty.
    #[error("too many shares on one block; dedupe capacity reached")]
    DedupeFull,
    /// A verdict handed over with a share is not that share's (another
    /// header hash, pool or payout id).
    #[error("the verdict does not belong to this share")]
    VerdictMismatch,
}

/// Limits and policy of a [`ShareValidator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareValidatorConfig {
    /// Smallest share difficulty the pool accepts. Default: 1/65536
    /// (a CPU miner finds one in well under a second).
    pub min_difficulty: Difficulty,
    /// How many recent tips (the current one and its predecessors) shares
    /// may build on. Default: 3. The current tip is always kept, so 0
    /// behaves as 1.
    pub max_tips: usize,
    /// Most distinct shares remembered per tip, for duplicate detection.
    /// Default: 1,048,576 (about 40 MiB at the limit).
    pub max_shares_per_tip: usize,
}

impl ShareValidatorConfig {
    /// The defaults documented on each field.
    pub const fn new() -> Self {
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1 << 16),
            max_tips: 3,
            max_shares_per_tip: 1 << 20,
        }
    }
}

impl Default for ShareValidatorConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A share that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedShare {
    /// Header hash, internal byte order.
    pub hash: Hash256,
    /// The pool.
    pub pool_id: PoolId,
    /// Who is paid.
    pub payout_id: PayoutId,
    /// Weight of the share: the difficulty of its assigned target.
    pub difficulty: Difficulty,
    /// Header time, unix seconds.
    pub time: u32,
    /// The block it builds on.
    pub prev_hash: Hash256,
    /// Whether the hash also meets the network target: a block.
    pub is_block: bool,
}

#[derive(Debug, Clone)]
struct Tip {
    prev_hash: Hash256,
    bits: CompactTarget,
    network_target: Target,
}

/// Validates shares for one pool: proof, commitment, target, staleness and
/// duplicates. Memory is bounded by `max_tips * max_shares_per_tip`.
///
/// ```
/// use chiral_pool_core::{ids::PoolId, pow::CompactTarget, share::*};
/// let mut v = ShareValidator::new(PoolId::from_bytes([1; 32]), ShareValidatorConfig::new());
/// v.add_tip([0; 32], CompactTarget::from_consensus(0x207fffff)).unwrap();
/// assert!(v.knows_tip(&[0; 32]));
/// ```
#[derive(Debug)]
pub struct ShareValidator<H: PowHash = Sha256d> {
    pool_id: PoolId,
    config: ShareValidatorConfig,
    hasher: H,
    min_target: Target,
    tips: VecDeque<Tip>,
    seen: HashMap<Hash256, SeenShares>,
}

impl ShareValidator<Sha256d> {
    /// A sha256d validator for `pool_id`.
    pub fn new(pool_id: PoolId, config: ShareValidatorConfig) -> Self {
        Self::with_hasher(pool_id, config, Sha256d)
    }
}

impl<H: PowHash> ShareValidator<H> {
    /// A validator with another proof-of-work hash.
    pub fn with_hasher(pool_id: PoolId, config: ShareValidatorConfig, hasher: H) -> Self {
        ShareValidator {
            pool_id,
            min_target: Target::from_fixed_difficulty(config.min_difficulty),
            config,
            hasher,
            tips: VecDeque::new(),
            seen: HashMap::new(),
        }
    }

    /// A validator with the same pool, settings and tips but no duplicate
    /// memory: for verifying outside the lock that guards [`remember`]
    /// (a server swaps in a fresh copy on each new tip).
    ///
    /// [`remember`]: Self::remember
    pub fn without_memory(&self) -> Self
    where
        H: Clone,
    {
        ShareValidator {
            pool_id: self.pool_id,
            config: self.config,
            hasher: self.hasher.clone(),
            min_target: self.min_target,
            tips: self.tips.clone(),
            seen: HashMap::new(),
        }
    }

    /// The pool this validator checks shares for.
    pub fn pool_id(&self) -> &PoolId {
        &self.pool_id
    }

    /// Records a new chain tip (the hash shares must build on) with the
    /// network's compact target; the oldest tip beyond `max_tips` becomes
    /// stale and its dedupe memory is freed. Adding a known tip is a no-op.
    pub fn add_tip(&mut self, prev_hash: Hash256, bits: CompactTarget) -> Result<(), ShareError> {
        if self.knows_tip(&prev_hash) {
            return Ok(());
        }
        let network_target = Target::from_compact(bits)
            .map_err(|_| ShareError::Malformed("invalid network bits"))?;
        self.tips.push_back(Tip {
            prev_hash,
            bits,
            network_target,
        });
        while self.tips.len() > self.config.max_tips.max(1) {
            if let Some(old) = self.tips.pop_front() {
                self.seen.remove(&old.prev_hash);
            }
        }
        Ok(())
    }

    /// Whether shares may build on `prev_hash`.
    pub fn knows_tip(&self, prev_hash: &Hash256) -> bool {
        self.tips.iter().any(|t| &t.prev_hash == prev_hash)
    }

    /// Runs every check except duplicate detection and returns the
    /// verified share. Does not change state.
    pub fn verify(&self, share: &Share) -> Result<VerifiedShare, ShareError> {
        share.check_structure()?;
        if share.pool_id != self.pool_id {
            return Err(ShareError::WrongPool);
        }
        if share.target > self.min_target {
            return Err(ShareError::BelowPoolMinimum);
        }
        let tip = self
            .tips
            .iter()
            .find(|t| &t.prev_hash == share.header.prev_hash())
            .ok_or(ShareError::Stale)?;
        if share.header.bits() != tip.bits {
            return Err(ShareError::Malformed(
                "header bits differ from the network's",
            ));
        }
        let Commitment { pool, payout, .. } = Commitment::from_coinbase(&share.coinbase)?;
        if pool != self.pool_id || payout != share.payout_id {
            return Err(ShareError::CommitmentMismatch);
        }
        let root = merkle_root_from_branch(sha256d(&share.coinbase), &share.merkle_branch);
        if &root != share.header.merkle_root() {
            return Err(ShareError::BadMerkleRoot);
        }
        let hash = self.hasher.hash_header(&share.header.to_bytes());
        if !share.target.is_met_by(&hash) {
            return Err(ShareError::LowDifficulty);
        }
        Ok(VerifiedShare {
            hash,
            pool_id: self.pool_id,
            payout_id: payout,
            difficulty: Difficulty::from_target(&share.target),
            time: share.header.time(),
            prev_hash: *share.header.prev_hash(),
            is_block: tip.network_target.is_met_by(&hash),
        })
    }

    /// Verifies a share and remembers it, rejecting duplicates.
    pub fn accept(&mut self, share: &Share) -> Result<VerifiedShare, ShareError> {
        let verified = self.verify(share)?;
        self.remember(&verified)?;
        Ok(verified)
    }

    /// Forgets a remembered share, so the same share may be submitted
    /// again (its sink could not keep it). A share never remembered, or on
    /// a tip gone stale, is ignored.
    pub fn forget(&mut self, verified: &VerifiedShare) {
        if let Some(seen) = self.seen.get_mut(&verified.prev_hash) {
            seen.remove(&verified.hash);
        }
    }

    /// Records a share verified earlier by [`verify`](Self::verify) for
    /// duplicate detection (lets callers hash outside a lock). Fails if it
    /// was seen before, its tip went stale meanwhile, or memory is full.
    pub fn remember(&mut self, verified: &VerifiedShare) -> Result<(), ShareError> {
        if !self.knows_tip(&verified.prev_hash) {
            return Err(ShareError::Stale);
        }
        let max = self.config.max_shares_per_tip;
        let seen = self.seen.entry(verified.prev_hash).or_default();
        if seen.contains(&verified.hash) {
            return Err(ShareError::Duplicate);
        }
        if seen.len() >= max {
            return Err(ShareError::DedupeFull);
        }
        seen.insert(verified.hash);
        Ok(())
    }
}

/// Shards of the share-hash set of one tip.
const SEEN_SHARDS: usize = 64;

/// The hashes of the shares accepted on one tip, split over
/// [`SEEN_SHARDS`] sets by a low byte of the hash. One big set would stop
/// every submit while it rehashes (several milliseconds at a few hundred
/// thousand shares); a shard rehashes a sixty-fourth of that.
#[derive(Debug, Default)]
struct SeenShares {
    shards: Vec<HashSet<Hash256>>,
    len: usize,
}

impl SeenShares {
    /// The byte picked is the hash's least significant one, which a share
    /// target does not constrain.
    fn shard(hash: &Hash256) -> usize {
        usize::from(hash[0]) % SEEN_SHARDS
    }

    fn contains(&self, hash: &Hash256) -> bool {
        self.shards
            .get(Self::shard(hash))
            .is_some_and(|s| s.contains(hash))
    }

    fn len(&self) -> usize {
        self.len
    }

    fn remove(&mut self, hash: &Hash256) {
        if let Some(shard) = self.shards.get_mut(Self::shard(hash)) {
            if shard.remove(hash) {
                self.len -= 1;
            }
        }
    }

    fn insert(&mut self, hash: Hash256) {
        if self.shards.is_empty() {
            self.shards.resize_with(SEEN_SHARDS, HashSet::new);
        }
        if self.shards[Self::shard(&hash)].insert(hash) {
            self.len += 1;
        }
    }
}
