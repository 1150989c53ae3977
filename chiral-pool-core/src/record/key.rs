//! Record keys and their namespaces.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::PublicKey;
use crate::ids::{LinkId, PoolId};

/// Longest key, bytes.
pub const MAX_KEY_LEN: usize = 256;

/// Namespace of pool announcements: `chiral:pool:<pool id hex>`.
pub const POOL_PREFIX: &str = "chiral:pool:";
/// Namespace of share batches:
/// `chiral:share:<pool id hex>:<publisher hex>:<bucket>`.
pub const SHARE_PREFIX: &str = "chiral:share:";
/// Namespace of directory entries: `chiral:directory:<publisher hex>` holds
/// the pools one publisher announces; `chiral:directory:pools` is the
/// provider set of all publishers.
pub const DIRECTORY_PREFIX: &str = "chiral:directory:";
/// Namespace of share chain links: `chiral:link:<pool id hex>:<link id hex>`.
pub const LINK_PREFIX: &str = "chiral:link:";
/// Namespace of share chain checkpoints:
/// `chiral:checkpoint:<pool id hex>:<link id hex>`.
pub const CHECKPOINT_PREFIX: &str = "chiral:checkpoint:";
/// Namespace of pool parameters: `chiral:params:<pool id hex>`.
pub const PARAMS_PREFIX: &str = "chiral:params:";

/// A DHT key in one of the `chiral:` namespaces.
///
/// ```
/// use chiral_pool_core::{ids::PoolId, record::RecordKey};
/// let id = PoolId::from_bytes([0xab; 32]);
/// let key = RecordKey::pool(&id);
/// assert!(key.as_str().starts_with("chiral:pool:abab"));
/// assert_eq!(RecordKey::parse(key.as_str()), Some(key));
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey(String);

impl RecordKey {
    /// Key of a pool's announcement.
    pub fn pool(id: &PoolId) -> Self {
        RecordKey(format!("{POOL_PREFIX}{}", id.to_hex()))
    }

    /// Key of one publisher's share batch for a pool in a time bucket.
    pub fn share_batch(pool: &PoolId, publisher: &PublicKey, bucket: u64) -> Self {
        RecordKey(format!(
            "{SHARE_PREFIX}{}:{}:{bucket}",
            pool.to_hex(),
            publisher.to_hex()
        ))
    }

    /// Provider set of the publishers of share batches for a pool bucket.
    pub fn share_publishers(pool: &PoolId, bucket: u64) -> Self {
        RecordKey(format!(
            "{SHARE_PREFIX}{}:publishers:{bucket}",
            pool.to_hex()
        ))
    }

    /// Key of the list of pools one publisher announces.
    pub fn directory_entry(publisher: &PublicKey) -> Self {
        RecordKey(format!("{DIRECTORY_PREFIX}{}", publisher.to_hex()))
    }

    /// The provider set of every publisher that announces pools.
    pub fn directory_set() -> Self {
        RecordKey(format!("{DIRECTORY_PREFIX}pools"))
    }

    /// Key of a share chain link: its pool and its id.
    pub fn link(pool: &PoolId, id: &LinkId) -> Self {
        RecordKey(format!("{LINK_PREFIX}{}:{}", pool.to_hex(), id.to_hex()))
    }

    /// Key of the checkpoint at a checkpoint link.
    pub fn checkpoint(pool: &PoolId, id: &LinkId) -> Self {
        RecordKey(format!(
            "{CHECKPOINT_PREFIX}{}:{}",
            pool.to_hex(),
            id.to_hex()
        ))
    }

    /// Key of a pool's parameters.
    pub fn params(pool: &PoolId) -> Self {
        RecordKey(format!("{PARAMS_PREFIX}{}", pool.to_hex()))
    }

    /// Accepts a key of at most [`MAX_KEY_LEN`] bytes in a known namespace.
    pub fn parse(s: &str) -> Option<Self> {
        let known = [
            POOL_PREFIX,
            SHARE_PREFIX,
            DIRECTORY_PREFIX,
            LINK_PREFIX,
            CHECKPOINT_PREFIX,
            PARAMS_PREFIX,
        ];
        (s.len() <= MAX_KEY_LEN && known.iter().any(|p| s.starts_with(p)))
            .then(|| RecordKey(s.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as bytes (what the DHT hashes).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordKey({})", self.0)
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
