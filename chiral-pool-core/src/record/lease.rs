//! Coordinator leases: who coordinates a pool, for how long.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{RecordError, RecordKind, SignedRecord, MAX_RECORD_BYTES};
use crate::codec;
use crate::ids::PoolId;

/// The payload of a coordinator record. The holder is the record's signer,
/// so nobody can claim a lease in another node's name; the lease ends at
/// the record's expiry unless the holder renews it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinatorLease {
    /// The pool coordinated.
    pub pool_id: PoolId,
    /// Unix time the holder's uninterrupted tenure began; renewals keep it.
    pub since: u64,
}

impl CoordinatorLease {
    /// Decodes the lease inside a coordinator record.
    pub fn from_record(record: &SignedRecord) -> Result<Self, RecordError> {
        Ok(codec::decode(record.payload(), MAX_RECORD_BYTES)?)
    }
}

/// The winner rule between two candidates for one key (`Greater` = `a`
/// wins). Coordinator leases: the earliest `since` wins (the incumbent),
/// then the smaller holder key; one holder's renewals by sequence number.
/// Every other kind: the highest sequence number, then the later expiry,
/// then the smaller publisher key, then the smaller signature.
pub(super) fn compare(a: &SignedRecord, b: &SignedRecord) -> Ordering {
    if a.kind() == RecordKind::Coordinator && b.kind() == RecordKind::Coordinator {
        if let (Ok(la), Ok(lb)) = (
            CoordinatorLease::from_record(a),
            CoordinatorLease::from_record(b),
        ) {
            if a.publisher() != b.publisher() {
                return lb
                    .since
                    .cmp(&la.since)
                    .then_with(|| b.publisher().cmp(a.publisher()));
            }
        }
    }
    a.seq()
        .cmp(&b.seq())
        .then(a.expires_at().cmp(&b.expires_at()))
        .then_with(|| b.publisher().cmp(a.publisher()))
        .then_with(|| b.signature().cmp(a.signature()))
}
