//! Property tests: codecs round-trip and no decoder panics on arbitrary bytes.

use chiral_pool_core::codec;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::LinkId;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::pow::{BlockHeader, CompactTarget, Difficulty, Target};
use chiral_pool_core::record::{RecordKey, RecordKind, SignedRecord};
use chiral_pool_core::share::commitment::Commitment;
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
    fn commitments_round_trip_from_the_last_output(
        pool in prop::array::uniform32(any::<u8>()), payout in payout_id(), bits in any::<u32>(),
        parent in prop::option::of(prop::array::uniform32(1u8..)),
        uncles in prop::collection::btree_set(prop::array::uniform32(any::<u8>()), 0..=8),
        others in prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 0..80)), 0..6),
        tag_in_other in any::<bool>()) {
        let commitment = Commitment {
            pool: PoolId::from_bytes(pool),
            payout,
            chain_bits: CompactTarget::from_consensus(bits),
            parent: parent.map(LinkId::from_bytes),
            uncles: uncles.into_iter().map(LinkId::from_bytes).filter(|u| Some(*u) != parent.map(LinkId::from_bytes)).collect(),
        };
        let mut outputs: Vec<(u64, Vec<u8>)> = others;
        if tag_in_other {
            // A payout script that happens to hold the tag changes nothing.
            let mut script = vec![0x00, 0x20];
            script.extend(b"CHRLv2");
            script.extend([0u8; 26]);
            outputs.push((1, script));
        }
        outputs.push((0, commitment.to_script()));
        let coinbase = coinbase_with(&outputs);
        prop_assert_eq!(Commitment::from_coinbase(&coinbase).expect("found"), commitment);
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
        let _ = Commitment::from_coinbase(&bytes);
        let _ = Commitment::from_script(&bytes);
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

/// A coinbase transaction with `outputs` (value, script).
fn coinbase_with(outputs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut tx = vec![1, 0, 0, 0, 1];
    tx.extend([0u8; 32]);
    tx.extend([0xff; 4]);
    tx.extend([2, 0x01, 0x05]);
    tx.extend([0xff; 4]);
    tx.push(outputs.len() as u8);
    for (value, script) in outputs {
        tx.extend(value.to_le_bytes());
        if script.len() < 0xfd {
            tx.push(script.len() as u8);
        } else {
            tx.push(0xfd);
            tx.extend((script.len() as u16).to_le_bytes());
        }
        tx.extend(script);
    }
    tx.extend([0; 4]);
    tx
}
