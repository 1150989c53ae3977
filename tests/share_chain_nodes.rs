//! Nodes that each run their own synthetic chain (as separate processes
//! do) agree on every block's payout through the share chain: a follower
//! learns the pool's blocks from its links, miners on two nodes build one
//! chain, and a node restarted mid-run catches up and agrees.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::pow::Target;
use chiral_pool::core::record::RecordKey;
use chiral_pool::core::store::RecordStore;
use chiral_pool::miner::{run_cpu_miner, MinerStats};
use chiral_pool::node::{ChainBlock, NodeConfig, PoolNode, PoolSpec};
use chiral_pool::stratum::client::ClientConfig;

/// About a million hashes per block: a second or two of a CPU miner.
const BLOCK_DIFFICULTY: f64 = 1.0 / 4096.0;

fn config(key: Keypair, bootstrap: Vec<chiral_pool::dht::kad::Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::new(key);
    c.bootstrap = bootstrap;
    c.chain_bits = Target::from_difficulty(BLOCK_DIFFICULTY)
        .expect("difficulty")
        .to_compact_lossy();
    c.share_difficulty = 1.0 / 65_536.0;
    c.share_interval_secs = 1.0;
    c
}

fn announcing(key: Keypair) -> NodeConfig {
    let mut c = config(key, Vec::new());
    c.announce = Some(PoolSpec {
        link_spacing_secs: 1,
        ..PoolSpec::new("chain-test")
    });
    c
}

