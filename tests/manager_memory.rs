//! PoolManager on the memory and mock backends, with faults.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PoolId;
use chiral_pool::core::manager::{ManagerConfig, PoolManager, Source};
use chiral_pool::core::payout::{PplnsWindow, RewardCuts};
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::record::{RecordKey, RecordKind, SignedRecord};
use chiral_pool::core::store::{ManualClock, RecordStore, SharedClock};
use chiral_pool::dht::{FaultPlan, MemoryNetwork, MemoryStore, MockNetwork, MockStore};
use common::{ShareFactory, BITS, T0, TIP};

fn key(i: u8) -> Keypair {
    Keypair::from_secret_bytes([i; 32])
}

fn manager(net: &MemoryNetwork, clock: &ManualClock, k: &Keypair) -> PoolManager<MemoryStore> {
    PoolManager::new(
        k.clone(),
        net.store(k.public()),
        Arc::new(clock.clone()),
        ManagerConfig::new(),
    )
    .expect("keys match")
}

fn announcement(owner: &Keypair, name: &str) -> PoolAnnouncement {
    PoolAnnouncement::new(owner.public(), name, "stratum+tcp://127.0.0.1:3333", 0, 0)
}

fn setup() -> (ManualClock, MemoryNetwork) {
    let clock = ManualClock::new(T0);
    let net = MemoryNetwork::with_clock(Arc::new(clock.clone()));
    (clock, net)
}

#[tokio::test]
async fn announce_discover_update_expire_and_republish() {
    let (clock, net) = setup();
    let (a, b) = (
        manager(&net, &clock, &key(1)),
        manager(&net, &clock, &key(2)),
    );
    let id = a
        .announce_pool(announcement(&key(1), "alpha"))
        .await
        .expect("announce");
    let found = b.discover_pool(&id).await.expect("get").expect("found");
    assert_eq!(
        (found.announcement.name.as_str(), found.seq, found.source),
        ("alpha", 1, Source::Network)
    );

    let mut update = announcement(&key(1), "alpha");
    update.description = "now with docs".into();
    a.announce_pool(update).await.expect("update");
    let found = b.discover_pool(&id).await.expect("get").expect("found");
    assert_eq!(
        (found.seq, found.announcement.description.as_str()),
        (2, "now with docs")
    );

    // Nobody else can announce under the owner's key.
    assert!(b
        .announce_pool(announcement(&key(1), "alpha"))
        .await
        .is_err());

    // Republish keeps it alive past the first TTL; without it, it expires.
    clock.advance(50 * 60);
    assert_eq!(a.republish().await.expect("republish"), 1);
    clock.advance(30 * 60);
    assert!(b.discover_pool(&id).await.expect("get").is_some());
    assert_eq!(b.discover_pools().await.expect("directory").len(), 1);
    clock.advance(61 * 60);
    assert!(b.discover_pool(&id).await.expect("get").is_none());
    assert!(b.discover_pools().await.expect("directory").is_empty());
    assert!(b.list_local_pools().is_empty());
}

