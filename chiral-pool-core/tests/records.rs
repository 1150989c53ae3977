//! Forged, replayed, expired and oversized records are rejected.

use chiral_pool_core::identity::{IdentityError, Keypair};
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::pool::{PoolAnnouncement, PoolError};
use chiral_pool_core::record::{
    select_best, RecordError, RecordKey, RecordKind, SignedRecord, MAX_RECORD_BYTES, MAX_TTL_SECS,
};

const NOW: u64 = 1_800_000_000;

fn alice() -> Keypair {
    Keypair::from_secret_bytes([1; 32])
}
fn mallory() -> Keypair {
    Keypair::from_secret_bytes([66; 32])
}

fn announcement(owner: &Keypair) -> PoolAnnouncement {
    PoolAnnouncement::new(
        owner.public(),
        "alpha",
        "stratum+tcp://127.0.0.1:3333",
        NOW,
        NOW + 3600,
    )
}

#[test]
fn a_signed_pool_record_verifies_and_round_trips() {
    let rec = SignedRecord::pool(&alice(), &announcement(&alice()), 1).expect("signs");
    assert_eq!(rec.verify(NOW), Ok(()));
    let back = SignedRecord::decode_verified(&rec.to_bytes(), NOW).expect("decodes");
    assert_eq!(back, rec);
    assert_eq!(
        back.pool_announcement().expect("payload"),
        announcement(&alice())
    );
}

#[test]
fn a_tampered_record_fails_its_signature() {
    let rec = SignedRecord::pool(&alice(), &announcement(&alice()), 1).expect("signs");
    let mut bytes = rec.to_bytes();
    // Flip a byte of the description-free region: the seq/expiry/payload are signed.
    let last_payload_byte = bytes.len() - 64 - 10;
    bytes[last_payload_byte] ^= 1;
    match SignedRecord::decode_verified(&bytes, NOW) {
        Err(RecordError::Signature(IdentityError::BadSignature))
        | Err(RecordError::KeyBinding(_))
        | Err(RecordError::Pool(_))
        | Err(RecordError::Codec(_))
        | Err(RecordError::Expired { .. })
        | Err(RecordError::TtlTooLong { .. }) => {}
        other => panic!("tampered record accepted: {other:?}"),
    }
    // A pure signature forgery: same record, a signature from another key.
    let forged = SignedRecord::sign(
        &mallory(),
        RecordKind::Pool,
        rec.key().clone(),
        rec.payload().to_vec(),
        2,
        rec.expires_at(),
    )
    .expect("signs");
    assert_eq!(
        forged.verify(NOW),
        Err(RecordError::KeyBinding(rec.key().to_string()))
    );
}

#[test]
fn signature_bytes_are_checked() {
    // Re-sign a directory record, then graft alice's signature onto mallory's
    // otherwise valid record of the same shape.
    let key_a = RecordKey::directory_entry(&alice().public());
    let a = SignedRecord::sign(&alice(), RecordKind::Directory, key_a, vec![1], 1, NOW + 60)
        .expect("signs");
    let key_b = RecordKey::directory_entry(&alice().public());
    let b = SignedRecord::sign(&alice(), RecordKind::Directory, key_b, vec![2], 1, NOW + 60)
        .expect("signs");
    let mut bytes = b.to_bytes();
    let sig_at = bytes.len() - 64;
    bytes[sig_at..].copy_from_slice(a.signature().as_bytes());
    assert_eq!(
        SignedRecord::decode_verified(&bytes, NOW),
        Err(RecordError::Signature(IdentityError::BadSignature))
    );
}