async fn discover(node: &PoolNode, pool: chiral_pool::core::ids::PoolId) -> PoolAnnouncement {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(pools) = node.manager.discover_pools().await {
                if let Some(p) = pools.into_iter().find(|p| p.announcement.id == pool) {
                    return p.announcement;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the pool is discovered")
}

fn miner(
    node: &PoolNode,
    user: &str,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let (addr, _) = node.stratum().expect("serving");
    let mut c = ClientConfig::new(addr.to_string(), user.to_owned());
    c.suggest_difficulty = Some(1.0 / 65_536.0);
    tokio::spawn(run_cpu_miner(
        c,
        Arc::new(MinerStats::default()),
        stop.clone(),
    ))
}

/// Waits until every node has settled `n` blocks.
async fn settled(nodes: &[&Arc<PoolNode>], n: usize, limit: Duration) {
    let waited = tokio::time::timeout(limit, async {
        while nodes.iter().any(|node| node.blocks().len() < n) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let counts: Vec<usize> = nodes.iter().map(|n| n.blocks().len()).collect();
    let chains: Vec<_> = nodes.iter().map(|n| n.chain_status()).collect();
    assert!(
        waited.is_ok(),
        "blocks settled per node: {counts:?}; chains: {chains:?}"
    );
}

/// Every block settled on every node has the same split on all of them.
fn assert_same_payouts(nodes: &[&Arc<PoolNode>]) -> usize {
    let views: Vec<Vec<ChainBlock>> = nodes.iter().map(|n| n.blocks()).collect();
    let mut compared = 0;
    for block in &views[0] {
        for (i, view) in views.iter().enumerate().skip(1) {
            if let Some(other) = view.iter().find(|b| b.link == block.link) {
                assert_eq!(
                    other, block,
                    "node {i} settles block {} differently",
                    block.height
                );
                compared += 1;
            }
        }
        assert!(block.settlement.is_conserved());
    }
    compared
}

/// Reads `key` from `node`'s store until a record decodes with `decode`
/// (a put may still be on its way), bounded by a timeout.
async fn read_until<T>(
    node: &PoolNode,
    key: RecordKey,
    decode: impl Fn(&chiral_pool::core::record::SignedRecord) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let records = node.store.get(&key).await.unwrap_or_default();
            if let Some(found) = records.iter().find_map(&decode) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{key} is found"))
}

/// A node announcing a pool and a second node following it.
async fn server_and_follower() -> (Arc<PoolNode>, Arc<PoolNode>, PoolAnnouncement) {
    let a = PoolNode::start(announcing(Keypair::generate()))
        .await
        .expect("a");
    let pool = a.pool().expect("a pool");
    let b = PoolNode::start(config(Keypair::generate(), a.store.dial_addresses()))
        .await
        .expect("b");
    b.store.wait_for_peers(1).await;
    let ann = discover(&b, pool).await;
    b.follow(&ann).await.expect("follows");
    (a, b, ann)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_its_own_chain_settles_every_block_the_server_does() {
    let (a, b, _) = server_and_follower().await;
    let stop = chiral_pool::node::stop_flag();
    let m = miner(&a, "alice.rig", &stop);
    settled(&[&a, &b], 4, Duration::from_secs(120)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = m.await;
    assert!(assert_same_payouts(&[&a, &b]) >= 4);
    // B never mined: everything it knows of the pool came through links.
    assert!(b.chain_status().verified > 0);
    assert_eq!(b.chain_status().rejected, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_miners_on_two_a_restart_all_agree() {
    let a = PoolNode::start(announcing(Keypair::generate()))
        .await
        .expect("a");
    let pool = a.pool().expect("pool");
    let boot = a.store.dial_addresses();
    let mut serving = config(Keypair::generate(), boot.clone());
    serving.stratum = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let b = PoolNode::start(serving).await.expect("b");
    let c = PoolNode::start(config(Keypair::generate(), boot.clone()))
        .await
        .expect("c");
    let dir = std::env::temp_dir().join(format!("chiral-restart-{}", rand::random::<u64>()));
    let d_key = Keypair::generate();
    let mut d_config = config(d_key.clone(), boot.clone());
    d_config.data_dir = Some(dir.clone());
    let d = PoolNode::start(d_config.clone()).await.expect("d");
    let ann = discover(&d, pool).await;
    for node in [&b, &c, &d] {
        node.follow(&ann).await.expect("follows");
    }
    let stop = chiral_pool::node::stop_flag();
    let miners = [miner(&a, "alice.rig", &stop), miner(&b, "bob.rig", &stop)];
    settled(&[&a, &b, &c, &d], 2, Duration::from_secs(120)).await;

    // Kill D and start it again on its data directory mid-run.
    let before = d.chain_status();
    d.shutdown().await;
    let d = PoolNode::start(d_config).await.expect("d again");
    d.follow(&ann).await.expect("follows again");
    let restored = d.counters.links_restored.load(Ordering::Relaxed);
    assert!(
        restored > 0 && restored as usize <= before.links,
        "{restored}"
    );
    let target = a.blocks().len() + 2;
    settled(&[&a, &b, &c, &d], target, Duration::from_secs(180)).await;
    stop.store(true, Ordering::Relaxed);
    for m in miners {
        let _ = m.await;
    }
    assert!(d.chain_status().height >= before.height);
    assert!(assert_same_payouts(&[&a, &b, &c, &d]) >= 3 * target);
    for node in [&a, &b, &c, &d] {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_joins_from_the_records_members_carry_and_agrees() {
    let (a, b, ann) = server_and_follower().await;
    let pool = ann.id;
    let stop = chiral_pool::node::stop_flag();
    let m = miner(&a, "alice.rig", &stop);
    settled(&[&a, &b], 2, Duration::from_secs(120)).await;

    // A late node reads the pool from its parameters record (any member
    // carries one; it hashes to the pool id), not from an announcement.
    let c = PoolNode::start(config(Keypair::generate(), b.store.dial_addresses()))
        .await
        .expect("c");
    c.store.wait_for_peers(1).await;
    let from_params = read_until(&c, RecordKey::params(&pool), |r| r.params_payload().ok()).await;
    assert_eq!(from_params.id(), pool);
    let joined = from_params.announcement(0, u64::MAX / 2);
    assert_eq!(joined.id, pool);
    assert_eq!(joined.chain, ann.chain);
    // What `--join <id>` calls: the announcement if listed, else these.
    let found = c.find_pool(&pool).await.expect("the pool is found");
    assert_eq!((found.id, &found.chain), (pool, &ann.chain));
    // The links are records too, under their ids (the tip's record may
    // still be on its way when the tip is read: read until it is there).
    let tip = a.chain_status().tip.expect("a tip");
    let stored = read_until(&c, RecordKey::link(&pool, &tip), |r| r.link_payload().ok()).await;
    assert_eq!(stored.header.hash(), *tip.as_bytes());

    c.follow(&joined).await.expect("follows");
    let target = a.blocks().len() + 2;
    settled(&[&a, &b, &c], target, Duration::from_secs(120)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = m.await;
    assert!(assert_same_payouts(&[&a, &b, &c]) >= 2 * target);
    for node in [&a, &b, &c] {
        node.shutdown().await;
    }
}
