//! 30 Kademlia nodes, a third of them stopped: the pool stays
//! discoverable and every published share is still fetched and verified.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chiral_pool::core::manager::{ManagerConfig, PoolManager};
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::store::Clock;
use chiral_pool::dht::KadStore;
use common::{kad_node, manual_clock, ShareFactory, BITS, TIP};
use rand::{seq::SliceRandom, SeedableRng};

const NODES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_of_the_network_stops_and_nothing_is_lost() {
    let (manual, clock) = manual_clock();
    let start = manual.now();
    let mut keys = Vec::new();
    let mut stores: Vec<KadStore> = Vec::new();
    for _ in 0..NODES {
        let boot = stores
            .first()
            .map(KadStore::dial_addresses)
            .unwrap_or_default();
        let (k, s) = kad_node(&clock, boot).await;
        keys.push(k);
        stores.push(s);
    }
    for s in &stores {
        let _ = tokio::time::timeout(Duration::from_secs(30), s.wait_for_peers(10)).await;
    }
    let managers: Vec<_> = keys
        .iter()
        .zip(&stores)
        .map(|(k, s)| {
            PoolManager::new(k.clone(), s.clone(), clock.clone(), ManagerConfig::new())
                .expect("keys")
        })
        .collect();

    let ann = PoolAnnouncement::new(
        keys[0].public(),
        "churn",
        "stratum+tcp://127.0.0.1:3333",
        0,
        0,
    );
    let pool = managers[0].announce_pool(ann).await.expect("announce");
    let factory = ShareFactory::at(pool, start);
    for m in &managers {
        m.track_pool(pool, ShareFactory::validator_config());
        m.add_tip(TIP, BITS).expect("tip");
    }
    let publisher = 1;
    for i in 0..40u64 {
        managers[publisher]
            .submit_share(factory.share(["ann", "ben", "cid"][(i % 3) as usize], i))
            .await
            .expect("accepted");
    }
    managers[publisher]
        .flush_shares(&pool)
        .await
        .expect("flush");

    // Every node sees the batches before anything stops (the puts reach
    // their replicas in the background).
    for m in &managers {
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let now = manual.now();
                if let Ok(page) = m.get_shares_for_pool(&pool, now - 600, now + 60).await {
                    if page.shares.len() == 40 {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "the batches did not spread");
    }

    // Stop a seeded third of the nodes, the pool's owner among them.
    let mut order: Vec<usize> = (1..NODES).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(30));
    let mut stopped: BTreeSet<usize> = order.into_iter().take(NODES / 3 - 1).collect();
    stopped.insert(0);
    for i in &stopped {
        stores[*i].shutdown().await;
    }
    let live: Vec<usize> = (0..NODES).filter(|i| !stopped.contains(i)).collect();

    // Every live node still finds the pool and every share.
    let now = manual.now();
    for i in &live {
        let pools = managers[*i].discover_pools().await.expect("directory");
        assert!(
            pools.iter().any(|p| p.announcement.id == pool),
            "node {i} lost the pool"
        );
        let page = managers[*i]
            .get_shares_for_pool(&pool, now - 600, now + 60)
            .await
            .expect("fetch");
        assert_eq!(
            page.shares.len(),
            40,
            "node {i} sees {} shares",
            page.shares.len()
        );
    }
}
