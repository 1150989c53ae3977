//! A one-node share chain fixture: mines links on a synthetic block chain
//! at a floor cheap enough for tests.

use chiral_pool_core::ids::{LinkId, PayoutId, PoolId};
use chiral_pool_core::pow::{CompactTarget, Difficulty};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::sharechain::testing::{mine_commitment, mine_link, BlockRef};
use chiral_pool_core::sharechain::{
    Added, ChainParams, InsertError, Insertion, JobPosition, Link, Origin, PendingLimits,
    ProvenLink, ShareChain,
};

/// First header time of a fixture chain.
pub const T0: u32 = 1_700_000_000;
/// Network bits at difficulty 1: no test link is a block.
pub const HARD_BLOCKS: CompactTarget = CompactTarget::from_consensus(0x1d00_ffff);

/// Chain parameters with a floor of about a thousand hashes per link.
pub fn cheap_params() -> ChainParams {
    let mut params = ChainParams::new();
    params.min_difficulty = Difficulty::from_raw(1 << 10);
    params
}

/// The genesis block of the synthetic block chain.
pub fn genesis_block(bits: CompactTarget) -> BlockRef {
    BlockRef {
        prev_hash: [0; 32],
        bits,
        height: 1,
    }
}

/// A payout id.
pub fn miner(name: &str) -> PayoutId {
    PayoutId::new(name).expect("valid payout id")
}

/// One node's chain with its block chain view and clock.
pub struct LinkFixture {
    pub pool: PoolId,
    pub params: ChainParams,
    pub chain: ShareChain,
    pub block: BlockRef,
    pub now: u64,
}

impl LinkFixture {
    pub fn new(params: ChainParams) -> Self {
        let pool = PoolId::from_bytes([9; 32]);
        let mut chain = ShareChain::new(pool, params.clone(), PendingLimits::default())
            .expect("valid chain params");
        let block = genesis_block(HARD_BLOCKS);
        chain.add_block(block.prev_hash, block.height, u64::from(T0));
        LinkFixture {
            pool,
            params,
            chain,
            block,
            now: u64::from(T0) + 1_000_000,
        }
    }

    /// A link at `position` paying `who` at `time`.
    pub fn link_at(&self, position: &JobPosition, who: &str, time: u32, seed: u64) -> Link {
        mine_link(self.pool, position, &miner(who), self.block, time, seed)
    }

    /// A link whose coinbase carries `commitment` exactly.
    pub fn forged(&self, commitment: &Commitment, time: u32, seed: u64) -> Link {
        mine_commitment(commitment, self.block, time, seed)
    }

    /// The commitment a link of `who` at `position` would carry.
    pub fn commitment(&self, position: &JobPosition, who: &str) -> Commitment {
        Commitment {
            pool: self.pool,
            payout: miner(who),
            chain_bits: position.chain_bits,
            parent: position.parent,
            uncles: position.uncles.clone(),
        }
    }

    pub fn prove(&self, link: Link) -> ProvenLink {
        link.prove(&self.pool, &self.params).expect("link proves")
    }

    pub fn insert(&mut self, link: Link) -> Result<Insertion, InsertError> {
        let proven = self.prove(link);
        self.chain.insert(proven, Origin::LOCAL, self.now)
    }

    /// Mines on the best tip and inserts; returns the new link's id.
    pub fn extend(&mut self, who: &str, time: u32, seed: u64) -> LinkId {
        let link = self.link_at(&self.chain.job(), who, time, seed);
        let id = LinkId::from_bytes(link.header.hash());
        match self.insert(link).expect("valid link") {
            Insertion::Added(Added { valid, .. }) => assert!(valid.contains(&id)),
            other => panic!("link not added: {other:?}"),
        }
        id
    }
}
