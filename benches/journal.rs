//! The share journal: one durable commit per share against the group-commit
//! writer taking the same shares from many connections at once, in the
//! same run and on the same disk.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{PayoutId, PoolId};
use chiral_pool::core::pow::{sha256d, CompactTarget, Target};
use chiral_pool::core::share::{Share, WorkTemplate};
use chiral_pool::node::ShareJournal;
use chiral_pool_core::share::commitment::Commitment;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SHARES: usize = 1_000;

fn shares() -> Vec<([u8; 32], Share)> {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([5; 32]).public(), "bench");
    let payout = PayoutId::new("bench").expect("valid");
    let easy = Target::from_difficulty(1.0 / 16_777_216.0).expect("target");
    (0..SHARES as u64)
        .map(|i| {
            let share = WorkTemplate::synthetic(
                &Commitment::genesis(
                    pool,
                    payout.clone(),
                    CompactTarget::from_consensus(0x1f00_ffff),
                ),
                [7; 32],
                CompactTarget::from_consensus(0x1d00ffff),
                1,
                1,
                8,
            )
            .mine(pool, payout.clone(), easy, &i.to_le_bytes(), 0..u32::MAX)
            .expect("a share exists");
            (sha256d(&share.header.to_bytes()), share)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let shares = shares();
    let dir = std::env::temp_dir().join(format!("chiral-journal-bench-{}", std::process::id()));
    let journal = Arc::new(ShareJournal::open(&dir.join("journal.redb")).expect("opens"));
    let writer = journal.writer(SHARES).expect("writer");
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let mut g = c.benchmark_group(format!("journal_{SHARES}_shares"));
    g.throughput(Throughput::Elements(SHARES as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    g.bench_function("commit_per_share", |b| {
        b.iter(|| {
            for (hash, share) in &shares {
                journal.append(hash, share).expect("append");
            }
        })
    });
    g.bench_function("group_commit_concurrent", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let mut tasks = tokio::task::JoinSet::new();
                    for (hash, share) in &shares {
                        tasks.spawn(writer.append(*hash, share));
                    }
                    while tasks.join_next().await.is_some() {}
                }
                t.elapsed()
            })
        })
    });
    g.finish();
    let commits = writer.commits();
    eprintln!("group commits: {commits}");
    drop(writer);
    drop(journal);
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
