//! Payout math: PPLNS add and settle, the split, against naive versions.

use std::hint::black_box;
use std::time::Instant;

use chiral_pool::core::ids::PayoutId;
use chiral_pool::core::payout::{rescan_weights, split, PplnsWindow, RewardCuts};
use chiral_pool::core::pow::sha256d;

use super::shares::BITS;

use super::{median, paired, Figure};

pub fn payout_figures(figs: &mut Vec<Figure>, quick: bool) {
    let ids: Vec<PayoutId> = (0..1000)
        .map(|i| PayoutId::new(format!("miner{i:06}")).expect("valid"))
        .collect();
    let window_shares = 1_000_000usize;
    let mut window = PplnsWindow::new(window_shares as u128);
    let mut naive: Vec<(PayoutId, u128)> = Vec::with_capacity(window_shares);
    for i in 0..window_shares {
        window.add(&ids[i % ids.len()], 1);
        naive.push((ids[i % ids.len()].clone(), 1));
    }
    // add-share in steady state vs the naive append (clone + push).
    let n = 200_000;
    let rounds = if quick { 3 } else { 7 };
    let mut naive_vec: Vec<(PayoutId, u128)> = Vec::with_capacity(n * rounds * 2);
    let (naive_rate, ours_rate) = paired(
        rounds,
        n,
        || {
            for i in 0..n {
                naive_vec.push((ids[i % ids.len()].clone(), 1));
            }
        },
        || {
            for i in 0..n {
                window.add(&ids[i % ids.len()], 1);
            }
        },
    );
    figs.push(Figure {
        name: "pplns_add_share".into(),
        value: 1e9 / ours_rate,
        unit: "ns/share (window full, 1M shares)",
        baseline: Some(1e9 / naive_rate),
        ratio: Some(naive_rate / ours_rate),
        goal: "<= 100 ns".into(),
        note: "baseline: the naive append of (payout id, weight)".into(),
    });
    let mut settle = Vec::new();
    let mut rescan = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(window.settle(5_000_000_000, RewardCuts::default(), None));
        settle.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        black_box(rescan_weights(&naive, window_shares as u128));
        rescan.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (s, r) = (median(settle), median(rescan));
    figs.push(Figure {
        name: "pplns_settle_1m".into(),
        value: s,
        unit: "ms (1M-share window, 1000 miners)",
        baseline: Some(r),
        ratio: Some(s / r),
        goal: "<= 100 ms".into(),
        note: "baseline: full rescan of the 1M shares".into(),
    });
    // Settling cost as the window grows 10x and 100x.
    let mut by_size = Vec::new();
    for size in [10_000usize, 100_000, 1_000_000] {
        let mut w = PplnsWindow::new(size as u128);
        for i in 0..size {
            w.add(&ids[i % ids.len()], 1);
        }
        let t = Instant::now();
        for _ in 0..5 {
            black_box(w.settle(5_000_000_000, RewardCuts::default(), None));
        }
        by_size.push(t.elapsed().as_secs_f64() / 5.0);
    }
    figs.push(Figure {
        name: "pplns_settle_scaling_100x".into(),
        value: by_size[2] / by_size[0],
        unit: "time ratio, 1M vs 10k shares",
        baseline: Some(100.0),
        ratio: Some(by_size[2] / by_size[0] / 100.0),
        goal: "<= 1 (linear or better)".into(),
        note: format!("10x: {:.2}", by_size[1] / by_size[0]),
    });
    let many: Vec<(PayoutId, u128)> = (0..100_000)
        .map(|i| {
            (
                PayoutId::new(format!("m{i:06}")).expect("valid"),
                1_000 + (i as u128 * 7919) % 10_007,
            )
        })
        .collect();
    let mut ours = Vec::new();
    let mut naive_split = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(split(5_000_000_000, &many));
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        // The usual naive split: floors, the last miner takes the rest.
        let total: u128 = many.iter().map(|(_, w)| w).sum();
        let mut out: Vec<u64> = many
            .iter()
            .map(|(_, w)| (5_000_000_000u128 * w / total) as u64)
            .collect();
        let rest = 5_000_000_000 - out.iter().sum::<u64>();
        if let Some(last) = out.last_mut() {
            *last += rest;
        }
        black_box(out);
        naive_split.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (o, b) = (median(ours), median(naive_split));
    figs.push(Figure {
        name: "split_100k".into(),
        value: o,
        unit: "ms (100,000 miners)",
        baseline: Some(b),
        ratio: Some(o / b),
        goal: "<= 20 ms".into(),
        note: "baseline: floors + last miner takes the remainder (unsorted, unfair)".into(),
    });
}

