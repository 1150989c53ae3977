//! Shares that carry their own proof.
//!
//! A [`Share`] holds the 80-byte header, the full coinbase transaction and
//! the merkle branch from the coinbase to the header's merkle root. Any
//! peer can recompute the proof: the merkle root, the commitment to pool
//! and payout id inside the coinbase, and the header hash against the
//! share target. See [`ShareValidator`].

pub mod coinbase;
pub mod commitment;
mod template;
mod validator;

pub use template::WorkTemplate;
pub use validator::{ShareError, ShareValidator, ShareValidatorConfig, VerifiedShare};

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::ids::{PayoutId, PoolId};
use crate::pow::{BlockHeader, Hash256, Target, MAX_MERKLE_BRANCH};

/// Longest coinbase transaction accepted in a share, bytes: room for the
/// most payout outputs a pool may have
/// ([`MAX_OUTPUT_CAP`](crate::payout::MAX_OUTPUT_CAP) taproot outputs are
/// 30,100 bytes), while a checkpoint record holding a link still fits in a
/// record ([`MAX_RECORD_BYTES`](crate::record::MAX_RECORD_BYTES)). Miner
/// firmware has limits of its own (some take a few kilobytes of coinbase):
/// a pool for such miners keeps its output cap low.
pub const MAX_COINBASE_LEN: usize = 32 * 1024;
/// Largest encoded share, bytes.
pub const MAX_SHARE_BYTES: usize = 80 + MAX_COINBASE_LEN + 32 * MAX_MERKLE_BRANCH + 256;

/// A share: a header that meets the share target, with the proof that it
/// belongs to this pool and pays this miner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Pool the share claims to belong to (checked against the commitment).
    pub pool_id: PoolId,
    /// Miner the share claims to pay (checked against the commitment).
    pub payout_id: PayoutId,
    /// The target the share was issued at; its weight is this difficulty.
    pub target: Target,
    /// The mined header.
    pub header: BlockHeader,
    /// The full coinbase transaction.
    pub coinbase: Vec<u8>,
    /// Merkle branch from the coinbase hash to the header's merkle root.
    pub merkle_branch: Vec<Hash256>,
}

impl Share {
    /// Encodes the share for the wire.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }

    /// Decodes a share of at most [`MAX_SHARE_BYTES`]; checks structure
    /// only (the proof is checked by [`ShareValidator`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ShareError> {
        let share: Share = codec::decode(bytes, MAX_SHARE_BYTES)?;
        share.check_structure()?;
        Ok(share)
    }

    /// Size limits on the coinbase and branch.
    pub fn check_structure(&self) -> Result<(), ShareError> {
        if self.coinbase.len() > MAX_COINBASE_LEN {
            return Err(ShareError::Malformed("coinbase too long"));
        }
        if self.merkle_branch.len() > MAX_MERKLE_BRANCH {
            return Err(ShareError::Malformed("merkle branch too long"));
        }
        Ok(())
    }
}