#[tokio::test]
async fn a_thousand_pools_from_twenty_nodes_are_all_discovered() {
    let (clock, net) = setup();
    let mut expected = Vec::new();
    for n in 0..20u8 {
        let k = key(100 + n);
        let m = manager(&net, &clock, &k);
        for p in 0..50 {
            expected.push(
                m.announce_pool(announcement(&k, &format!("pool-{n}-{p}")))
                    .await
                    .expect("announce"),
            );
        }
    }
    expected.sort();
    let reader = manager(&net, &clock, &key(7));
    let found: Vec<PoolId> = reader
        .discover_pools()
        .await
        .expect("directory")
        .into_iter()
        .map(|d| d.announcement.id)
        .collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn the_cache_answers_when_the_network_is_unreachable() {
    let (clock, net) = setup();
    let a = manager(&net, &clock, &key(1));
    let id = a
        .announce_pool(announcement(&key(1), "alpha"))
        .await
        .expect("announce");
    let failing = MockStore::new(
        net.store(key(2).public()),
        FaultPlan {
            fail_gets: 1000,
            ..FaultPlan::none()
        },
    );
    let b = PoolManager::new(
        key(2),
        failing,
        Arc::new(clock.clone()),
        ManagerConfig::new(),
    )
    .expect("keys");
    // Never seen: the error surfaces.
    assert!(b.discover_pool(&id).await.is_err());
    // Seen once through a healthy path, then served from the cache.
    let healthy = manager(&net, &clock, &key(2));
    healthy
        .discover_pool(&id)
        .await
        .expect("get")
        .expect("found");
    let found = a.discover_pool(&id).await.expect("get").expect("found");
    assert_eq!(found.source, Source::Network);
    let cached_mgr = PoolManager::new(
        key(3),
        MockStore::new(
            net.store(key(3).public()),
            FaultPlan {
                fail_gets: 1000,
                ..FaultPlan::none()
            },
        ),
        Arc::new(clock.clone()),
        ManagerConfig::new(),
    )
    .expect("keys");
    // Warm its cache from its own announcement, then read while unreachable.
    let own = cached_mgr
        .announce_pool(announcement(&key(3), "beta"))
        .await
        .expect("announce");
    let served = cached_mgr
        .discover_pool(&own)
        .await
        .expect("cached")
        .expect("found");
    assert_eq!(served.source, Source::Cache);
    assert_eq!(cached_mgr.list_local_pools().len(), 1);
}

#[tokio::test]
async fn forged_and_stale_candidates_never_win() {
    let (clock, net) = setup();
    let a = manager(&net, &clock, &key(1));
    let id = a
        .announce_pool(announcement(&key(1), "alpha"))
        .await
        .expect("v1");
    a.announce_pool(announcement(&key(1), "alpha"))
        .await
        .expect("v2");
    let noisy = MockStore::new(
        net.store(key(2).public()),
        FaultPlan {
            seed: 9,
            stale_candidates: 1000,
            forged_candidates: 1000,
            ..FaultPlan::none()
        },
    );
    let b = PoolManager::new(key(2), noisy, Arc::new(clock.clone()), ManagerConfig::new())
        .expect("keys");
    for _ in 0..5 {
        let found = b.discover_pool(&id).await.expect("get").expect("found");
        assert_eq!(found.seq, 2);
    }
    let stats = b.store().stats();
    assert!(stats.forged.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn dropped_puts_and_a_healed_partition() {
    let clock = ManualClock::new(T0);
    let shared: SharedClock = Arc::new(clock.clone());
    let net = MockNetwork::new(shared.clone());
    let cfg = ManagerConfig::new();
    let dropping = MockStore::new(
        net.node("a", key(1).public()),
        FaultPlan {
            drop_puts: 1000,
            ..FaultPlan::none()
        },
    );
    let a_lossy = PoolManager::new(key(1), dropping, shared.clone(), cfg).expect("keys");
    let b = PoolManager::new(key(2), net.node("b", key(2).public()), shared.clone(), cfg)
        .expect("keys");
    let id = a_lossy
        .announce_pool(announcement(&key(1), "alpha"))
        .await
        .expect("ack'ed");
    assert!(
        b.discover_pool(&id).await.expect("get").is_none(),
        "the put was dropped"
    );

    let a = PoolManager::new(key(1), net.node("a", key(1).public()), shared.clone(), cfg)
        .expect("keys");
    net.partition(&["a"], &["b"]);
    a.announce_pool(announcement(&key(1), "alpha"))
        .await
        .expect("announce");
    assert!(
        b.discover_pool(&id).await.expect("get").is_none(),
        "partitioned"
    );
    net.heal();
    assert!(
        b.discover_pool(&id).await.expect("get").is_some(),
        "a's replica is reachable again"
    );
}

#[tokio::test]
async fn shares_published_on_one_node_are_verified_and_split_identically_on_another() {
    let (clock, net) = setup();
    let owner = key(1);
    let pool = PoolId::derive(&owner.public(), "alpha");
    let factory = ShareFactory::new(pool);
    let (b, c) = (
        manager(&net, &clock, &key(2)),
        manager(&net, &clock, &key(3)),
    );
    for m in [&b, &c] {
        m.track_pool(pool, ShareFactory::validator_config());
        m.add_tip(TIP, BITS).expect("tip");
    }
    let mut submitted = 0;
    for i in 0..150u64 {
        let miner = ["alice", "bob", "carol"][(i % 3) as usize];
        b.submit_share(factory.share(miner, i))
            .await
            .expect("accepted");
        submitted += 1;
    }
    // A duplicate is refused at submission.
    assert!(b.submit_share(factory.share("alice", 0)).await.is_err());
    b.flush_shares(&pool).await.expect("flush");

    // A hostile publisher signs a batch of bad shares.
    let mallory = key(66);
    let mut bad = factory.share("mallory", 1_000);
    bad.coinbase[0] ^= 1;
    let slot = T0 / 60;
    let batch = chiral_pool::core::manager::ShareBatch {
        pool_id: pool,
        shares: vec![bad; 3],
    };
    let rec = SignedRecord::sign(
        &mallory,
        RecordKind::ShareBatch,
        RecordKey::share_batch(&pool, &mallory.public(), slot * 1_000_000),
        chiral_pool::core::codec::encode(&batch).expect("encodes"),
        1,
        T0 + 600,
    )
    .expect("signs");
    let mallory_store = net.store(mallory.public());
    mallory_store.put(rec).await.expect("valid record");
    mallory_store
        .advertise(
            &RecordKey::share_publishers(&pool, slot),
            Duration::from_secs(600),
        )
        .await
        .expect("advertise");

    let page_b = b
        .get_shares_for_pool(&pool, T0 - 60, T0 + 60)
        .await
        .expect("fetch");
    let page_c = c
        .get_shares_for_pool(&pool, T0 - 60, T0 + 60)
        .await
        .expect("fetch");
    assert_eq!(page_c.shares.len(), submitted);
    assert_eq!(page_b.shares, page_c.shares);
    assert_eq!(page_c.rejected, 3);
    assert!(c.standing(&mallory.public()) < 0);
    assert_eq!(c.standing(&key(2).public()), 0);

    let split = |page: &chiral_pool::core::manager::SharePage| {
        let mut w =
            PplnsWindow::new(page.shares.iter().map(|s| s.difficulty.raw()).sum::<u128>() / 2);
        for s in &page.shares {
            w.add(&s.payout_id, s.difficulty.raw());
        }
        w.settle(5_000_000_000, RewardCuts::default(), None)
    };
    let (sb, sc) = (split(&page_b), split(&page_c));
    assert_eq!(sb, sc);
    assert!(sc.is_conserved());
    assert_eq!(sc.payouts.len(), 3);

    let stats = c.pool_stats(&pool, T0 - 60, T0 + 60).await.expect("stats");
    assert_eq!(stats.shares, submitted as u64);
    assert_eq!(stats.miners.len(), 3);
    assert!(stats.hashrate > 0);
}
