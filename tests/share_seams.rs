//! The seams of a share between acceptance and payout, on the memory
//! backend: own shares are published on their verdict (no second
//! verification, so a tip the manager has not seen yet refuses nothing),
//! unknown tips are "not yet" rather than invalid, standing recovers,
//! restored shares go back to their own slots, and configuration that
//! would be silently rounded is refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chiral_pool::core::codec;
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::identity::PublicKey;
use chiral_pool::core::ids::PayoutId;
use chiral_pool::core::ids::PoolId;
use chiral_pool::core::manager::ShareBatch;
use chiral_pool::core::manager::{ManagerConfig, ManagerError, PoolManager};
use chiral_pool::core::record::{RecordKey, RecordKind, SignedRecord};
use chiral_pool::core::share::ShareError;
use chiral_pool::core::store::ManualClock;
use chiral_pool::core::store::{PutReport, RecordStore, StoreError};
use chiral_pool::dht::{MemoryNetwork, MemoryStore};
use common::{ShareFactory, BITS, T0, TIP};

const NEW_TIP: [u8; 32] = [0x77; 32];

fn key(i: u8) -> Keypair {
    Keypair::from_secret_bytes([i; 32])
}

fn manager_with(
    net: &MemoryNetwork,
    clock: &ManualClock,
    k: &Keypair,
    config: ManagerConfig,
) -> PoolManager<MemoryStore> {
    PoolManager::new(
        k.clone(),
        net.store(k.public()),
        Arc::new(clock.clone()),
        config,
    )
    .expect("valid manager")
}

fn manager(net: &MemoryNetwork, clock: &ManualClock, k: &Keypair) -> PoolManager<MemoryStore> {
    manager_with(net, clock, k, ManagerConfig::new())
}

/// A manager tracking `pool` that knows `tip`.
fn tracking(
    net: &MemoryNetwork,
    clock: &ManualClock,
    k: &Keypair,
    config: ManagerConfig,
    pool: PoolId,
    tip: [u8; 32],
) -> PoolManager<MemoryStore> {
    let m = manager_with(net, clock, k, config);
    m.track_pool(pool, ShareFactory::validator_config());
    m.add_tip(tip, BITS).expect("tip");
    m
}

fn setup() -> (ManualClock, MemoryNetwork, PoolId) {
    let clock = ManualClock::new(T0);
    let net = MemoryNetwork::with_clock(Arc::new(clock.clone()));
    let pool = PoolId::derive(&key(1).public(), "seams");
    (clock, net, pool)
}

#[tokio::test]
async fn a_share_on_a_tip_the_manager_has_not_seen_is_published_on_its_verdict() {
    let (clock, net, pool) = setup();
    let publisher = tracking(&net, &clock, &key(1), ManagerConfig::new(), pool, TIP);
    let f = ShareFactory::new(pool);
    // The server already moved to NEW_TIP; the manager has not heard yet.
    let share = f.share_on(NEW_TIP, "alice", 1);
    let verified = ShareFactory::verdict(NEW_TIP, &share);
    publisher
        .queue_verified(share.clone(), verified.clone())
        .expect("queued without a second verification");
    assert_eq!(publisher.flush_shares(&pool).await.expect("flush"), 1);

    // Reading its own batch back costs no verification: the verdict it
    // published with is kept, although its validator still lacks NEW_TIP.
    let own = publisher
        .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
        .await
        .expect("read");
    assert_eq!(own.shares, vec![verified.clone()]);
    assert_eq!((own.rejected, own.pending), (0, 0));

    // A reader verifies it itself, once it knows the tip.
    let reader = tracking(&net, &clock, &key(2), ManagerConfig::new(), pool, NEW_TIP);
    let page = reader
        .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
        .await
        .expect("read");
    assert_eq!(page.shares, vec![verified]);

    // The old path, validating again against the manager's own tips,
    // refused exactly this share.
    let stale = f.share_on(NEW_TIP, "alice", 2);
    assert!(matches!(
        publisher.submit_share(stale).await,
        Err(ManagerError::Share(_))
    ));
}

#[tokio::test]
async fn a_follower_that_learns_a_tip_late_counts_every_share_and_blames_no_one() {
    let (clock, net, pool) = setup();
    let publisher = tracking(&net, &clock, &key(1), ManagerConfig::new(), pool, NEW_TIP);
    let f = ShareFactory::new(pool);
    // More than the -10 standing that used to shut a publisher out.
    for i in 0..25 {
        publisher
            .submit_share(f.share_on(NEW_TIP, "alice", i))
            .await
            .expect("valid");
    }
    publisher.flush_shares(&pool).await.expect("flush");

    let follower = tracking(&net, &clock, &key(2), ManagerConfig::new(), pool, TIP);
    for _ in 0..3 {
        let behind = follower
            .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
            .await
            .expect("read");
        assert_eq!(
            (behind.shares.len(), behind.rejected, behind.pending),
            (0, 0, 25)
        );
    }
    assert_eq!(follower.standing(&key(1).public()), 0);

    follower.add_tip(NEW_TIP, BITS).expect("tip");
    let caught_up = follower
        .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
        .await
        .expect("read");
    assert_eq!(
        (
            caught_up.shares.len(),
            caught_up.rejected,
            caught_up.pending
        ),
        (25, 0, 0)
    );
}

