//! Records whose authority is their content, not their signer: share chain
//! links (their work), checkpoints (checked by the links they name) and
//! pool parameters (they hash to the pool id).
//!
//! Such a record still travels in a [`SignedRecord`] envelope, signed by
//! whichever node stores it: the signature names the carrier (whom a
//! store strikes for a forgery), never an authority. Any member of a pool
//! may carry any of them, so they can outlive the node that first
//! published them. Their sequence number is always 0 and their key is the
//! canonical one for their content, so a carrier can neither outbid
//! another copy nor store the same content under a second key.

use serde::{Deserialize, Serialize};

use super::{RecordError, RecordKey, RecordKind, SignedRecord, MAX_RECORD_BYTES, MAX_TTL_SECS};
use crate::codec;
use crate::identity::{Keypair, PublicKey};
use crate::ids::{LinkId, PoolId};
use crate::pool::{PoolAnnouncement, MAX_NAME_LEN};
use crate::sharechain::{Certified, ChainParams, Link};

/// How long a link record lives after its header time, seconds (47 h):
/// about two windows at the default time cap (and far more than two at
/// the default depth cap), within [`MAX_TTL_SECS`] even for a header time
/// an hour ahead. A link is unsigned, so no other expiry could be
/// trusted: this one follows from the link itself.
pub const LINK_RECORD_TTL_SECS: u64 = MAX_TTL_SECS - 3_600;

/// Most ancestors one checkpoint lists. A checkpoint link comes about
/// every 64 links, so a longer gap (odds about 1 in 3,000) ends the list
/// early and the reader goes on link by link.
pub const MAX_CHECKPOINT_SPAN: usize = 512;

/// Most earlier checkpoint links one checkpoint names: two windows of the
/// default depth cap (4,320 links) hold about 68.
pub const MAX_CHECKPOINT_EARLIER: usize = 96;

/// What a fresh node reads to fetch a chain in parallel instead of one
/// link at a time. Stored at a checkpoint link ([`LinkId::is_checkpoint`]).
///
/// The record carries the checkpoint link itself, so its key, its expiry
/// and the first ancestor are bound to that link's work. The rest is not
/// trusted: a reader fetches the links it names by id (each proves its own
/// work), in order, and keeps only those that chain from the checkpoint
/// link by their own parent commitments. A wrong checkpoint costs one
/// round of fetches, never a wrong chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The checkpoint link ([`LinkId::is_checkpoint`]).
    pub link: Link,
    /// The checkpoint link's ancestors, newest first: its parent, then
    /// each parent's parent, down to the previous checkpoint link or a
    /// genesis link (both included); at most [`MAX_CHECKPOINT_SPAN`].
    pub ancestors: Vec<LinkId>,
    /// The checkpoint links below the last of `ancestors`, newest first;
    /// at most [`MAX_CHECKPOINT_EARLIER`]. Their own checkpoints can be
    /// read all at once.
    pub earlier: Vec<LinkId>,
}

/// A pool's identity and rules: what its id is the hash of
/// ([`ChainParams::pool_id`]). Self-certifying, so any member republishes
/// it and a pool outlives its owner's announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolParams {
    /// The pool's owner (paid the fee).
    pub owner: PublicKey,
    /// The pool's name.
    pub name: String,
    /// Every rule a member applies.
    pub chain: ChainParams,
}

impl PoolParams {
    /// The id these parameters hash to.
    pub fn id(&self) -> PoolId {
        self.chain.pool_id(&self.owner, &self.name)
    }

    /// An announcement of this pool made from its parameters alone (no
    /// Stratum URL, no statistics): enough to follow it when the owner's
    /// own announcement is gone.
    pub fn announcement(&self, created_at: u64, expires_at: u64) -> PoolAnnouncement {
        PoolAnnouncement::new(self.owner, &self.name, "", created_at, expires_at)
            .with_chain(self.chain.clone())
    }
}

impl SignedRecord {
    /// A link record carried by `carrier`, keyed by the link's pool and
    /// id, expiring [`LINK_RECORD_TTL_SECS`] after its header time.
    pub fn link(carrier: &Keypair, pool: &PoolId, link: &Link) -> Result<Self, RecordError> {
        let certified = link.certify(pool)?;
        SignedRecord::sign(
            carrier,
            RecordKind::Link,
            RecordKey::link(pool, &certified.id()),
            link.to_bytes()?,
            0,
            link.record_expiry(),
        )
    }

    /// The checkpoint of `pool` at its link, carried by `carrier`;
    /// expires with the link's record.
    pub fn checkpoint(
        carrier: &Keypair,
        pool: &PoolId,
        checkpoint: &Checkpoint,
    ) -> Result<Self, RecordError> {
        let at = check_checkpoint(pool, checkpoint)?;
        SignedRecord::sign(
            carrier,
            RecordKind::Checkpoint,
            RecordKey::checkpoint(pool, &at),
            codec::encode(checkpoint)?,
            0,
            checkpoint.link.record_expiry(),
        )
    }

    /// A pool's parameters, carried by `carrier` (any member).
    pub fn params(
        carrier: &Keypair,
        params: &PoolParams,
        expires_at: u64,
    ) -> Result<Self, RecordError> {
        check_params(params)?;
        SignedRecord::sign(
            carrier,
            RecordKind::Params,
            RecordKey::params(&params.id()),
            codec::encode(params)?,
            0,
            expires_at,
        )
    }

