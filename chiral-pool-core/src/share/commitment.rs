//! The pool/miner commitment carried inside a coinbase transaction.
//!
//! Exact bytes, wherever the pool places them in the coinbase (normally an
//! `OP_RETURN` output in `coinb2`):
//!
//! ```text
//! "CHRLv1"  (6 bytes, ASCII tag)
//! pool id   (32 bytes)
//! len       (1 byte, 1..=64)
//! payout id (len bytes, ASCII [A-Za-z0-9_-:])
//! ```
//!
//! The tag must occur exactly once in the coinbase, so a miner cannot add a
//! second commitment through the extranonce.

use crate::ids::{PayoutId, PoolId};

/// The tag that opens a commitment.
pub const COMMITMENT_TAG: &[u8; 6] = b"CHRLv1";

/// Why a coinbase carries no usable commitment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    /// No tag in the coinbase.
    #[error("coinbase carries no commitment")]
    Missing,
    /// More than one tag: ambiguous.
    #[error("coinbase carries more than one commitment")]
    Ambiguous,
    /// The bytes after the tag are cut short or hold an invalid payout id.
    #[error("commitment is truncated or malformed")]
    Malformed,
}

/// The bytes of a commitment to `pool` and `payout`.
///
/// ```
/// use chiral_pool_core::{ids::*, share::commitment::*};
/// let pool = PoolId::from_bytes([1; 32]);
/// let payout = PayoutId::new("alice").unwrap();
/// let mut coinbase = b"prefix".to_vec();
/// coinbase.extend(encode_commitment(&pool, &payout));
/// coinbase.extend(b"suffix");
/// assert_eq!(find_commitment(&coinbase).unwrap(), (pool, payout));
/// ```
pub fn encode_commitment(pool: &PoolId, payout: &PayoutId) -> Vec<u8> {
    let id = payout.as_str().as_bytes();
    let mut out = Vec::with_capacity(COMMITMENT_TAG.len() + 33 + id.len());
    out.extend_from_slice(COMMITMENT_TAG);
    out.extend_from_slice(pool.as_bytes());
    // PayoutId guarantees 1..=64 bytes.
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out
}

/// Finds and parses the single commitment in a coinbase.
pub fn find_commitment(coinbase: &[u8]) -> Result<(PoolId, PayoutId), CommitmentError> {
    let at = find_tag(coinbase, 0).ok_or(CommitmentError::Missing)?;
    if find_tag(coinbase, at + 1).is_some() {
        return Err(CommitmentError::Ambiguous);
    }
    let body = coinbase
        .get(at + COMMITMENT_TAG.len()..)
        .ok_or(CommitmentError::Malformed)?;
    let pool: [u8; 32] = body
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or(CommitmentError::Malformed)?;
    let len = *body.get(32).ok_or(CommitmentError::Malformed)? as usize;
    let id = body.get(33..33 + len).ok_or(CommitmentError::Malformed)?;
    let payout = PayoutId::from_bytes(id).map_err(|_| CommitmentError::Malformed)?;
    Ok((PoolId::from_bytes(pool), payout))
}

fn find_tag(haystack: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(COMMITMENT_TAG.len())
        .position(|w| w == COMMITMENT_TAG)
        .map(|p| p + from)
}
