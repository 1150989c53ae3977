//! The largest-remainder split against an independent implementation
//! (tests/vectors/payout_split.json), and known answers.

use chiral_pool_core::payout::split;
use serde_json::Value;

#[test]
fn split_matches_the_independent_vectors() {
    let doc: Value =
        serde_json::from_str(include_str!("vectors/payout_split.json")).expect("valid json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 6);
    for case in cases {
        let amount: u64 = match &case["amount"] {
            Value::Number(n) => n.as_u64().expect("u64 amount"),
            Value::String(s) => s.parse().expect("u64 amount"),
            other => panic!("amount {other}"),
        };
        let weights: Vec<(String, u128)> = case["weights"]
            .as_array()
            .expect("weights")
            .iter()
            .map(|p| {
                let key = p[0].as_str().expect("key").to_owned();
                let w: u128 = p[1].as_str().expect("decimal").parse().expect("u128");
                (key, w)
            })
            .collect();
        let mut expected: Vec<(String, u64)> = case["expected"]
            .as_array()
            .expect("expected")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("key").to_owned(),
                    p[1].as_u64().expect("u64"),
                )
            })
            .collect();
        expected.sort();
        assert_eq!(split(amount, &weights), expected, "amount {amount}");
        let mut reversed = weights.clone();
        reversed.reverse();
        assert_eq!(split(amount, &reversed), expected, "order-independent");
    }
}

#[test]
fn known_answers() {
    let seven: Vec<(u8, u128)> = (0..7).map(|k| (k, 1)).collect();
    let out = split(100, &seven);
    assert_eq!(
        out.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        vec![15, 15, 14, 14, 14, 14, 14]
    );
    assert_eq!(
        split(100_000_000, &[("alice", 600), ("bob", 400)]),
        vec![("alice", 60_000_000), ("bob", 40_000_000)]
    );
    // Ties on remainder go to the larger weight, then the smaller key.
    assert_eq!(
        split(10, &[("a", 1), ("b", 2), ("c", 1)]),
        vec![("a", 3), ("b", 5), ("c", 2)]
    );
    // Duplicate keys merge.
    assert_eq!(
        split(9, &[("a", 1), ("b", 1), ("a", 1)]),
        vec![("a", 6), ("b", 3)]
    );
    // No weight: nothing is handed out.
    assert_eq!(split(9, &[("a", 0)]), vec![("a", 0)]);
    // The largest amount over weights above 2^64.
    let big = split(
        u64::MAX,
        &[("x", u128::MAX / 3), ("y", u128::MAX / 3), ("z", 1)],
    );
    assert_eq!(
        big.iter().map(|(_, a)| *a as u128).sum::<u128>(),
        u64::MAX as u128
    );
}
