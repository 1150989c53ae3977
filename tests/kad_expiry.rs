//! Coordinator failover on real clocks that disagree by a second or two.
//!
//! Around a lease's expiry, nodes whose clocks lag still hold (and serve)
//! the lease that nodes whose clocks lead already see expired; Kademlia
//! also keeps a record up to a second past its signed expiry. Such stale
//! records must cost nobody a ban, or the survivors split the network
//! and each ends up believing it coordinates.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chiral_pool::core::ids::PoolId;
use chiral_pool::core::manager::{LeaseStatus, ManagerConfig, PoolManager};
use chiral_pool::core::store::{Clock, SharedClock, SystemClock};
use chiral_pool::dht::KadStore;
use common::kad_node;

/// The system clock moved by a fixed number of seconds: a machine whose
/// clock is off.
#[derive(Debug)]
struct SkewedClock(i64);

impl Clock for SkewedClock {
    fn now(&self) -> u64 {
        SystemClock.now().saturating_add_signed(self.0)
    }
}

/// Clock offsets, seconds: the coordinator first, then the survivors. The
/// survivors differ by up to 2 s; the fastest sees the dead lease expire
/// 2 s before the slowest does.
const SKEWS: [i64; 4] = [2, 1, 0, -1];
const LEASE_TTL: Duration = Duration::from_secs(3);
/// How often the survivors run the lease machinery (faster than the
/// `lease_ttl / 3` the manager asks for, to read around the expiry often).
const TICK: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_agree_on_one_coordinator_across_a_skewed_expiry() {
    let mut managers = Vec::new();
    let mut stores: Vec<KadStore> = Vec::new();
    for skew in SKEWS {
        let clock: SharedClock = Arc::new(SkewedClock(skew));
        let boot = stores
            .first()
            .map(KadStore::dial_addresses)
            .unwrap_or_default();
        let (key, store) = kad_node(&clock, boot).await;
        let config = ManagerConfig {
            lease_ttl: LEASE_TTL,
            ..ManagerConfig::new()
        };
        managers.push(PoolManager::new(key, store.clone(), clock, config).expect("config"));
        stores.push(store);
    }
    for store in &stores {
        tokio::time::timeout(Duration::from_secs(10), store.wait_for_peers(3))
            .await
            .expect("every node knows the three others");
    }
    let pool = PoolId::from_bytes([0x42; 32]);

    // The first to tick coordinates; everyone else follows it.
    let dead = managers[0].local_key();
    assert_eq!(
        managers[0].tick_coordinator(&pool).await.expect("tick"),
        LeaseStatus::Holder
    );
    for m in &managers[1..] {
        assert_eq!(
            m.tick_coordinator(&pool).await.expect("tick"),
            LeaseStatus::Follower(dead)
        );
    }
    // Its lease ends at this unix time (its own clock's reading).
    let lease_end = SkewedClock(SKEWS[0]).now() + LEASE_TTL.as_secs();
    stores[0].shutdown().await;
    let survivors = &managers[1..];

    // Tick until the slowest survivor's clock is 2 s past the lease's end,
    // reading the lease around its expiry all the while.
    let slowest = SkewedClock(SKEWS[3]);
    let mut tick = tokio::time::interval(TICK);
    let mut statuses = Vec::new();
    while slowest.now() < lease_end + 2 {
        tick.tick().await;
        statuses.clear();
        for m in survivors {
            statuses.push(m.tick_coordinator(&pool).await.expect("tick"));
            let _ = m.find_coordinator(&pool).await.expect("find");
        }
        for (i, s) in stores.iter().enumerate().skip(1) {
            let stats = s.stats().snapshot();
            assert_eq!(
                (stats.peers_struck, stats.peers_banned),
                (0, 0),
                "node {i} struck an honest peer; statuses {statuses:?}"
            );
        }
    }

    // Exactly one survivor holds the lease, and every survivor names it.
    let holders: Vec<_> = survivors
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == LeaseStatus::Holder)
        .map(|(m, _)| m.local_key())
        .collect();
    assert_eq!(holders.len(), 1, "statuses {statuses:?}");
    for m in survivors {
        assert_eq!(
            m.find_coordinator(&pool).await.expect("find"),
            Some(holders[0])
        );
    }
    // The survivors did read stale copies of the lease (and dropped them).
    let rejected: u64 = stores[1..]
        .iter()
        .map(|s| s.stats().snapshot().records_rejected)
        .sum();
    assert!(rejected > 0, "no stale lease was read");
}
