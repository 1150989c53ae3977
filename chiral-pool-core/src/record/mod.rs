//! Signed, expiring, versioned record envelopes.
//!
//! Every record that crosses the network is a [`SignedRecord`]: the signer's
//! key, a sequence number and an expiry are inside the signature, and the
//! key is bound to the signer (see [`SignedRecord::verify`]). Verification
//! runs on write and on read.

mod certified;
mod key;

pub use certified::{
    Checkpoint, PoolParams, LINK_RECORD_TTL_SECS, MAX_CHECKPOINT_EARLIER, MAX_CHECKPOINT_SPAN,
};
pub use key::{
    RecordKey, CHECKPOINT_PREFIX, DIRECTORY_PREFIX, LINK_PREFIX, MAX_KEY_LEN, PARAMS_PREFIX,
    POOL_PREFIX, SHARE_PREFIX,
};

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::identity::{IdentityError, Keypair, PublicKey, Signature};
use crate::ids::PoolId;
use crate::pool::{PoolAnnouncement, PoolError};
use crate::sharechain::{LinkError, ParamsError};

/// Envelope format version written by this crate (2: the coordinator
/// lease is gone, the share chain's kinds are in).
pub const RECORD_VERSION: u8 = 2;
/// Largest encoded record, bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Longest lifetime a record may claim, seconds (48 h): a record cannot
/// squat a key forever.
pub const MAX_TTL_SECS: u64 = 48 * 3600;

/// Domain separator of record signatures.
const SIGNING_DOMAIN: &[u8] = b"chiral/record/v1";

/// What a record holds; decides how its key is bound to its signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecordKind {
    /// A [`PoolAnnouncement`]; key `chiral:pool:<id>`, id derived from the signer.
    Pool,
    /// A batch of shares; the key names the signer.
    ShareBatch,
    /// A publisher's list of pools; the key names the signer.
    Directory,
    /// A share chain link, keyed by its pool and id; its work is its
    /// authority, the signer only carries it (see [`Checkpoint`]'s module).
    Link,
    /// A [`Checkpoint`] at a checkpoint link; checked by the links it
    /// names, carried by any member.
    Checkpoint,
    /// A pool's [`PoolParams`]; they hash to the key's pool id, so any
    /// member carries them.
    Params,
}

