//! Property tests: codecs round-trip and no decoder panics on arbitrary bytes.

use chiral_pool_core::codec;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::pow::{BlockHeader, CompactTarget, Difficulty, Target};
use chiral_pool_core::record::{RecordKey, RecordKind, SignedRecord};
use chiral_pool_core::share::commitment::{encode_commitment, find_commitment};
use chiral_pool_core::share::Share;
use proptest::prelude::*;

fn payout_id() -> impl Strategy<Value = PayoutId> {
    "[A-Za-z0-9_:-]{1,64}".prop_map(|s| PayoutId::new(s).expect("valid by construction"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_bytes_round_trip(bytes in prop::array::uniform32(any::<u8>()), tail in prop::collection::vec(any::<u8>(), 48)) {
        let mut all = [0u8; 80];
        all[..32].copy_from_slice(&bytes);
        all[32..].copy_from_slice(&tail);
        prop_assert_eq!(BlockHeader::from_bytes(&all).to_bytes(), all);
    }

    #[test]
    fn compact_targets_round_trip(bits in any::<u32>()) {
        if let Ok(t) = Target::from_compact(CompactTarget::from_consensus(bits)) {
            let again = Target::from_compact(t.to_compact_lossy()).expect("re-encodes validly");
            prop_assert_eq!(again, t);
        }
    }

    #[test]
    fn lossy_compact_never_rounds_up(bytes in prop::array::uniform32(any::<u8>())) {
        let t = Target::from_le_bytes(bytes);
        if let Ok(back) = Target::from_compact(t.to_compact_lossy()) {
            prop_assert!(back <= t);
        }
    }

    #[test]
    fn difficulty_is_monotone(a in 1e-12f64..1e15, b in 1e-12f64..1e15) {
        let (ta, tb) = (Target::from_difficulty(a).expect("ok"), Target::from_difficulty(b).expect("ok"));
        if a <= b { prop_assert!(ta >= tb) } else { prop_assert!(ta <= tb) }
        prop_assert!(Difficulty::from_target(&ta) <= Difficulty::from_target(&Target::from_difficulty(a * 2.0).expect("ok")));
    }

    #[test]
    fn commitments_round_trip(pool in prop::array::uniform32(any::<u8>()), payout in payout_id(),
                              pre in prop::collection::vec(any::<u8>(), 0..64),
                              post in prop::collection::vec(any::<u8>(), 0..64)) {
        let pool = PoolId::from_bytes(pool);
        let mut coinbase = pre.clone();
        coinbase.extend(encode_commitment(&pool, &payout));
        coinbase.extend(post);
        if pre.windows(6).all(|w| w != b"CHRLv1") {
            match find_commitment(&coinbase) {
                Ok(found) => prop_assert_eq!(found, (pool, payout)),
                // Random bytes may by chance form a second tag.
                Err(e) => prop_assert_eq!(e, chiral_pool_core::share::commitment::CommitmentError::Ambiguous),
            }
        }
    }

    #[test]
    fn shares_round_trip(payout in payout_id(), coinbase in prop::collection::vec(any::<u8>(), 0..512),
                         branch in prop::collection::vec(prop::array::uniform32(any::<u8>()), 0..12),
                         nonce in any::<u32>(), target in prop::array::uniform32(any::<u8>())) {
        let share = Share {
            pool_id: PoolId::from_bytes([3; 32]),
            payout_id: payout,
            target: Target::from_le_bytes(target),
            header: BlockHeader::new(1, [1; 32], [2; 32], 3, CompactTarget::from_consensus(4), nonce),
            coinbase,
            merkle_branch: branch,
        };
        let bytes = share.to_bytes().expect("encodes");
        prop_assert_eq!(Share::from_bytes(&bytes).expect("decodes"), share);
    }

    #[test]
    fn records_round_trip(payload in prop::collection::vec(any::<u8>(), 0..2048), seq in any::<u64>(), ttl in 1u64..3600) {
        let kp = Keypair::from_secret_bytes([9; 32]);
        let now = 1_000_000;
        let rec = SignedRecord::sign(&kp, RecordKind::Directory, RecordKey::directory_entry(&kp.public()), payload, seq, now + ttl).expect("signs");
        prop_assert_eq!(SignedRecord::decode_verified(&rec.to_bytes(), now).expect("verifies"), rec);
    }

    #[test]
    fn pool_announcements_round_trip(name in "[a-z]{1,64}", desc in ".{0,200}", fee in 0u16..=10_000) {
        let kp = Keypair::from_secret_bytes([4; 32]);
        let mut ann = PoolAnnouncement::new(kp.public(), &name, "stratum+tcp://h:1", 10, 20);
        ann.description = desc;
        ann.fee = chiral_pool_core::pool::FeeBps::new(fee).expect("in range");
        let bytes = codec::encode(&ann).expect("encodes");
        prop_assert_eq!(codec::decode::<PoolAnnouncement>(&bytes, 1 << 16).expect("decodes"), ann);
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = SignedRecord::from_bytes(&bytes);
        let _ = SignedRecord::decode_verified(&bytes, 0);
        let _ = Share::from_bytes(&bytes);
        let _ = codec::decode::<PoolAnnouncement>(&bytes, 1 << 16);
        let _ = find_commitment(&bytes);
        let _ = BlockHeader::from_slice(&bytes);
        let _ = PayoutId::from_bytes(&bytes);
    }

    #[test]
    fn mutated_records_never_panic_and_rarely_verify(flip in 0usize..4096, bit in 0u8..8) {
        let kp = Keypair::from_secret_bytes([5; 32]);
        let ann = PoolAnnouncement::new(kp.public(), "p", "u", 0, 100);
        let rec = SignedRecord::pool(&kp, &ann, 1).expect("signs");
        let mut bytes = rec.to_bytes();
        let i = flip % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(r) = SignedRecord::decode_verified(&bytes, 50) {
            // Only a flip that decodes to the identical record can verify.
            prop_assert_eq!(r, rec);
        }
    }
}
