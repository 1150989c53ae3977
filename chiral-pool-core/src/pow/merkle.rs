//! Merkle root from a coinbase hash and its branch.

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
