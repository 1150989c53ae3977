//! Cross-check header, merkle and difficulty code against vectors computed
//! by an independent implementation (tests/vectors/stratum_v1.json).

use chiral_pool_core::pow::{
    merkle_root_from_branch, reversed, sha256d, BlockHeader, Difficulty, Target,
};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("vectors/stratum_v1.json");
    let doc: Value = serde_json::from_str(text).expect("valid json");
    doc["cases"].as_array().expect("cases").clone()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn hash32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().expect("32 bytes")
}

#[test]
fn merkle_root_hash_and_share_difficulty_match_the_vectors() {
    let cases = cases();
    assert_eq!(cases.len(), 5);
    for case in &cases {
        let notify = &case["notify"];
        let submit = &case["submit"];
        let mut coinbase = bytes(&notify[2]);
        coinbase.extend(bytes(&case["extranonce1"]));
        coinbase.extend(bytes(&submit[2]));
        coinbase.extend(bytes(&notify[3]));
        let branch: Vec<[u8; 32]> = notify[4]
            .as_array()
            .expect("branch")
            .iter()
            .map(hash32)
            .collect();
        let root = merkle_root_from_branch(sha256d(&coinbase), &branch);
        assert_eq!(root, hash32(&case["expected_merkle_root_internal_hex"]));

        let header_bytes: [u8; 80] = bytes(&case["expected_header_hex"])
            .try_into()
            .expect("80 bytes");
        let header = BlockHeader::from_bytes(&header_bytes);
        assert_eq!(header.merkle_root(), &root);
        let hash = header.hash();
        assert_eq!(reversed(&hash), hash32(&case["expected_hash_display_hex"]));
        let expected = case["expected_share_difficulty_times_2p32_floor"]
            .as_u64()
            .expect("u64");
        assert_eq!(Difficulty::of_hash(&hash).raw(), expected as u128);
        assert_eq!(case["meets_difficulty"], "1/4096");
        let target = Target::from_difficulty(1.0 / 4096.0).expect("valid");
        assert!(target.is_met_by(&hash));
        assert!(!Target::DIFF1.is_met_by(&hash));
    }
}
