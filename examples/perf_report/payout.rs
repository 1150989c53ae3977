//! Payout math: PPLNS add and settle, the split, against naive versions.

use std::hint::black_box;
use std::time::Instant;

use chiral_pool::core::ids::PayoutId;
use chiral_pool::core::payout::{rescan_weights, split, PplnsWindow, RewardCuts};

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
