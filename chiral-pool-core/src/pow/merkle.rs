//! Merkle roots: of a list, of a coinbase and its branch, and the branch
//! of a coinbase.

use super::{sha256d_pair, Hash256};

/// Most merkle branch steps accepted anywhere: 2^32 transactions in a block
/// is far beyond any real block, so longer branches are hostile input.
pub const MAX_MERKLE_BRANCH: usize = 32;

/// Folds a merkle branch onto the coinbase transaction hash: the coinbase
/// is always the leftmost leaf, so every step hashes `acc || step`.
pub fn merkle_root_from_branch(coinbase_hash: Hash256, branch: &[Hash256]) -> Hash256 {
    branch
        .iter()
        .fold(coinbase_hash, |acc, step| sha256d_pair(&acc, step))
}

/// The branch of the coinbase (the leftmost leaf) in a block whose other
/// transactions have ids `txids`, in block order: what a Stratum job
/// sends so a miner can fold any coinbase into the root. An odd level
/// pairs its last hash with itself, as Bitcoin does.
///
/// ```
/// use chiral_pool_core::pow::{coinbase_branch, merkle_root, merkle_root_from_branch};
/// let (cb, a, b) = ([1u8; 32], [2u8; 32], [3u8; 32]);
/// let branch = coinbase_branch(&[a, b]);
/// assert_eq!(merkle_root_from_branch(cb, &branch), merkle_root(&[cb, a, b]));
/// ```
pub fn coinbase_branch(txids: &[Hash256]) -> Vec<Hash256> {
    let mut level: Vec<Hash256> = Vec::with_capacity(txids.len() + 1);
    level.push([0; 32]); // the coinbase's place; its value is never read
    level.extend_from_slice(txids);
    let mut branch = Vec::new();
    while level.len() > 1 {
        branch.push(level[1]);
        let mut next = Vec::with_capacity(level.len() / 2 + 1);
        next.push([0; 32]);
        for pair in level[2..].chunks(2) {
            let right = pair.get(1).unwrap_or(&pair[0]);
            next.push(sha256d_pair(&pair[0], right));
        }
        level = next;
    }
    branch
}

/// The merkle root of `leaves` (an odd level pairs its last hash with
/// itself); the all-zero hash for no leaves.
pub fn merkle_root(leaves: &[Hash256]) -> Hash256 {
    let mut level = leaves.to_vec();
    if level.is_empty() {
        return [0; 32];
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| sha256d_pair(&pair[0], pair.get(1).unwrap_or(&pair[0])))
            .collect();
    }
    level[0]
}
