//! PoolManager end to end on real Kademlia nodes over loopback TCP.

mod common;

use std::time::Duration;

use chiral_pool::core::ids::PoolId;
use chiral_pool::core::manager::{ManagerConfig, PoolManager};
use chiral_pool::core::payout::{PplnsConfig, PplnsWindow, RewardCuts};
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::pow::Difficulty;
use chiral_pool::core::store::Clock;
use common::{kad_node, manual_clock, ShareFactory, BITS, TIP};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_share_split_and_failover_across_kad_nodes() {
    let (manual, clock) = manual_clock();
    let start = manual.now();
    let (ka, a) = kad_node(&clock, vec![]).await;
    let boot = a.dial_addresses();
    let (kb, b) = kad_node(&clock, boot.clone()).await;
    let (kc, c) = kad_node(&clock, boot).await;
    for n in [&a, &b, &c] {
        tokio::time::timeout(Duration::from_secs(20), n.wait_for_peers(2))
            .await
            .expect("peers");
    }
    let cfg = ManagerConfig::new();
    let ma = PoolManager::new(ka.clone(), a.clone(), clock.clone(), cfg).expect("keys");
    let mb = PoolManager::new(kb, b, clock.clone(), cfg).expect("keys");
    let mc = PoolManager::new(kc, c, clock.clone(), cfg).expect("keys");

    // Announce on A, discover on C (by id and through the directory).
    let ann = PoolAnnouncement::new(
        ka.public(),
        "kad-pool",
        "stratum+tcp://127.0.0.1:3333",
        0,
        0,
    );
    let pool: PoolId = ma.announce_pool(ann).await.expect("announce");
    let found = mc
        .discover_pool(&pool)
        .await
        .expect("get")
        .expect("found on C");
    assert_eq!(found.announcement.name, "kad-pool");
    let all = mc.discover_pools().await.expect("directory");
    assert_eq!(
        all.iter().map(|d| d.announcement.id).collect::<Vec<_>>(),
        vec![pool]
    );

    // Shares submitted on B are verified and counted on C.
    let factory = ShareFactory::at(pool, start);
    for m in [&mb, &mc] {
        m.track_pool(pool, ShareFactory::validator_config());
        m.add_tip(TIP, BITS).expect("tip");
    }
    for i in 0..60u64 {
        mb.submit_share(factory.share(["dora", "eve", "finn", "gus"][(i % 4) as usize], i))
            .await
            .expect("accepted");
    }
    mb.flush_shares(&pool).await.expect("flush");
    let now = manual.now();
    let page_b = mb
        .get_shares_for_pool(&pool, now - 3600, now + 60)
        .await
        .expect("fetch on B");
    let page_c = mc
        .get_shares_for_pool(&pool, now - 3600, now + 60)
        .await
        .expect("fetch on C");
    assert_eq!(page_c.shares.len(), 60);
    assert_eq!(page_b.shares, page_c.shares);

    // Identical PPLNS splits on B and C.
    // Network difficulty 2^-20: sixteen 2^-24 shares per block, the
    // window (2x) holds the last 32 shares.
    let config = PplnsConfig {
        window: chiral_pool::core::payout::WindowBps::DEFAULT,
        normalize_by_network: true,
    };
    let network = Difficulty::from_raw(1 << 12);
    let settle = |page: &chiral_pool::core::manager::SharePage| {
        let mut w = PplnsWindow::new(config.window(network));
        for s in &page.shares {
            w.add(&s.payout_id, config.weight(s.difficulty, network));
        }
        w.settle(625_000_000, RewardCuts::default(), None)
    };
    assert_eq!(settle(&page_b), settle(&page_c));
    assert!(settle(&page_c).is_conserved());
}
