//! KadStore against a raw libp2p Kademlia node on loopback networks of the
//! same size, measured in the same run: what verification, filtering and
//! the store's bookkeeping add to a put and a get. The in-memory backend
//! is measured as the floor of the `RecordStore` calls themselves.
#![allow(missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chiral_bench_support::raw_kad::RawKad;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::record::SignedRecord;
use chiral_pool_core::store::RecordStore;
use chiral_pool_dht::{KadConfig, KadStore, MemoryStore};
use criterion::{criterion_group, criterion_main, Criterion};
use libp2p::kad;

const NODES: usize = 12;

fn record(i: u64) -> SignedRecord {
    let owner = Keypair::from_secret_bytes([(i % 250) as u8 + 1; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ann = PoolAnnouncement::new(owner.public(), &format!("bench-{i}"), "x", now, now + 3600);
    SignedRecord::pool(&owner, &ann, 1).expect("signs")
}

fn raw_record(r: &SignedRecord) -> kad::Record {
    kad::Record::new(kad::RecordKey::new(&r.key().as_bytes()), r.to_bytes())
}

async fn kad_network() -> Vec<KadStore> {
    let first = KadStore::spawn(KadConfig::new()).await.expect("node");
    let boot = first.dial_addresses();
    let mut nodes = vec![first];
    for _ in 1..NODES {
        let node = KadStore::spawn(KadConfig::new().with_bootstrap(boot.clone()))
            .await
            .expect("node");
        nodes.push(node);
    }
    for n in &nodes {
        n.wait_for_peers(NODES - 1).await;
    }
    nodes
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (ours, raw) =
        rt.block_on(async { (kad_network().await, RawKad::network(NODES, NODES - 1).await) });
    let stored = record(0);
    rt.block_on(async {
        ours[0].put(stored.clone()).await.expect("put");
        assert!(raw[0].put(raw_record(&stored)).await, "raw put");
    });
    let key = stored.key();
    let raw_key = kad::RecordKey::new(&key.as_bytes());

    let mut g = c.benchmark_group(format!("dht_{NODES}_nodes"));
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    // A lookup from a node that does not hold the record itself.
    g.bench_function("get/raw_kad", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    assert_eq!(raw[NODES / 2].get(raw_key.clone()).await.len(), 1);
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("get/kad_store", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    assert_eq!(ours[NODES / 2].get(key).await.map(|v| v.len()), Ok(1));
                }
                t.elapsed()
            })
        })
    });
    let mut i = 1;
    g.bench_function("put/raw_kad", |b| {
        b.iter_custom(|iters| {
            let records: Vec<_> = (0..iters)
                .map(|_| {
                    i += 1;
                    raw_record(&record(i))
                })
                .collect();
            rt.block_on(async {
                let t = Instant::now();
                for r in records {
                    raw[1].put(r).await;
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("put/kad_store", |b| {
        b.iter_custom(|iters| {
            let records: Vec<_> = (0..iters)
                .map(|_| {
                    i += 1;
                    record(i)
                })
                .collect();
            rt.block_on(async {
                let t = Instant::now();
                for r in records {
                    let _ = ours[1].put(r).await;
                }
                t.elapsed()
            })
        })
    });
    g.finish();

    let memory = MemoryStore::new(Keypair::from_secret_bytes([9; 32]).public());
    rt.block_on(async { memory.put(stored.clone()).await.expect("put") });
    let mut g = c.benchmark_group("memory_store");
    g.bench_function("get", |b| {
        b.iter(|| rt.block_on(memory.get(key)).expect("get"))
    });
    g.finish();
    rt.block_on(async {
        for n in &ours {
            n.shutdown().await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
