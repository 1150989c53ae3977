//! Signed records: decode and verify against a raw ed25519 verify.

use std::hint::black_box;
use std::time::Instant;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::record::SignedRecord;

use super::{paired, Figure};

pub fn record_figures(figs: &mut Vec<Figure>, quick: bool) {
    let kp = Keypair::from_secret_bytes([7; 32]);
    let ann = PoolAnnouncement::new(
        kp.public(),
        "perf-pool",
        "stratum+tcp://127.0.0.1:3333",
        1_000,
        2_000,
    );
    let record = SignedRecord::pool(&kp, &ann, 1).expect("signs");
    let bytes = record.to_bytes();
    let sig = kp.sign(&bytes);
    let n = if quick { 2_000 } else { 10_000 };
    let (raw, ours) = paired(
        5,
        n,
        || {
            for _ in 0..n {
                black_box(kp.public().verify(&bytes, &sig).is_ok());
            }
        },
        || {
            for _ in 0..n {
                black_box(SignedRecord::decode_verified(&bytes, 1_500).expect("valid"));
            }
        },
    );
    figs.push(Figure {
        name: "record_decode_verify".into(),
        value: ours,
        unit: "records/s",
        baseline: Some(raw),
        ratio: Some(raw / ours),
        goal: "cost <= 1.3x the raw verify".into(),
        note: format!(
            "{} byte pool record; ratio is cost (raw rate / ours)",
            bytes.len()
        ),
    });
    let t = Instant::now();
    for i in 0..n {
        black_box(SignedRecord::pool(&kp, &ann, i as u64).expect("signs"));
    }
    let sign_rate = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        black_box(kp.sign(&bytes));
    }
    let raw_sign = n as f64 / t.elapsed().as_secs_f64();
    figs.push(Figure {
        name: "record_sign".into(),
        value: sign_rate,
        unit: "records/s",
        baseline: Some(raw_sign),
        ratio: Some(raw_sign / sign_rate),
        goal: "reported".into(),
        note: "baseline: raw ed25519 sign of the same bytes".into(),
    });
}