/// Coinbase payouts: building a job's outputs and coinbase, and a peer's
/// check of a link's outputs, at 100 outputs, the default cap (200) and
/// the highest cap (700), each against a plain share check in the same
/// run.
pub fn coinbase_figures(figs: &mut Vec<Figure>, quick: bool) {
    use chiral_pool::core::ids::PoolId;
    use chiral_pool::core::payout::{
        check_outputs, paying_outputs, CoinbasePlan, OutputRules, RewardCuts,
    };
    use chiral_pool::core::pool::FeeBps;
    use chiral_pool::core::share::commitment::Commitment;
    use chiral_pool::core::share::WorkTemplate;

    let pool = PoolId::from_bytes([3; 32]);
    let shares = super::shares::shares(200, pool);
    let validator = super::shares::validator(pool).without_memory();
    let rounds = if quick { 3 } else { 7 };
    let per_share = median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                for s in &shares {
                    black_box(validator.verify(s).is_ok());
                }
                t.elapsed().as_secs_f64() * 1e6 / shares.len() as f64
            })
            .collect(),
    );
    let taproot = |i: u32| {
        let mut script = vec![0x51, 0x20];
        script.extend(sha256d(&i.to_le_bytes()));
        script
    };
    let commitment = Commitment::genesis(
        pool,
        PayoutId::new("perf").expect("valid"),
        chiral_pool::core::pow::CompactTarget::from_consensus(0x1f00_ffff),
    );
    for n in [100u32, 200, 700] {
        let plan = CoinbasePlan {
            weights: (0..n)
                .map(|i| (taproot(i), u128::from(1 + i % 17)))
                .collect(),
            cuts: RewardCuts {
                fee: FeeBps::new(100).expect("in range"),
                finder_bonus: FeeBps::new(50).expect("in range"),
            },
            owner: taproot(1_000_000),
            seed: [7; 32],
            rules: OutputRules {
                dust: 546,
                max_outputs: n,
            },
            network: None,
        };
        let finder = taproot(2_000_000);
        let build = |total: u64| {
            let outputs = plan.outputs(total, &finder).outputs;
            WorkTemplate::synthetic_paying(&commitment, &outputs, [0x22; 32], BITS, 0, 1, 8)
        };
        let template = build(5_000_000_000);
        let coinbase = template.coinbase(&[0; 8]);
        let iters = if quick { 200 } else { 1_000 };
        let (mut built, mut checked) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            for k in 0..iters {
                black_box(build(5_000_000_000 + k));
            }
            built.push(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
            let t = Instant::now();
            for _ in 0..iters {
                let found = paying_outputs(black_box(&coinbase)).expect("layout");
                black_box(check_outputs(&found, &plan, &finder, 0).is_ok());
            }
            checked.push(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
        }
        assert!(
            check_outputs(
                &paying_outputs(&coinbase).expect("layout"),
                &plan,
                &finder,
                0
            )
            .is_ok(),
            "the built coinbase passes the check"
        );
        let (b, c) = (median(built), median(checked));
        figs.push(Figure {
            name: format!("coinbase_build_{n}_outputs"),
            value: b,
            unit: "us/job",
            baseline: Some(per_share),
            ratio: Some(b / per_share),
            goal: "well under a job's interval".into(),
            note: format!(
                "split {n} miners into outputs and serialize the coinbase ({} bytes); baseline: one plain share check",
                coinbase.len()
            ),
        });
        figs.push(Figure {
            name: format!("coinbase_check_{n}_outputs"),
            value: c,
            unit: "us/link",
            baseline: Some(per_share),
            ratio: Some(c / per_share),
            goal: "per link, not per share".into(),
            note: "read the outputs and recompute the split; baseline: one plain share check"
                .into(),
        });
    }
}
