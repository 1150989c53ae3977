//! The proof-of-work code agrees with real Bitcoin mainnet blocks.

use chiral_pool_core::pow::{reversed, BlockHeader, CompactTarget, Target};

/// (header hex, published block hash in display order)
const BLOCKS: &[(&str, &str)] = &[
    // Genesis block.
    (
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c",
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    ),
    // Block 1.
    (
        "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299",
        "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
    ),
    // Block 100000.
    (
        "0100000050120119172a610421a6c3011dd330d9df07b63616c2cc1f1cd00200000000006657a9252aacd5c0b2940996ecff952228c3067cc38d4885efb5a4ac4247e9f337221b4d4c86041b0f2b5710",
        "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506",
    ),
    // Block 125552.
    (
        "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695",
        "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d",
    ),
];

fn header(hex_str: &str) -> (BlockHeader, [u8; 80]) {
    let bytes: [u8; 80] = hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("80 bytes");
    (BlockHeader::from_bytes(&bytes), bytes)
}

#[test]
fn mainnet_headers_hash_to_their_published_ids_and_meet_their_bits() {
    for (hex_str, id) in BLOCKS {
        let (h, bytes) = header(hex_str);
        assert_eq!(h.to_bytes(), bytes, "round trip");
        assert_eq!(hex::encode(reversed(&h.hash())), *id);
        let target = Target::from_compact(h.bits()).expect("mainnet bits are valid");
        assert!(target.is_met_by(&h.hash()), "block {id} meets its target");
        assert_eq!(target.to_compact_lossy(), h.bits());
    }
}

#[test]
fn accessors_read_the_right_fields() {
    let (h, _) = header(BLOCKS[3].0);
    assert_eq!(h.version(), 1);
    assert_eq!(h.time(), 1_305_998_791);
    assert_eq!(h.bits().to_consensus(), 0x1a44b9f2);
    assert_eq!(h.nonce(), 2_504_433_986);
    assert_eq!(
        hex::encode(reversed(h.prev_hash())),
        "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81"
    );
    assert_eq!(
        hex::encode(reversed(h.merkle_root())),
        "2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3"
    );
}

#[test]
fn changing_any_header_byte_breaks_the_proof() {
    for (hex_str, _) in BLOCKS {
        let (h, bytes) = header(hex_str);
        let target = Target::from_compact(h.bits()).expect("valid");
        for i in 0..80 {
            for flip in [0x01u8, 0x80] {
                let mut forged = bytes;
                forged[i] ^= flip;
                let forged = BlockHeader::from_bytes(&forged);
                assert!(
                    !target.is_met_by(&forged.hash()),
                    "flipping byte {i} by {flip:#x} still met the target"
                );
            }
        }
    }
}

#[test]
fn difficulty_of_mainnet_targets() {
    let genesis = Target::from_compact(CompactTarget::from_consensus(0x1d00ffff)).expect("valid");
    assert!((genesis.difficulty() - 1.0).abs() < 1e-12);
    // Block 100000's published difficulty is 14484.1623612254.
    let d = Target::from_compact(CompactTarget::from_consensus(0x1b04864c))
        .expect("valid")
        .difficulty();
    assert!((d - 14_484.162_361_225_4).abs() < 1e-6, "{d}");
}