/// Publishes, as `publisher`, one batch of `shares` in the slot of `T0`
/// without any check: what a faulty or hostile node can do.
async fn publish_raw(
    net: &MemoryNetwork,
    publisher: &Keypair,
    pool: PoolId,
    slot_secs: u64,
    shares: Vec<chiral_pool::core::share::Share>,
) {
    let slot = T0 / slot_secs;
    let record = SignedRecord::sign(
        publisher,
        RecordKind::ShareBatch,
        RecordKey::share_batch(&pool, &publisher.public(), slot * 1_000_000),
        codec::encode(&ShareBatch {
            pool_id: pool,
            shares,
        })
        .expect("encodes"),
        1,
        T0 + 24 * 3600,
    )
    .expect("signs");
    let store = net.store(publisher.public());
    store.put(record).await.expect("stored");
    store
        .advertise(
            &RecordKey::share_publishers(&pool, slot),
            Duration::from_secs(24 * 3600),
        )
        .await
        .expect("advertised");
}

#[tokio::test]
async fn standing_lost_to_invalid_shares_recovers_and_is_not_charged_twice() {
    let (clock, net, pool) = setup();
    let config = ManagerConfig {
        share_slot: Duration::from_secs(60),
        ..ManagerConfig::new()
    };
    // A faulty publisher: its shares claim another payout id than their
    // coinbase commits to.
    let f = ShareFactory::new(pool);
    let bad: Vec<_> = (0..12)
        .map(|i| {
            let mut share = f.share("mallory", i);
            share.payout_id = PayoutId::new("thief").expect("id");
            share
        })
        .collect();
    publish_raw(&net, &key(1), pool, 60, bad).await;

    let reader = tracking(&net, &clock, &key(2), config, pool, TIP);
    let page = reader
        .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
        .await
        .expect("read");
    assert_eq!((page.rejected, page.shares.len()), (12, 0));
    let after_one_read = reader.standing(&key(1).public());
    assert_eq!(after_one_read, -12);
    // Skipped while below the minimum; a second read charges nothing more.
    let skipped = reader
        .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
        .await
        .expect("read");
    assert_eq!(skipped.publishers, Vec::new());
    assert_eq!(reader.standing(&key(1).public()), after_one_read);

    // Time gives standing back, one point a slot, up to neutral; read
    // again, the same batch is not charged a second time.
    clock.advance(60 * 5);
    assert_eq!(reader.standing(&key(1).public()), after_one_read + 5);
    clock.advance(60 * 100);
    assert_eq!(reader.standing(&key(1).public()), 0);
    let again = reader
        .get_shares_for_pool(&pool, T0 - 10, T0 + 10)
        .await
        .expect("read");
    assert_eq!(again.rejected, 12);
    assert_eq!(reader.standing(&key(1).public()), 0);
}

#[test]
fn a_verdict_that_is_not_the_shares_is_refused() {
    let (clock, net, pool) = setup();
    let publisher = manager(&net, &clock, &key(1));
    publisher.track_pool(pool, ShareFactory::validator_config());
    let f = ShareFactory::new(pool);
    let share = f.share("alice", 1);
    let other = ShareFactory::verdict(TIP, &f.share("alice", 2));
    assert!(matches!(
        publisher.queue_verified(share.clone(), other),
        Err(ManagerError::Share(ShareError::VerdictMismatch))
    ));
    let mut claimed = ShareFactory::verdict(TIP, &share);
    claimed.payout_id = PayoutId::new("thief").expect("id");
    assert!(publisher.queue_verified(share, claimed).is_err());
}

#[tokio::test]
async fn restored_shares_go_back_to_their_own_slots() {
    let (clock, net, pool) = setup();
    // Small slots so that one slot holds fewer shares than were restored.
    let config = ManagerConfig {
        share_slot: Duration::from_secs(10),
        max_batch_shares: 4,
        max_batches_per_slot: 2,
        ..ManagerConfig::new()
    };
    let per_slot = 4 * 2;
    let publisher = manager_with(&net, &clock, &key(1), config);
    publisher.track_pool(pool, ShareFactory::validator_config());
    let mut shares = Vec::new();
    for slot in 0..6u64 {
        let f = ShareFactory::at(pool, T0 - 60 + slot * 10);
        for i in 0..6 {
            shares.push(f.share("alice", slot * 100 + i));
        }
    }
    assert!(shares.len() > per_slot);
    let published = publisher
        .publish_restored(&pool, shares.clone())
        .await
        .expect("published");
    assert_eq!(published, shares.len());

    let reader = tracking(&net, &clock, &key(2), config, pool, TIP);
    let page = reader
        .get_shares_for_pool(&pool, T0 - 70, T0)
        .await
        .expect("read");
    assert_eq!(
        page.shares.len(),
        shares.len(),
        "every restored share is read"
    );
}