    /// The link in a verified link record.
    pub fn link_payload(&self) -> Result<Link, RecordError> {
        self.expect_kind(RecordKind::Link)?;
        Ok(Link::from_bytes(&self.payload)?)
    }

    /// The pool and the link of a link or checkpoint record, certified
    /// again (a store's replica rule reads them).
    pub fn link_summary(&self) -> Option<(PoolId, Certified)> {
        let (prefix, link) = match self.kind {
            RecordKind::Link => (super::LINK_PREFIX, self.link_payload().ok()?),
            RecordKind::Checkpoint => (
                super::CHECKPOINT_PREFIX,
                self.checkpoint_payload().ok()?.link,
            ),
            _ => return None,
        };
        let (pool, _) = pool_and_link(self.key.as_str().strip_prefix(prefix)?)?;
        Some((pool, link.certify(&pool).ok()?))
    }

    /// The checkpoint in a verified checkpoint record.
    pub fn checkpoint_payload(&self) -> Result<Checkpoint, RecordError> {
        self.expect_kind(RecordKind::Checkpoint)?;
        Ok(codec::decode(&self.payload, MAX_RECORD_BYTES)?)
    }

    /// The parameters in a verified params record.
    pub fn params_payload(&self) -> Result<PoolParams, RecordError> {
        self.expect_kind(RecordKind::Params)?;
        Ok(codec::decode(&self.payload, MAX_RECORD_BYTES)?)
    }

    fn expect_kind(&self, kind: RecordKind) -> Result<(), RecordError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(RecordError::KeyNamespace {
                key: self.key.as_str().to_owned(),
                kind: self.kind,
            })
        }
    }
}

/// Checks a checkpoint's bounds and its link; returns the link's id.
fn check_checkpoint(pool: &PoolId, checkpoint: &Checkpoint) -> Result<LinkId, RecordError> {
    let certified = checkpoint.link.certify(pool)?;
    if !certified.id().is_checkpoint() {
        return Err(RecordError::Content("the link is not a checkpoint link"));
    }
    if checkpoint.ancestors.first().copied() != certified.parent() {
        return Err(RecordError::Content(
            "a checkpoint's first ancestor is not its link's parent",
        ));
    }
    if checkpoint.ancestors.len() > MAX_CHECKPOINT_SPAN {
        return Err(RecordError::Content(
            "a checkpoint lists too many ancestors",
        ));
    }
    if checkpoint.earlier.len() > MAX_CHECKPOINT_EARLIER {
        return Err(RecordError::Content(
            "a checkpoint names too many earlier checkpoints",
        ));
    }
    Ok(certified.id())
}

fn check_params(params: &PoolParams) -> Result<(), RecordError> {
    if params.name.is_empty() || params.name.len() > MAX_NAME_LEN {
        return Err(RecordError::Content("pool name length"));
    }
    params.chain.check()?;
    Ok(())
}

/// The key binding of the content-certified kinds: the content decides
/// the key (in its canonical form), the sequence number is 0 and, for
/// links and checkpoints, the expiry follows the link. `rest` is the key
/// after its namespace prefix.
pub(super) fn check_binding(record: &SignedRecord, rest: &str) -> Result<(), RecordError> {
    if record.seq != 0 {
        return Err(RecordError::Content(
            "a content-checked record has sequence 0",
        ));
    }
    let bound = |key: RecordKey, expires_at: Option<u64>| {
        if key == record.key && expires_at.is_none_or(|e| e == record.expires_at) {
            Ok(())
        } else {
            Err(unbound(record))
        }
    };
    match record.kind {
        RecordKind::Link => {
            let (pool, _) = pool_and_link(rest).ok_or_else(|| unbound(record))?;
            let link = Link::from_bytes(&record.payload)?;
            let certified = link.certify(&pool)?;
            bound(
                RecordKey::link(&pool, &certified.id()),
                Some(link.record_expiry()),
            )
        }
        RecordKind::Checkpoint => {
            let (pool, _) = pool_and_link(rest).ok_or_else(|| unbound(record))?;
            let checkpoint: Checkpoint = codec::decode(&record.payload, MAX_RECORD_BYTES)?;
            let at = check_checkpoint(&pool, &checkpoint)?;
            bound(
                RecordKey::checkpoint(&pool, &at),
                Some(checkpoint.link.record_expiry()),
            )
        }
        RecordKind::Params => {
            let pool = PoolId::from_hex(rest).ok_or_else(|| unbound(record))?;
            let params: PoolParams = codec::decode(&record.payload, MAX_RECORD_BYTES)?;
            check_params(&params)?;
            if params.id() != pool {
                return Err(unbound(record));
            }
            bound(RecordKey::params(&pool), None)
        }
        _ => Err(unbound(record)),
    }
}

fn unbound(record: &SignedRecord) -> RecordError {
    RecordError::KeyBinding(record.key.as_str().to_owned())
}

/// `<pool id hex>:<link id hex>`.
fn pool_and_link(rest: &str) -> Option<(PoolId, LinkId)> {
    let (pool, id) = rest.split_once(':')?;
    Some((PoolId::from_hex(pool)?, LinkId::from_hex(id)?))
}
