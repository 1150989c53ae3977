//! PPLNS and split costs, each next to a naive full rescan in the same run.
#![allow(missing_docs)]

use std::hint::black_box;

use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::payout::{rescan_weights, split, PplnsWindow, RewardCuts};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const WINDOW_SHARES: u128 = 1_000_000;
const MINERS: usize = 1_000;

fn ids(n: usize) -> Vec<PayoutId> {
    (0..n)
        .map(|i| PayoutId::new(format!("miner{i:06}")).expect("valid"))
        .collect()
}

fn full_window(ids: &[PayoutId]) -> (PplnsWindow, Vec<(PayoutId, u128)>) {
    let mut w = PplnsWindow::new(WINDOW_SHARES);
    let mut all = Vec::with_capacity(WINDOW_SHARES as usize);
    for i in 0..WINDOW_SHARES as usize {
        let id = &ids[i % ids.len()];
        w.add(id, 1);
        all.push((id.clone(), 1));
    }
    (w, all)
}

fn bench(c: &mut Criterion) {
    let miners = ids(MINERS);
    let (window, all) = full_window(&miners);

    let mut g = c.benchmark_group("pplns");
    g.throughput(Throughput::Elements(1_000));
    // Steady state: the window stays full, so every add also retires the
    // oldest share, as in a running pool.
    let mut steady = window.clone();
    g.bench_function("add_share_x1000", |b| {
        b.iter(|| {
            for id in miners.iter() {
                steady.add(id, 1);
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("settle_1m_share_window", |b| {
        b.iter(|| black_box(window.settle(5_000_000_000, RewardCuts::default(), None)))
    });
    g.bench_function("naive_rescan_1m_share_window", |b| {
        b.iter(|| black_box(rescan_weights(&all, WINDOW_SHARES)))
    });
    g.finish();

    let mut g = c.benchmark_group("split");
    g.sample_size(20);
    let many: Vec<(PayoutId, u128)> = ids(100_000)
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, 1_000 + (i as u128 * 7919) % 10_007))
        .collect();
    g.bench_function("split_100k_miners", |b| {
        b.iter(|| black_box(split(5_000_000_000, &many)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
