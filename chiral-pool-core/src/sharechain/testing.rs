//! Mining links on a synthetic chain, for tests, simulators and benches
//! (feature `test-utils`). Not for production use.

use super::chain::{JobPosition, ShareChain};
use super::link::Link;
use super::params::ChainParams;
use super::pending::{Origin, PendingLimits};
use crate::ids::{PayoutId, PoolId};
use crate::payout::PayoutOutput;
use crate::pow::{CompactTarget, Hash256, Target};
use crate::share::commitment::Commitment;
use crate::share::WorkTemplate;

/// The block-chain side of a job: what the link's header builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// The block the header builds on.
    pub prev_hash: Hash256,
    /// Network bits.
    pub bits: CompactTarget,
    /// Height of the block being mined (BIP 34).
    pub height: u32,
}

/// Mines a link for `pool` at `position` on `block`, paying `payout`,
/// with header time `time`; `seed` picks the extranonce so links differ.
/// Searches until the hash meets the position's chain target (cheap at a
/// floor near the easiest target).
///
/// # Panics
/// If the position's bits name no target or no nonce meets it.
pub fn mine_link(
    pool: PoolId,
    position: &JobPosition,
    payout: &PayoutId,
    block: BlockRef,
    time: u32,
    seed: u64,
) -> Link {
    let commitment = Commitment {
        pool,
        payout: payout.clone(),
        chain_bits: position.chain_bits,
        parent: position.parent,
        uncles: position.uncles.clone(),
    };
    match &position.payouts {
        Some(plan) => {
            let finder = plan
                .finder_script(payout)
                .expect("the payout id is an address");
            let outputs = plan.outputs(TEST_REWARD, &finder).outputs;
            mine_paying(&commitment, &outputs, block, time, seed, Vec::new())
        }
        None => mine_commitment(&commitment, block, time, seed),
    }
}

/// What [`mine_link`]'s coinbases are worth in a pool that pays in the
/// coinbase: 50 coins, the first subsidy of Bitcoin's schedule.
pub const TEST_REWARD: u64 = 50 * 100_000_000;

/// Mines a link whose coinbase carries `commitment` exactly (which may
/// break a rule: forgery tests).
///
/// # Panics
/// If the commitment's bits name no target or no nonce meets it.
pub fn mine_commitment(commitment: &Commitment, block: BlockRef, time: u32, seed: u64) -> Link {
    mine_with_branch(commitment, block, time, seed, Vec::new())
}

/// [`mine_commitment`] in a block with other transactions: the coinbase's
/// merkle branch is `branch` (a block of about 2^n transactions has n
/// steps).
///
/// # Panics
/// If the commitment's bits name no target or no nonce meets it.
pub fn mine_with_branch(
    commitment: &Commitment,
    block: BlockRef,
    time: u32,
    seed: u64,
    branch: Vec<Hash256>,
) -> Link {
    let anyone = [PayoutOutput {
        script: vec![0x51],
        value: 0,
    }];
    mine_paying(commitment, &anyone, block, time, seed, branch)
}

/// [`mine_with_branch`] with a coinbase paying `outputs` (which may break
/// the pool's payout rule: forgery tests).
///
/// # Panics
/// If the commitment's bits name no target or no nonce meets it.
pub fn mine_paying(
    commitment: &Commitment,
    outputs: &[PayoutOutput],
    block: BlockRef,
    time: u32,
    seed: u64,
    branch: Vec<Hash256>,
) -> Link {
    let mut template = WorkTemplate::synthetic_paying(
        commitment,
        outputs,
        block.prev_hash,
        block.bits,
        time,
        block.height,
        8,
    );
    template.merkle_branch = branch;
    let target = Target::from_compact(commitment.chain_bits).expect("chain bits name a target");
    for extra in 0u64.. {
        let extranonce = (seed ^ (extra << 40)).to_le_bytes();
        let header = template.header(&extranonce, 0);
        if let Some(nonce) = header.find_nonce(&target, 0..1 << 20) {
            return Link {
                header: header.with_nonce(nonce),
                coinbase: template.coinbase(&extranonce),
                merkle_branch: template.merkle_branch.clone(),
            };
        }
    }
    unreachable!("the extranonce space is not exhausted")
}

/// A chain of `n` links `spacing` seconds apart from `t0`, all on `block`,
/// mined in turn by four miners, each on the tip before it (no uncles).
/// The chain's clock is far ahead, so no link waits for it.
///
/// # Panics
/// If `params` are invalid or a mined link does not join (a bug).
pub fn linear_chain(
    pool: PoolId,
    params: &ChainParams,
    block: BlockRef,
    n: usize,
    t0: u32,
    spacing: u32,
) -> ShareChain {
    let mut chain = ShareChain::new(pool, params.clone(), PendingLimits::default())
        .expect("valid chain params");
    chain.add_block(block.prev_hash, block.height, u64::from(t0));
    let miners: Vec<PayoutId> = (0..4)
        .map(|i| PayoutId::new(format!("m{i}")).expect("valid"))
        .collect();
    for i in 0..n {
        let time = t0 + spacing * i as u32;
        let link = mine_link(pool, &chain.job(), &miners[i % 4], block, time, i as u64);
        let proven = link.prove(&pool, params).expect("proves");
        chain
            .insert(proven, Origin::LOCAL, u64::MAX / 2)
            .expect("joins");
    }
    chain
}

/// A P2WPKH address of `network` whose program is the first 20 bytes of
/// `sha256(label)`: a stable address per label for tests (nobody holds
/// its key).
pub fn label_address(label: &str, network: crate::payout::AddressNetwork) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(label.as_bytes());
    let mut program = [0u8; 20];
    program.copy_from_slice(&hash[..20]);
    crate::payout::p2wpkh_address(program, network)
}
