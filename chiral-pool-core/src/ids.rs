//! Identifiers: pools and the payout ids of miners.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::PublicKey;

/// A pool's id: a hash of its owner's key, its name and every rule of its
/// share chain (see [`ChainParams::pool_id`](crate::sharechain::ChainParams::pool_id)).
///
/// Deriving the id from the owner's key means only the owner can sign a
/// valid announcement for it; deriving it from the rules means a node with
/// other rules is on another pool.
///
/// ```
/// use chiral_pool_core::{identity::Keypair, ids::PoolId};
/// let owner = Keypair::from_secret_bytes([7; 32]).public();
/// assert_eq!(PoolId::derive(&owner, "alpha"), PoolId::derive(&owner, "alpha"));
/// assert_ne!(PoolId::derive(&owner, "alpha"), PoolId::derive(&owner, "beta"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PoolId([u8; 32]);

impl PoolId {
    /// The id of the pool `name` owned by `owner` under the default share
    /// chain rules ([`ChainParams::new`](crate::sharechain::ChainParams::new)).
    pub fn derive(owner: &PublicKey, name: &str) -> Self {
        crate::sharechain::ChainParams::new().pool_id(owner, name)
    }

    /// Wraps raw bytes (for decoding; ids are normally derived).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PoolId(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(PoolId(out))
    }
}

impl fmt::Debug for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolId({})", self.to_hex())
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A share chain link's id: its header hash, internal byte order.
///
/// A link is self-certifying: its id is the hash its work is measured on,
/// so no signature is needed to name or store it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId([u8; 32]);

impl LinkId {
    /// Wraps a header hash.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        LinkId(bytes)
    }

    /// The raw bytes (the header hash, internal byte order).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex of the bytes in display order (reversed, as block
    /// hashes are shown).
    pub fn to_hex(&self) -> String {
        let mut shown = self.0;
        shown.reverse();
        hex::encode(shown)
    }

    /// Parses [`LinkId::to_hex`]'s form: 64 hex digits in display order.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        out.reverse();
        Some(LinkId(out))
    }

    /// Whether this link is a checkpoint: its id's lowest byte is a
    /// multiple of [`CHECKPOINT_EVERY`], so about one link in 64 is one,
    /// and any node tells which without knowing its height.
    pub fn is_checkpoint(&self) -> bool {
        // Byte 0 is the least significant byte of the hash as a number:
        // uniform, whatever target the link met.
        self.0[0].is_multiple_of(CHECKPOINT_EVERY)
    }
}

/// One link in this many, on average, is a checkpoint
/// ([`LinkId::is_checkpoint`]).
pub const CHECKPOINT_EVERY: u8 = 64;

impl fmt::Debug for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkId({})", self.to_hex())
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Longest payout id, in bytes.
pub const MAX_PAYOUT_ID_LEN: usize = 64;

/// Why a string is not a payout id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayoutIdError {
    /// Empty or longer than [`MAX_PAYOUT_ID_LEN`].
    #[error("payout id must be 1 to {MAX_PAYOUT_ID_LEN} bytes, got {0}")]
    Length(usize),
    /// A character outside `[A-Za-z0-9_-:]`.
    #[error("payout id may only hold ASCII letters, digits, '_', '-' and ':'")]
    Charset,
}

/// Where a miner's earnings go: a payout address or account name, 1 to 64
/// bytes of `[A-Za-z0-9_-:]`. The `.` is excluded because Stratum usernames
/// are `<payout id>.<worker>`.
///
/// ```
/// use chiral_pool_core::ids::PayoutId;
/// assert!(PayoutId::new("bc1qalice").is_ok());
/// assert!(PayoutId::new("bad.id").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PayoutId(String);

impl PayoutId {
    /// Checks and wraps a payout id.
    pub fn new(id: impl Into<String>) -> Result<Self, PayoutIdError> {
        let id = id.into();
        Self::check(id.as_bytes())?;
        Ok(PayoutId(id))
    }

    /// Checks raw bytes and wraps them (used by coinbase commitments).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayoutIdError> {
        Self::check(bytes)?;
        // The charset check guarantees ASCII, hence UTF-8.
        Ok(PayoutId(bytes.iter().map(|&b| b as char).collect()))
    }

    fn check(bytes: &[u8]) -> Result<(), PayoutIdError> {
        if bytes.is_empty() || bytes.len() > MAX_PAYOUT_ID_LEN {
            return Err(PayoutIdError::Length(bytes.len()));
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
        {
            return Err(PayoutIdError::Charset);
        }
        Ok(())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PayoutId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        PayoutId::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for PayoutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayoutId({})", self.0)
    }
}

impl fmt::Display for PayoutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
