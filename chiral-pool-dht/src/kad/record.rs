//! Records at the edge: our [`SignedRecord`] to and from kad's record, and
//! what a record that fails verification says about the peer that sent it.

use std::time::{Duration, Instant};

use chiral_pool_core::record::{RecordError, SignedRecord, MAX_TTL_SECS};
use libp2p::kad;

/// Why a kad record is not a valid [`SignedRecord`] for its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum InvalidRecord {
    /// The value does not verify.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The value verifies but is signed for another key.
    #[error("kad key differs from the signed key")]
    KeyMismatch,
}

/// What an invalid record says about the peer that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Expired, or expiring too far ahead by no more than the clock-skew
    /// tolerance. Honest peers send these: Kademlia keeps a record up to a
    /// second past its signed expiry (kept in whole seconds) and clocks
    /// differ between machines. Dropped without a strike. Expiry is
    /// checked before the signature, so such records cost no signature
    /// check and are no lever for making us work.
    Stale,
    /// No honest peer sends it: bad encoding, signature or key binding,
    /// or a lifetime beyond [`MAX_TTL_SECS`] plus the tolerance. A strike.
    Forged,
}

impl InvalidRecord {
    /// The fault of the sender, with `skew` of clock difference tolerated.
    pub(super) fn fault(&self, skew: Duration) -> Fault {
        match self {
            InvalidRecord::Record(RecordError::Expired { .. }) => Fault::Stale,
            InvalidRecord::Record(RecordError::TtlTooLong { expires_at, now })
                if expires_at.saturating_sub(*now)
                    <= MAX_TTL_SECS.saturating_add(skew.as_secs()) =>
            {
                Fault::Stale
            }
            _ => Fault::Forged,
        }
    }
}

/// Decodes and verifies a kad record at `now` (unix seconds): the signed
/// record must verify and be signed for the kad key it is stored under.
pub(super) fn verify_kad_record(
    record: &kad::Record,
    now: u64,
) -> Result<SignedRecord, InvalidRecord> {
    let r = SignedRecord::decode_verified(&record.value, now)?;
    if r.key().as_bytes() != record.key.as_ref() {
        return Err(InvalidRecord::KeyMismatch);
    }
    Ok(r)
}

/// The kad record carrying `record`, expiring with it.
pub(super) fn to_kad_record(record: &SignedRecord, now: u64) -> kad::Record {
    let mut r = kad::Record::new(
        kad::RecordKey::new(&record.key().as_bytes()),
        record.to_bytes(),
    );
    r.expires = Some(expiry_instant(record.expires_at(), now));
    r
}

/// The instant of a unix-seconds expiry, read against `now`.
pub(super) fn expiry_instant(expires_at: u64, now: u64) -> Instant {
    Instant::now() + Duration::from_secs(expires_at.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chiral_pool_core::identity::IdentityError;

    const SKEW: Duration = Duration::from_secs(30);

    fn fault(e: RecordError) -> Fault {
        InvalidRecord::Record(e).fault(SKEW)
    }

    #[test]
    fn expired_and_slightly_early_records_are_stale() {
        assert_eq!(
            fault(RecordError::Expired {
                expires_at: 99,
                now: 100
            }),
            Fault::Stale
        );
        let now = 1_000;
        let early = |ahead: u64| RecordError::TtlTooLong {
            expires_at: now + MAX_TTL_SECS + ahead,
            now,
        };
        assert_eq!(fault(early(1)), Fault::Stale);
        assert_eq!(fault(early(30)), Fault::Stale);
        assert_eq!(fault(early(31)), Fault::Forged);
    }

    #[test]
    fn forgeries_are_faults() {
        assert_eq!(
            fault(RecordError::Signature(IdentityError::BadSignature)),
            Fault::Forged
        );
        assert_eq!(fault(RecordError::KeyBinding("k".into())), Fault::Forged);
        assert_eq!(InvalidRecord::KeyMismatch.fault(SKEW), Fault::Forged);
    }
}
