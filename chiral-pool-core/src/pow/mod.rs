//! Proof-of-work: sha256d, the 80-byte block header, merkle roots and
//! 256-bit targets.
//!
//! The hash function sits behind [`PowHash`] so another algorithm can be
//! added without touching share validation.

mod header;
mod merkle;
mod target;

pub use header::{BlockHeader, HEADER_LEN};
pub use merkle::{coinbase_branch, merkle_root, merkle_root_from_branch, MAX_MERKLE_BRANCH};
pub use target::{CompactTarget, Difficulty, Target, TargetError};

use sha2::{Digest, Sha256};

/// A 32-byte hash in internal (little-endian number) byte order, as it
/// appears inside headers. Display order is the reverse.
pub type Hash256 = [u8; 32];

/// Double SHA-256, Bitcoin's proof-of-work and merkle hash.
///
/// ```
/// let h = chiral_pool_core::pow::sha256d(b"");
/// assert_eq!(
///     hex::encode(h),
///     "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
/// );
/// ```
pub fn sha256d(data: &[u8]) -> Hash256 {
    Sha256::digest(Sha256::digest(data)).into()
}

/// Double SHA-256 of the concatenation `left || right`, without allocating.
pub fn sha256d_pair(left: &Hash256, right: &Hash256) -> Hash256 {
    let mut inner = Sha256::new();
    inner.update(left);
    inner.update(right);
    Sha256::digest(inner.finalize()).into()
}

/// A proof-of-work hash function over serialized headers.
///
/// Implementations must be deterministic and return the hash in internal
/// byte order (the byte order compared against a [`Target`] as a
/// little-endian number).
pub trait PowHash: Send + Sync {
    /// Hashes a serialized 80-byte header.
    fn hash_header(&self, header: &[u8; HEADER_LEN]) -> Hash256;
}

/// Bitcoin's header hash: sha256d.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sha256d;

impl PowHash for Sha256d {
    fn hash_header(&self, header: &[u8; HEADER_LEN]) -> Hash256 {
        sha256d(header)
    }
}

/// Reverses a hash between internal and display byte order.
pub fn reversed(hash: &Hash256) -> Hash256 {
    let mut out = *hash;
    out.reverse();
    out
}