#[test]
fn manager_settings_out_of_range_are_refused_by_name() {
    let (clock, net, _) = setup();
    let k = key(1);
    for (field, config) in [
        (
            "share_slot",
            ManagerConfig {
                share_slot: Duration::ZERO,
                ..ManagerConfig::new()
            },
        ),
        (
            "max_batches_per_slot",
            ManagerConfig {
                max_batches_per_slot: 0,
                ..ManagerConfig::new()
            },
        ),
    ] {
        let err = PoolManager::new(
            k.clone(),
            net.store(k.public()),
            Arc::new(clock.clone()),
            config,
        )
        .expect_err("refused");
        assert!(
            matches!(err, ManagerError::Config { field: f, .. } if f == field),
            "{err}"
        );
        assert!(err.to_string().contains(field), "{err}");
    }
}

/// A memory store whose `fail`-th put (counting from 1) fails.
struct FlakyStore {
    inner: MemoryStore,
    puts: std::sync::atomic::AtomicUsize,
    fail: usize,
}

#[async_trait::async_trait]
impl RecordStore for FlakyStore {
    async fn put(&self, record: SignedRecord) -> Result<PutReport, StoreError> {
        let n = self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n == self.fail {
            return Err(StoreError::Timeout);
        }
        self.inner.put(record).await
    }

    async fn get(&self, key: &RecordKey) -> Result<Vec<SignedRecord>, StoreError> {
        self.inner.get(key).await
    }

    async fn advertise(&self, set: &RecordKey, ttl: Duration) -> Result<(), StoreError> {
        self.inner.advertise(set, ttl).await
    }

    async fn members(&self, set: &RecordKey) -> Result<Vec<PublicKey>, StoreError> {
        self.inner.members(set).await
    }

    fn local_key(&self) -> PublicKey {
        self.inner.local_key()
    }
}

fn small_slots() -> ManagerConfig {
    ManagerConfig {
        share_slot: Duration::from_secs(10),
        max_batch_shares: 4,
        max_batches_per_slot: 2,
        ..ManagerConfig::new()
    }
}

fn reader(net: &MemoryNetwork, clock: &ManualClock, pool: PoolId) -> PoolManager<MemoryStore> {
    tracking(net, clock, &key(2), small_slots(), pool, TIP)
}

#[tokio::test]
async fn a_failed_put_leaves_no_gap_and_loses_no_restored_share() {
    let (clock, net, pool) = setup();
    let publisher = PoolManager::new(
        key(1),
        FlakyStore {
            inner: net.store(key(1).public()),
            puts: Default::default(),
            fail: 2,
        },
        Arc::new(clock.clone()),
        small_slots(),
    )
    .expect("manager");
    publisher.track_pool(pool, ShareFactory::validator_config());
    let mut shares = Vec::new();
    for slot in 0..3u64 {
        let f = ShareFactory::at(pool, T0 - 30 + slot * 10);
        shares.extend((0..6).map(|i| f.share("alice", slot * 100 + i)));
    }
    // The second put (the first slot's second batch) fails: the other
    // slots are still published, and the failed batch waits for its slot.
    let first = publisher.publish_restored(&pool, shares.clone()).await;
    assert!(first.is_err());
    assert_eq!(publisher.flush_shares(&pool).await.expect("retried"), 2);
    let page = reader(&net, &clock, pool)
        .get_shares_for_pool(&pool, T0 - 40, T0 + 10)
        .await
        .expect("read");
    assert_eq!(
        page.shares.len(),
        shares.len(),
        "every restored share is read"
    );
}

#[tokio::test]
async fn a_full_slot_spills_into_the_next_instead_of_hiding_shares() {
    let (clock, net, pool) = setup();
    let publisher = manager_with(&net, &clock, &key(1), small_slots());
    publisher.track_pool(pool, ShareFactory::validator_config());
    // 20 shares of one slot: five batches where readers read two a slot.
    let f = ShareFactory::at(pool, T0 - 30);
    let shares: Vec<_> = (0..20).map(|i| f.share("alice", i)).collect();
    assert_eq!(
        publisher
            .publish_restored(&pool, shares)
            .await
            .expect("published"),
        20
    );
    let page = reader(&net, &clock, pool)
        .get_shares_for_pool(&pool, T0 - 40, T0 + 10)
        .await
        .expect("read");
    assert_eq!(page.shares.len(), 20);
}