/// Why a record is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Bytes are not a record.
    #[error("record encoding: {0}")]
    Codec(#[from] CodecError),
    /// Envelope version not understood.
    #[error("unsupported record version {0}")]
    Version(u8),
    /// Encoded record above [`MAX_RECORD_BYTES`].
    #[error("record is {0} bytes, limit is {MAX_RECORD_BYTES}")]
    TooLarge(usize),
    /// Signature or key invalid.
    #[error("record signature: {0}")]
    Signature(#[from] IdentityError),
    /// The record's expiry is not after `now`.
    #[error("record expired at {expires_at}, now is {now}")]
    Expired {
        /// Record expiry, unix seconds.
        expires_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// Expiry further away than [`MAX_TTL_SECS`].
    #[error("record expiry {expires_at} is more than {MAX_TTL_SECS}s after {now}")]
    TtlTooLong {
        /// Record expiry, unix seconds.
        expires_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// The key is not in the namespace of the kind.
    #[error("key {key} does not fit record kind {kind:?}")]
    KeyNamespace {
        /// The key.
        key: String,
        /// The kind.
        kind: RecordKind,
    },
    /// The key is not bound to the signer (someone else's pool or slot).
    #[error("key {0} is not bound to the signer")]
    KeyBinding(String),
    /// The pool announcement inside is invalid.
    #[error("pool announcement: {0}")]
    Pool(#[from] PoolError),
    /// The link inside does not certify (its work, pool or encoding).
    #[error("link record: {0}")]
    Link(#[from] LinkError),
    /// The pool parameters inside are out of range.
    #[error("pool parameters: {0}")]
    Params(#[from] ParamsError),
    /// The content breaks a bound of its kind.
    #[error("record content: {0}")]
    Content(&'static str),
}

/// A signed, expiring record.
///
/// ```
/// use chiral_pool_core::{identity::Keypair, pool::PoolAnnouncement, record::*};
/// let owner = Keypair::from_secret_bytes([3; 32]);
/// let ann = PoolAnnouncement::new(owner.public(), "alpha", "stratum+tcp://127.0.0.1:3333", 100, 200);
/// let record = SignedRecord::pool(&owner, &ann, 1).unwrap();
/// assert!(record.verify(150).is_ok());
/// assert!(record.verify(200).is_err()); // expired
/// let bytes = record.to_bytes();
/// assert_eq!(SignedRecord::decode_verified(&bytes, 150).unwrap(), record);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    version: u8,
    kind: RecordKind,
    key: RecordKey,
    payload: Vec<u8>,
    publisher: PublicKey,
    seq: u64,
    expires_at: u64,
    signature: Signature,
}

/// The signed part of a record, borrowed for encoding.
#[derive(Serialize)]
struct SignedPart<'a> {
    version: u8,
    kind: RecordKind,
    key: &'a RecordKey,
    payload: &'a [u8],
    publisher: &'a PublicKey,
    seq: u64,
    expires_at: u64,
}

impl SignedRecord {
    /// Signs a record. The caller chooses a sequence number higher than any
    /// it published before under this key.
    pub fn sign(
        keypair: &Keypair,
        kind: RecordKind,
        key: RecordKey,
        payload: Vec<u8>,
        seq: u64,
        expires_at: u64,
    ) -> Result<Self, RecordError> {
        let publisher = keypair.public();
        let message = signing_bytes(&SignedPart {
            version: RECORD_VERSION,
            kind,
            key: &key,
            payload: &payload,
            publisher: &publisher,
            seq,
            expires_at,
        })?;
        let record = SignedRecord {
            version: RECORD_VERSION,
            kind,
            key,
            payload,
            publisher,
            seq,
            expires_at,
            signature: keypair.sign(&message),
        };
        let len = record.to_bytes().len();
        if len > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(len));
        }
        Ok(record)
    }

    /// Signs a pool announcement under its derived key; expires with it.
    pub fn pool(keypair: &Keypair, ann: &PoolAnnouncement, seq: u64) -> Result<Self, RecordError> {
        ann.validate()?;
        SignedRecord::sign(
            keypair,
            RecordKind::Pool,
            RecordKey::pool(&ann.id),
            codec::encode(ann)?,
            seq,
            ann.expires_at,
        )
    }

    /// Full verification at time `now` (unix seconds): version, size,
    /// expiry and TTL bound, signature, and key binding by kind.
    pub fn verify(&self, now: u64) -> Result<(), RecordError> {
        if self.version != RECORD_VERSION {
            return Err(RecordError::Version(self.version));
        }
        if self.expires_at <= now {
            return Err(RecordError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        if self.expires_at - now > MAX_TTL_SECS {
            return Err(RecordError::TtlTooLong {
                expires_at: self.expires_at,
                now,
            });
        }
        // Cheap structural checks first, the signature last.
        self.check_binding()?;
        let message = signing_bytes(&self.signed_part())?;
        if message.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(message.len()));
        }
        self.publisher.verify(&message, &self.signature)?;
        Ok(())
    }

    fn check_binding(&self) -> Result<(), RecordError> {
        let key = self.key.as_str();
        let namespace = |prefix: &str| {
            key.strip_prefix(prefix)
                .ok_or_else(|| RecordError::KeyNamespace {
                    key: key.to_owned(),
                    kind: self.kind,
                })
        };
        let bound = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(RecordError::KeyBinding(key.to_owned()))
            }
        };
        match self.kind {
            RecordKind::Pool => {
                namespace(POOL_PREFIX)?;
                let ann: PoolAnnouncement = codec::decode(&self.payload, MAX_RECORD_BYTES)?;
                ann.validate()?;
                bound(
                    ann.owner == self.publisher
                        && ann.expires_at == self.expires_at
                        && RecordKey::pool(&ann.id) == self.key,
                )
            }
            RecordKind::ShareBatch => {
                // <pool hex>:<publisher hex>:<bucket>
                let rest = namespace(SHARE_PREFIX)?;
                let mut parts = rest.split(':');
                let pool_ok = parts.next().is_some_and(|p| PoolId::from_hex(p).is_some());
                let publisher_ok = parts.next() == Some(self.publisher.to_hex().as_str());
                let bucket_ok = parts.next().is_some_and(|b| b.parse::<u64>().is_ok());
                bound(pool_ok && publisher_ok && bucket_ok && parts.next().is_none())
            }
            RecordKind::Directory => {
                let rest = namespace(DIRECTORY_PREFIX)?;
                bound(rest == self.publisher.to_hex())
            }
            RecordKind::Link => certified::check_binding(self, namespace(LINK_PREFIX)?),
            RecordKind::Checkpoint => certified::check_binding(self, namespace(CHECKPOINT_PREFIX)?),
            RecordKind::Params => certified::check_binding(self, namespace(PARAMS_PREFIX)?),
        }
    }

    fn signed_part(&self) -> SignedPart<'_> {
        SignedPart {
            version: self.version,
            kind: self.kind,
            key: &self.key,
            payload: &self.payload,
            publisher: &self.publisher,
            seq: self.seq,
            expires_at: self.expires_at,
        }
    }

    /// Encodes the record for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A record of our own type always encodes: sizes are bounded by
        // construction; fall back to empty (rejected on decode) otherwise.
        codec::encode(self).unwrap_or_default()
    }

    /// Decodes a record without verifying it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        Ok(codec::decode(bytes, MAX_RECORD_BYTES)?)
    }

    /// Decodes and verifies a record at time `now`.
    pub fn decode_verified(bytes: &[u8], now: u64) -> Result<Self, RecordError> {
        let record = Self::from_bytes(bytes)?;
        record.verify(now)?;
        Ok(record)
    }

    /// Decodes the payload of a verified pool record.
    pub fn pool_announcement(&self) -> Result<PoolAnnouncement, RecordError> {
        Ok(codec::decode(&self.payload, MAX_RECORD_BYTES)?)
    }

    /// A copy with another sequence number and the old signature, so it no
    /// longer verifies. For fault injection and tests of verification.
    pub fn with_seq_unsigned(&self, seq: u64) -> SignedRecord {
        SignedRecord {
            seq,
            ..self.clone()
        }
    }

    /// Record kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }
    /// Record key.
    pub fn key(&self) -> &RecordKey {
        &self.key
    }
    /// Payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// Signer.
    pub fn publisher(&self) -> &PublicKey {
        &self.publisher
    }
    /// Sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// Expiry, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// Signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

fn signing_bytes(part: &SignedPart<'_>) -> Result<Vec<u8>, RecordError> {
    let mut message = SIGNING_DOMAIN.to_vec();
    message.extend_from_slice(&codec::encode(part)?);
    Ok(message)
}

/// Picks the winner among candidates for one key: only records that
/// verify at `now` compete. The highest sequence number wins, then the
/// later expiry, then the smaller publisher key, then the smaller
/// signature. Every node that sees the same candidates picks the same
/// record.
pub fn select_best<'a>(
    candidates: impl IntoIterator<Item = &'a SignedRecord>,
    now: u64,
) -> Option<&'a SignedRecord> {
    candidates
        .into_iter()
        .filter(|r| r.verify(now).is_ok())
        .max_by(|a, b| compare(a, b))
}

/// The order [`select_best`] picks the greatest of.
fn compare(a: &SignedRecord, b: &SignedRecord) -> std::cmp::Ordering {
    a.seq()
        .cmp(&b.seq())
        .then(a.expires_at().cmp(&b.expires_at()))
        .then_with(|| b.publisher().cmp(a.publisher()))
        .then_with(|| b.signature().cmp(a.signature()))
}
