//! The 80-byte Bitcoin-style block header.

use serde::{Deserialize, Serialize};

use super::{sha256d, CompactTarget, Hash256, Target};

/// Serialized length of a [`BlockHeader`].
pub const HEADER_LEN: usize = 80;

/// Where the nonce starts in the serialized header (its last 4 bytes).
const NONCE_OFFSET: usize = HEADER_LEN - 4;

/// An 80-byte block header: version, previous block hash, merkle root,
/// time, compact target (`bits`) and nonce, every integer little-endian.
///
/// ```
/// use chiral_pool_core::pow::{BlockHeader, CompactTarget};
/// let bits = CompactTarget::from_consensus(0x1d00ffff);
/// let header = BlockHeader::new(2, [0; 32], [1; 32], 1_700_000_000, bits, 42);
/// let bytes = header.to_bytes();
/// assert_eq!(BlockHeader::from_bytes(&bytes), header);
/// assert_eq!(header.nonce(), 42);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockHeader {
    version: i32,
    prev_hash: Hash256,
    merkle_root: Hash256,
    time: u32,
    bits: CompactTarget,
    nonce: u32,
}

impl BlockHeader {
    /// Builds a header from its fields (hashes in internal byte order).
    pub fn new(
        version: i32,
        prev_hash: Hash256,
        merkle_root: Hash256,
        time: u32,
        bits: CompactTarget,
        nonce: u32,
    ) -> Self {
        Self {
            version,
            prev_hash,
            merkle_root,
            time,
            bits,
            nonce,
        }
    }

    /// Parses the 80 serialized bytes. Every byte pattern is a header, so
    /// this cannot fail; length is enforced by the type.
    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Self {
        let (version, rest) = split4(bytes);
        let (prev_hash, rest) = split32(rest);
        let (merkle_root, rest) = split32(rest);
        let (time, rest) = split4(rest);
        let (bits, rest) = split4(rest);
        let (nonce, _) = split4(rest);
        Self {
            version: i32::from_le_bytes(version),
            prev_hash,
            merkle_root,
            time: u32::from_le_bytes(time),
            bits: CompactTarget::from_consensus(u32::from_le_bytes(bits)),
            nonce: u32::from_le_bytes(nonce),
        }
    }

    /// Parses a header from a slice that must be exactly 80 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <&[u8; HEADER_LEN]>::try_from(bytes)
            .ok()
            .map(Self::from_bytes)
    }

    /// Serializes the header to its 80 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(&self.prev_hash);
        out[36..68].copy_from_slice(&self.merkle_root);
        out[68..72].copy_from_slice(&self.time.to_le_bytes());
        out[72..76].copy_from_slice(&self.bits.to_consensus().to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// sha256d of the serialized header, in internal byte order.
    pub fn hash(&self) -> Hash256 {
        sha256d(&self.to_bytes())
    }

    /// Block version (with any rolled version bits).
    pub fn version(&self) -> i32 {
        self.version
    }

    /// Hash of the previous block, internal byte order.
    pub fn prev_hash(&self) -> &Hash256 {
        &self.prev_hash
    }

    /// Merkle root of the block's transactions, internal byte order.
    pub fn merkle_root(&self) -> &Hash256 {
        &self.merkle_root
    }

    /// Block time, seconds since the Unix epoch.
    pub fn time(&self) -> u32 {
        self.time
    }

    /// Network target in compact form.
    pub fn bits(&self) -> CompactTarget {
        self.bits
    }

    /// Nonce.
    pub fn nonce(&self) -> u32 {
        self.nonce
    }

    /// Returns the header with another nonce (for miners).
    pub fn with_nonce(mut self, nonce: u32) -> Self {
        self.nonce = nonce;
        self
    }

    /// The first nonce in `nonces` whose header meets `target`: the one
    /// CPU search loop of the project (miners, tests, benches). Only the
    /// nonce field changes between hashes.
    pub fn find_nonce(&self, target: &Target, nonces: std::ops::Range<u32>) -> Option<u32> {
        let mut bytes = self.to_bytes();
        for nonce in nonces {
            bytes[NONCE_OFFSET..].copy_from_slice(&nonce.to_le_bytes());
            if target.is_met_by(&sha256d(&bytes)) {
                return Some(nonce);
            }
        }
        None
    }
}

fn split4(bytes: &[u8]) -> ([u8; 4], &[u8]) {
    let (head, rest) = bytes.split_at(4);
    let mut out = [0u8; 4];
    out.copy_from_slice(head);
    (out, rest)
}

fn split32(bytes: &[u8]) -> ([u8; 32], &[u8]) {
    let (head, rest) = bytes.split_at(32);
    let mut out = [0u8; 32];
    out.copy_from_slice(head);
    (out, rest)
}
