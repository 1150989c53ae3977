//! The memory backend, the partitioned mock network and injected faults.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::record::{select_best, RecordKey, SignedRecord};
use chiral_pool_core::store::{ManualClock, RecordStore, StoreError};
use chiral_pool_dht::{forge, FaultPlan, MemoryNetwork, MockNetwork, MockStore, TableLimits};

const T0: u64 = 1_900_000_000;

fn record(owner: &Keypair, name: &str, seq: u64, ttl: u64) -> SignedRecord {
    let ann = PoolAnnouncement::new(
        owner.public(),
        name,
        "stratum+tcp://127.0.0.1:1",
        T0,
        T0 + ttl,
    );
    SignedRecord::pool(owner, &ann, seq).expect("signs")
}

#[tokio::test]
async fn memory_handles_share_records_and_expire_them() {
    let clock = ManualClock::new(T0);
    let net = MemoryNetwork::with_clock(Arc::new(clock.clone()));
    let owner = Keypair::from_secret_bytes([1; 32]);
    let a = net.store(owner.public());
    let b = net.store(Keypair::from_secret_bytes([2; 32]).public());
    let r1 = record(&owner, "p", 1, 100);
    a.put(r1.clone()).await.expect("put");
    assert_eq!(b.get(r1.key()).await.expect("get"), vec![r1.clone()]);
    // A newer record replaces, an older one does not.
    let r2 = record(&owner, "p", 2, 100);
    b.put(r2.clone()).await.expect("put");
    a.put(r1.clone())
        .await
        .expect("stale put is accepted but ignored");
    assert_eq!(a.get(r1.key()).await.expect("get"), vec![r2.clone()]);
    // Forged records are refused on write.
    assert!(matches!(
        a.put(forge(&r2)).await,
        Err(StoreError::Rejected(_))
    ));
    clock.advance(100);
    assert!(a.get(r1.key()).await.expect("get").is_empty());
    assert!(matches!(a.put(r2).await, Err(StoreError::Rejected(_))));
}

#[tokio::test]
async fn memory_sets_expire_and_limits_hold() {
    let clock = ManualClock::new(T0);
    let limits = TableLimits {
        max_keys: 2,
        max_members_per_set: 2,
        ..TableLimits::new()
    };
    let net = MemoryNetwork::with_limits(Arc::new(clock.clone()), limits);
    let set = RecordKey::directory_set();
    let stores: Vec<_> = (0..3u8)
        .map(|i| net.store(Keypair::from_secret_bytes([i + 10; 32]).public()))
        .collect();
    stores[0]
        .advertise(&set, Duration::from_secs(10))
        .await
        .expect("advertise");
    stores[1]
        .advertise(&set, Duration::from_secs(60))
        .await
        .expect("advertise");
    assert!(matches!(
        stores[2].advertise(&set, Duration::from_secs(60)).await,
        Err(StoreError::CapacityExceeded(_))
    ));
    assert_eq!(stores[2].members(&set).await.expect("members").len(), 2);
    clock.advance(10);
    assert_eq!(
        stores[2].members(&set).await.expect("members"),
        vec![stores[1].local_key()]
    );
    // The expired member's slot is free again.
    stores[2]
        .advertise(&set, Duration::from_secs(60))
        .await
        .expect("advertise");

    let owners: Vec<Keypair> = (0..3u8)
        .map(|i| Keypair::from_secret_bytes([i + 20; 32]))
        .collect();
    stores[0]
        .put(record(&owners[0], "a", 1, 600))
        .await
        .expect("put");
    stores[0]
        .put(record(&owners[1], "b", 1, 600))
        .await
        .expect("put");
    assert!(matches!(
        stores[0].put(record(&owners[2], "c", 1, 600)).await,
        Err(StoreError::CapacityExceeded(_))
    ));
}

#[tokio::test]
async fn partitions_hide_records_from_cut_off_nodes_until_they_heal() {
    let clock = ManualClock::new(T0);
    let net = MockNetwork::new(Arc::new(clock));
    let owner = Keypair::from_secret_bytes([3; 32]);
    let a = net.node("a", owner.public());
    let b = net.node("b", Keypair::from_secret_bytes([4; 32]).public());
    let c = net.node("c", Keypair::from_secret_bytes([5; 32]).public());
    net.partition(&["a"], &["b"]);
    let r = record(&owner, "p", 1, 600);
    let report = a.put(r.clone()).await.expect("put");
    assert_eq!((report.stored_locally, report.peers), (true, 1)); // a and c
    assert_eq!(c.get(r.key()).await.expect("get"), vec![r.clone()]);
    // b still reaches c, which holds a replica.
    assert_eq!(b.get(r.key()).await.expect("get"), vec![r.clone()]);
    net.isolate("b");
    assert!(b.get(r.key()).await.expect("get").is_empty());
    net.heal();
    assert_eq!(b.get(r.key()).await.expect("get"), vec![r.clone()]);
    // A node that leaves takes its replica; the others keep theirs.
    net.remove("c");
    assert!(matches!(c.get(r.key()).await, Err(StoreError::Closed)));
    assert_eq!(b.get(r.key()).await.expect("get"), vec![r]);
}

#[tokio::test]
async fn faults_are_injected_deterministically() {
    async fn run(seed: u64) -> (Vec<bool>, u64) {
        let clock = ManualClock::new(T0);
        let net = MemoryNetwork::with_clock(Arc::new(clock));
        let owner = Keypair::from_secret_bytes([6; 32]);
        let plan = FaultPlan {
            seed,
            drop_puts: 300,
            fail_gets: 300,
            ..FaultPlan::none()
        };
        let store = MockStore::new(net.store(owner.public()), plan);
        let mut outcomes = Vec::new();
        for i in 0..40 {
            let r = record(&owner, &format!("p{i}"), 1, 600);
            store
                .put(r.clone())
                .await
                .expect("puts always report success");
            outcomes.push(matches!(store.get(r.key()).await, Ok(v) if v == vec![r]));
        }
        (outcomes, store.stats().dropped_puts.load(Ordering::Relaxed))
    }
    let (first, dropped) = run(42).await;
    assert_eq!(run(42).await, (first.clone(), dropped));
    assert!(dropped > 0 && first.iter().any(|ok| *ok) && first.iter().any(|ok| !ok));
    assert_ne!(run(43).await.0, first);
}

#[tokio::test(start_paused = true)]
async fn stale_and_forged_candidates_lose_to_verification() {
    let clock = ManualClock::new(T0);
    let net = MemoryNetwork::with_clock(Arc::new(clock));
    let owner = Keypair::from_secret_bytes([7; 32]);
    let plan = FaultPlan {
        seed: 1,
        stale_candidates: 1000,
        forged_candidates: 1000,
        latency: Duration::from_millis(50),
        ..FaultPlan::none()
    };
    let store = MockStore::new(net.store(owner.public()), plan);
    let v1 = record(&owner, "p", 1, 600);
    let v2 = record(&owner, "p", 2, 600);
    store.put(v1.clone()).await.expect("put");
    store.put(v2.clone()).await.expect("put");
    let got = store.get(v2.key()).await.expect("get");
    assert!(got.contains(&v1), "a stale candidate is injected");
    assert!(
        got.iter().any(|r| r.seq() > 1_000),
        "a forged candidate is injected"
    );
    assert_eq!(select_best(&got, T0 + 1), Some(&v2));
}