#[test]
fn nobody_else_can_publish_under_a_pool_id() {
    let alice_ann = announcement(&alice());
    // Mallory signs alice's announcement as is.
    let copied = SignedRecord::sign(
        &mallory(),
        RecordKind::Pool,
        RecordKey::pool(&alice_ann.id),
        chiral_pool_core::codec::encode(&alice_ann).expect("encodes"),
        99,
        alice_ann.expires_at,
    )
    .expect("signs");
    assert!(matches!(
        copied.verify(NOW),
        Err(RecordError::KeyBinding(_))
    ));

    // Mallory claims alice's id with herself as owner.
    let mut claimed = announcement(&mallory());
    claimed.id = alice_ann.id;
    assert_eq!(
        SignedRecord::pool(&mallory(), &claimed, 99).map(|_| ()),
        Err(RecordError::Pool(PoolError::IdMismatch))
    );

    // Mallory's own valid announcement stored under alice's key.
    let own = announcement(&mallory());
    let squatting = SignedRecord::sign(
        &mallory(),
        RecordKind::Pool,
        RecordKey::pool(&alice_ann.id),
        chiral_pool_core::codec::encode(&own).expect("encodes"),
        99,
        own.expires_at,
    )
    .expect("signs");
    assert!(matches!(
        squatting.verify(NOW),
        Err(RecordError::KeyBinding(_))
    ));

    // Share batches and directory entries name their publisher.
    let pool = PoolId::derive(&alice().public(), "alpha");
    let batch = SignedRecord::sign(
        &mallory(),
        RecordKind::ShareBatch,
        RecordKey::share_batch(&pool, &alice().public(), 5),
        vec![],
        1,
        NOW + 60,
    )
    .expect("signs");
    assert!(matches!(batch.verify(NOW), Err(RecordError::KeyBinding(_))));
    let dir = SignedRecord::sign(
        &mallory(),
        RecordKind::Directory,
        RecordKey::directory_entry(&alice().public()),
        vec![],
        1,
        NOW + 60,
    )
    .expect("signs");
    assert!(matches!(dir.verify(NOW), Err(RecordError::KeyBinding(_))));
    let wrong_ns = SignedRecord::sign(
        &alice(),
        RecordKind::Directory,
        RecordKey::pool(&pool),
        vec![],
        1,
        NOW + 60,
    )
    .expect("signs");
    assert!(matches!(
        wrong_ns.verify(NOW),
        Err(RecordError::KeyNamespace { .. })
    ));
}

#[test]
fn expired_and_overlong_records_are_rejected() {
    let rec = SignedRecord::pool(&alice(), &announcement(&alice()), 1).expect("signs");
    assert!(matches!(
        rec.verify(NOW + 3600),
        Err(RecordError::Expired { .. })
    ));
    let mut ann = announcement(&alice());
    ann.expires_at = NOW + MAX_TTL_SECS + 1;
    let long = SignedRecord::pool(&alice(), &ann, 1).expect("signs");
    assert!(matches!(
        long.verify(NOW),
        Err(RecordError::TtlTooLong { .. })
    ));
    assert_eq!(long.verify(NOW + 2), Ok(()));
}

#[test]
fn the_highest_sequence_wins_and_replays_lose() {
    let mut ann = announcement(&alice());
    let v1 = SignedRecord::pool(&alice(), &ann, 1).expect("signs");
    ann.description = "updated".into();
    let v2 = SignedRecord::pool(&alice(), &ann, 2).expect("signs");
    let forged = SignedRecord::sign(
        &mallory(),
        RecordKind::Pool,
        v2.key().clone(),
        v2.payload().to_vec(),
        1_000,
        v2.expires_at(),
    )
    .expect("signs");
    for order in [
        vec![&v1, &v2, &forged],
        vec![&forged, &v2, &v1],
        vec![&v2, &v1, &v1],
    ] {
        assert_eq!(select_best(order, NOW), Some(&v2));
    }
    assert_eq!(select_best([&forged], NOW), None);
    assert_eq!(select_best([&v1, &v2], NOW + 3600), None);
}

#[test]
fn oversized_records_are_rejected() {
    let key = RecordKey::directory_entry(&alice().public());
    let huge = vec![0u8; MAX_RECORD_BYTES];
    assert!(matches!(
        SignedRecord::sign(&alice(), RecordKind::Directory, key, huge, 1, NOW + 60),
        Err(RecordError::Codec(_)) | Err(RecordError::TooLarge(_))
    ));
    let bytes = vec![0u8; MAX_RECORD_BYTES + 1];
    assert_eq!(
        SignedRecord::from_bytes(&bytes),
        Err(RecordError::TooLarge(MAX_RECORD_BYTES + 1))
    );
}
