//! Share validation against the bare hashing its proof requires: sha256d of
//! the coinbase, one sha256d per merkle branch step, sha256d of the header.
//! The ratio of the two is the cost of everything besides hashing.
#![allow(missing_docs)]

use std::hint::black_box;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pow::{merkle_root_from_branch, sha256d, CompactTarget, Difficulty, Target};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::{Share, ShareValidator, ShareValidatorConfig, WorkTemplate};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// Chain bits of the commitment: these shares are not links.
const CHAIN_BITS: chiral_pool_core::pow::CompactTarget =
    chiral_pool_core::pow::CompactTarget::from_consensus(0x1f00_ffff);

const BITS: CompactTarget = CompactTarget::from_consensus(0x1d00ffff);
const SHARES: usize = 256;
const BRANCH: usize = 10;

fn fixture() -> (ShareValidator, Vec<Share>) {
    let owner = Keypair::from_secret_bytes([1; 32]);
    let pool = PoolId::derive(&owner.public(), "bench");
    let tip = [0x22; 32];
    let target = Target::from_difficulty(1.0 / 16_777_216.0).expect("valid");
    let mut shares = Vec::with_capacity(SHARES);
    for i in 0..SHARES {
        let payout = PayoutId::new(format!("miner{}", i % 32)).expect("valid");
        let mut t = WorkTemplate::synthetic(
            &Commitment::genesis(pool, payout.clone(), CHAIN_BITS),
            tip,
            BITS,
            1_700_000_000,
            1,
            8,
        );
        t.merkle_branch = (0..BRANCH).map(|b| sha256d(&[b as u8, i as u8])).collect();
        let share = t
            .mine(pool, payout, target, &(i as u64).to_le_bytes(), 0..u32::MAX)
            .expect("share");
        shares.push(share);
    }
    let mut v = ShareValidator::new(
        pool,
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1),
            ..ShareValidatorConfig::new()
        },
    );
    v.add_tip(tip, BITS).expect("valid");
    (v, shares)
}

fn bench(c: &mut Criterion) {
    let (validator, shares) = fixture();
    let mut g = c.benchmark_group("share_validation");
    g.throughput(Throughput::Elements(SHARES as u64));
    g.bench_function("bare_hashing_floor", |b| {
        b.iter(|| {
            for s in &shares {
                let root = merkle_root_from_branch(sha256d(&s.coinbase), &s.merkle_branch);
                black_box(root);
                black_box(sha256d(&s.header.to_bytes()));
            }
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            for s in &shares {
                black_box(validator.verify(s).expect("valid"));
            }
        })
    });
    g.bench_function("accept_with_dedupe", |b| {
        b.iter_batched(
            || fixture_validator(&validator),
            |mut v| {
                for s in &shares {
                    black_box(v.accept(s).expect("valid"));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn fixture_validator(v: &ShareValidator) -> ShareValidator {
    let mut fresh = ShareValidator::new(
        *v.pool_id(),
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1),
            ..ShareValidatorConfig::new()
        },
    );
    fresh.add_tip([0x22; 32], BITS).expect("valid");
    fresh
}

criterion_group!(benches, bench);
criterion_main!(benches);
