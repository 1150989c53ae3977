//! Share validation against bare hashing of the same proofs.

use std::hint::black_box;
use std::time::Instant;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{PayoutId, PoolId};
use chiral_pool::core::pow::{merkle_root_from_branch, sha256d, CompactTarget, Difficulty, Target};
use chiral_pool::core::share::{Share, ShareValidator, ShareValidatorConfig, WorkTemplate};

use super::{paired, Figure};
use chiral_pool_core::share::commitment::Commitment;

/// Chain bits of the commitment: these shares are not links.
const CHAIN_BITS: chiral_pool_core::pow::CompactTarget =
    chiral_pool_core::pow::CompactTarget::from_consensus(0x1f00_ffff);

pub const BITS: CompactTarget = CompactTarget::from_consensus(0x1d00ffff);
pub const TIP: [u8; 32] = [0x22; 32];

pub fn shares(n: usize, pool: PoolId) -> Vec<Share> {
    let target = Target::from_difficulty(1.0 / 16_777_216.0).expect("valid");
    (0..n)
        .map(|i| {
            let payout = PayoutId::new(format!("miner{}", i % 64)).expect("valid");
            let mut t = WorkTemplate::synthetic(
                &Commitment::genesis(pool, payout.clone(), CHAIN_BITS),
                TIP,
                BITS,
                1_700_000_000,
                1,
                8,
            );
            t.merkle_branch = (0..10)
                .map(|b| sha256d(&[b as u8, i as u8, (i >> 8) as u8]))
                .collect();
            t.mine(pool, payout, target, &(i as u64).to_le_bytes(), 0..u32::MAX)
                .expect("share")
        })
        .collect()
}

pub fn validator(pool: PoolId) -> ShareValidator {
    let mut v = ShareValidator::new(
        pool,
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1),
            ..ShareValidatorConfig::new()
        },
    );
    v.add_tip(TIP, BITS).expect("tip");
    v
}

pub fn floor_pass(shares: &[Share]) {
    for s in shares {
        black_box(merkle_root_from_branch(
            sha256d(&s.coinbase),
            &s.merkle_branch,
        ));
        black_box(sha256d(&s.header.to_bytes()));
    }
}

pub fn verify_pass(v: &ShareValidator, shares: &[Share]) {
    for s in shares {
        black_box(v.verify(s).expect("valid"));
    }
}

pub fn share_figures(figs: &mut Vec<Figure>, quick: bool) {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([1; 32]).public(), "perf");
    let set = shares(512, pool);
    let v = validator(pool);
    let rounds = if quick { 5 } else { 15 };
    let reps = 8;
    let (floor, ours) = paired(
        rounds,
        set.len() * reps,
        || (0..reps).for_each(|_| floor_pass(&set)),
        || (0..reps).for_each(|_| verify_pass(&v, &set)),
    );
    figs.push(Figure {
        name: "share_validation".into(),
        value: ours,
        unit: "shares/s (1 core)",
        baseline: Some(floor),
        ratio: Some(ours / floor),
        goal: "ratio >= 0.7".into(),
        note: "baseline: bare sha256d of coinbase, 10 branch steps and header".into(),
    });
    let (floor2, ours2) = paired(
        rounds,
        set.len() * reps * 2,
        || {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| (0..reps).for_each(|_| floor_pass(&set)));
                }
            })
        },
        || {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| (0..reps).for_each(|_| verify_pass(&v, &set)));
                }
            })
        },
    );
    figs.push(Figure {
        name: "share_validation_2_cores".into(),
        value: ours2,
        unit: "shares/s (2 threads)",
        baseline: Some(floor2),
        ratio: Some(ours2 / floor2),
        goal: "ratio >= 0.7".into(),
        note: format!("{:.2}x the 1-core rate", ours2 / ours),
    });
    // Scaling: 1x, 10x, 100x the shares.
    let mut times = Vec::new();
    for k in [1usize, 10, 100] {
        let t = Instant::now();
        for _ in 0..k {
            verify_pass(&v, &set);
        }
        times.push(t.elapsed().as_secs_f64());
    }
    figs.push(Figure {
        name: "share_validation_scaling_100x".into(),
        value: times[2] / times[0],
        unit: "time ratio at 100x shares",
        baseline: Some(100.0),
        ratio: Some(times[2] / times[0] / 100.0),
        goal: "ratio ~1 (linear)".into(),
        note: format!("10x: {:.1}", times[1] / times[0]),
    });
}
