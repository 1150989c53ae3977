//! Links: shares that meet the pool's chain target, and the checks a link
//! passes on its own, before any ancestor is looked at.

use serde::{Deserialize, Serialize};

use super::params::ChainParams;
use crate::codec::{self, CodecError};
use crate::ids::{LinkId, PayoutId, PoolId};
use crate::pow::{
    merkle_root_from_branch, sha256d, BlockHeader, Hash256, Target, MAX_MERKLE_BRANCH,
};
use crate::share::coinbase::ParsedCoinbase;
use crate::share::commitment::{Commitment, CommitmentError};
use crate::share::{Share, VerifiedShare, MAX_COINBASE_LEN};

/// Largest encoded link, bytes.
pub const MAX_LINK_BYTES: usize = 80 + MAX_COINBASE_LEN + 32 * MAX_MERKLE_BRANCH + 64;

/// Why a link is refused. Each rule has its own variant; none of them is
/// "not yet" (see [`super::Pending`] for that).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The bytes do not decode.
    #[error("link encoding: {0}")]
    Codec(#[from] CodecError),
    /// Size limits.
    #[error("malformed link: {0}")]
    Malformed(&'static str),
    /// The coinbase's last output is not a usable commitment.
    #[error("link commitment: {0}")]
    Commitment(#[from] CommitmentError),
    /// The commitment names another pool.
    #[error("link is for another pool")]
    WrongPool,
    /// More uncles than the pool allows.
    #[error("link cites more uncles than the pool allows")]
    TooManyUncles,
    /// The merkle root rebuilt from coinbase and branch is not the header's.
    #[error("merkle root does not match the header")]
    BadMerkleRoot,
    /// The committed chain bits do not decode to a target.
    #[error("committed chain bits are not a target")]
    BadChainBits,
    /// The committed chain target is easier than the pool's floor.
    #[error("committed chain target is easier than the pool floor")]
    BelowFloor,
    /// The header hash does not meet the committed chain target.
    #[error("hash does not meet the committed chain target")]
    LowWork,
    /// The header's network bits do not decode to a target.
    #[error("header bits are not a target")]
    BadNetworkBits,
    /// The coinbase script does not start with a BIP 34 height.
    #[error("coinbase carries no BIP 34 height")]
    NoBlockHeight,
    /// The committed chain target is not the one the retarget rule gives
    /// at this position.
    #[error("chain target {claimed:#x} differs from the rule's {expected:#x}")]
    WrongTarget {
        /// What the retarget gives, compact.
        expected: u32,
        /// What the link committed to, compact.
        claimed: u32,
    },
    /// The time is not above the median time of its ancestors.
    #[error("time is not above the median of its ancestors")]
    TimeTooOld,
    /// An uncle is an ancestor of the link.
    #[error("an uncle is on the link's own chain")]
    UncleOnChain,
    /// An uncle's parent is not among the link's last few ancestors.
    #[error("an uncle is too deep or not related to the link's chain")]
    UncleTooDeep,
    /// An uncle is already cited by an ancestor in the window.
    #[error("an uncle is already cited in the window")]
    UncleAlreadyCited,
    /// The block height went down along the share chain.
    #[error("block height {height} is below its parent's {parent}")]
    BlockHeightDecreased {
        /// The link's height.
        height: u32,
        /// Its parent's.
        parent: u32,
    },
    /// The coinbase height is not the height of a block on its prevhash.
    #[error("coinbase height {claimed} is not {expected}, the height after its prevhash")]
    WrongBlockHeight {
        /// The height after the known prevhash.
        expected: u32,
        /// The coinbase's height.
        claimed: u32,
    },
    /// The link's payout id is not an address of the pool's network (a
    /// pool that pays in the coinbase).
    #[error("link payout: {0}")]
    NotAnAddress(#[from] crate::payout::AddressError),
    /// The coinbase's outputs are not the split of the parent's window.
    #[error("coinbase payouts: {0}")]
    WrongPayouts(#[from] crate::payout::PayoutMismatch),
    /// An ancestor or uncle was found invalid.
    #[error("an ancestor or uncle is invalid")]
    InvalidAncestor,
    /// This very link was refused before (the reason is not kept).
    #[error("link was refused before")]
    KnownInvalid,
}

/// A link as it travels: the header, the full coinbase and the merkle
/// branch. Everything else (pool, miner, parent, uncles, chain target) is
/// read from the coinbase's commitment, so the link proves itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The mined header.
    pub header: BlockHeader,
    /// The full coinbase transaction.
    pub coinbase: Vec<u8>,
    /// Merkle branch from the coinbase hash to the header's merkle root.
    pub merkle_branch: Vec<Hash256>,
}

impl Link {
    /// The proof part of a share.
    pub fn from_share(share: &Share) -> Self {
        Link {
            header: share.header,
            coinbase: share.coinbase.clone(),
            merkle_branch: share.merkle_branch.clone(),
        }
    }

    /// Encodes the link for the wire and the store.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }

    /// Decodes a link of at most [`MAX_LINK_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LinkError> {
        Ok(codec::decode(bytes, MAX_LINK_BYTES)?)
    }

    /// The link in a share a validator already verified, if its hash also
    /// meets the chain target it commits to; `Ok(None)` for a share that
    /// is not a link. The merkle root is not rebuilt: the
    /// [`VerifiedShare`] is the proof it was checked (one verification per
    /// share per node); only the 80-byte header is hashed, to tie the
    /// verdict to this share.
    pub fn from_verified(
        share: &Share,
        verified: &VerifiedShare,
        params: &ChainParams,
    ) -> Result<Option<ProvenLink>, LinkError> {
        if verified.hash != share.header.hash() || verified.pool_id != share.pool_id {
            return Err(LinkError::Malformed("verdict of another share"));
        }
        let parsed = ParsedCoinbase::parse(&share.coinbase).map_err(CommitmentError::from)?;
        let commitment = Commitment::from_parsed(&parsed, &share.coinbase)?;
        if commitment.pool != verified.pool_id {
            return Err(LinkError::WrongPool);
        }
        let chain_target =
            Target::from_compact(commitment.chain_bits).map_err(|_| LinkError::BadChainBits)?;
        if !chain_target.is_met_by(&verified.hash) {
            return Ok(None);
        }
        let link = Link::from_share(share);
        link.checked(&parsed, commitment, verified.hash, chain_target, params)
            .map(Some)
    }

    /// Runs every check that needs nothing but the link and the pool's
    /// rules, hashing the header once. What needs ancestors is checked
    /// when the link joins a [`super::ShareChain`].
    pub fn prove(self, pool: &PoolId, params: &ChainParams) -> Result<ProvenLink, LinkError> {
        let (parsed, commitment, id, chain_target) = self.work(pool)?;
        self.checked(&parsed, commitment, id, chain_target, params)
    }

    /// The checks that need neither the pool's rules nor any ancestor:
    /// sizes, the commitment for `pool`, the merkle root, and the header
    /// hash meeting the chain target the link commits to. What a store
    /// runs before keeping a link record ([`crate::record::RecordKind::Link`]):
    /// the link's work is its authority.
    pub fn certify(&self, pool: &PoolId) -> Result<Certified, LinkError> {
        let (_, commitment, id, _) = self.work(pool)?;
        Ok(Certified {
            id: LinkId::from_bytes(id),
            parent: commitment.parent,
        })
    }

    /// The context-free part of [`Link::prove`].
    fn work(
        &self,
        pool: &PoolId,
    ) -> Result<(ParsedCoinbase, Commitment, Hash256, Target), LinkError> {
        if self.coinbase.len() > MAX_COINBASE_LEN {
            return Err(LinkError::Malformed("coinbase too long"));
        }
        if self.merkle_branch.len() > MAX_MERKLE_BRANCH {
            return Err(LinkError::Malformed("merkle branch too long"));
        }
        let parsed = ParsedCoinbase::parse(&self.coinbase).map_err(CommitmentError::from)?;
        let commitment = Commitment::from_parsed(&parsed, &self.coinbase)?;
        if &commitment.pool != pool {
            return Err(LinkError::WrongPool);
        }
        let root = merkle_root_from_branch(sha256d(&self.coinbase), &self.merkle_branch);
        if &root != self.header.merkle_root() {
            return Err(LinkError::BadMerkleRoot);
        }
        let chain_target =
            Target::from_compact(commitment.chain_bits).map_err(|_| LinkError::BadChainBits)?;
        let id = self.header.hash();
        if !chain_target.is_met_by(&id) {
            return Err(LinkError::LowWork);
        }
        Ok((parsed, commitment, id, chain_target))
    }

    /// When a stored record of this link expires (unix seconds): its
    /// header time plus [`crate::record::LINK_RECORD_TTL_SECS`]. A link is
    /// unsigned, so no other expiry could be trusted.
    pub fn record_expiry(&self) -> u64 {
        u64::from(self.header.time()) + crate::record::LINK_RECORD_TTL_SECS
    }

    /// The checks left once the hash is known to meet `chain_target`.
    fn checked(
        self,
        parsed: &ParsedCoinbase,
        commitment: Commitment,
        id: Hash256,
        chain_target: Target,
        params: &ChainParams,
    ) -> Result<ProvenLink, LinkError> {
        if self.coinbase.len() > MAX_COINBASE_LEN {
            return Err(LinkError::Malformed("coinbase too long"));
        }
        if self.merkle_branch.len() > MAX_MERKLE_BRANCH {
            return Err(LinkError::Malformed("merkle branch too long"));
        }
        if commitment.uncles.len() > params.max_uncles as usize {
            return Err(LinkError::TooManyUncles);
        }
        let network_target =
            Target::from_compact(self.header.bits()).map_err(|_| LinkError::BadNetworkBits)?;
        let block_height = parsed
            .bip34_height(&self.coinbase)
            .ok_or(LinkError::NoBlockHeight)?;
        let value = parsed
            .outputs()
            .iter()
            .try_fold(0u64, |sum, o| sum.checked_add(o.value))
            .ok_or(LinkError::Malformed("coinbase outputs overflow"))?;
        Ok(ProvenLink {
            value,
            id: LinkId::from_bytes(id),
            is_block: network_target.is_met_by(&id),
            network_target,
            chain_target,
            block_height,
            commitment,
            link: self,
        })
    }
}

/// What [`Link::certify`] found: the link's id and the parent it commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certified {
    id: LinkId,
    parent: Option<LinkId>,
}

impl Certified {
    /// The link's id (its header hash).
    pub fn id(&self) -> LinkId {
        self.id
    }

    /// The parent it commits to; `None` for a genesis link.
    pub fn parent(&self) -> Option<LinkId> {
        self.parent
    }
}

/// A link whose own proof holds: its header hash meets the target it
/// commits to, the commitment is for this pool and well formed. Only
/// [`Link::prove`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenLink {
    id: LinkId,
    value: u64,
    is_block: bool,
    network_target: Target,
    chain_target: Target,
    block_height: u32,
    commitment: Commitment,
    link: Link,
}

impl ProvenLink {
    /// The id: the header hash.
    pub fn id(&self) -> LinkId {
        self.id
    }

    /// The commitment read from the coinbase.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// The parent link, `None` for a genesis link.
    pub fn parent(&self) -> Option<LinkId> {
        self.commitment.parent
    }

    /// The miner paid for this link.
    pub fn payout(&self) -> &PayoutId {
        &self.commitment.payout
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.link.header
    }

    /// The chain target the link committed to.
    pub fn chain_target(&self) -> Target {
        self.chain_target
    }

    /// The network target of the header's bits.
    pub fn network_target(&self) -> Target {
        self.network_target
    }

    /// The block height its coinbase carries (BIP 34).
    pub fn block_height(&self) -> u32 {
        self.block_height
    }

    /// The total of its coinbase's outputs, atoms: what the block pays if
    /// the link is one.
    pub fn coinbase_value(&self) -> u64 {
        self.value
    }

    /// Whether the header also meets the network target: a block.
    pub fn is_block(&self) -> bool {
        self.is_block
    }

    /// The link as it travels.
    pub fn link(&self) -> &Link {
        &self.link
    }
}
