//! Shared fixtures for the DHT tests.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::record::SignedRecord;
use chiral_pool_dht::{KadConfig, KadStore};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A pool record owned by `owner`, valid for an hour.
pub fn pool_record(owner: &Keypair, name: &str, seq: u64) -> SignedRecord {
    let t = now();
    let ann = PoolAnnouncement::new(
        owner.public(),
        name,
        "stratum+tcp://127.0.0.1:3333",
        t,
        t + 3600,
    );
    SignedRecord::pool(owner, &ann, seq).expect("signs")
}

/// Starts `n` nodes on loopback, each bootstrapping through the first, and
/// waits (bounded) until every node knows at least `min_peers` peers.
pub async fn network(n: usize, min_peers: usize) -> Vec<KadStore> {
    let first = KadStore::spawn(KadConfig::new())
        .await
        .expect("first node starts");
    let boot = first.dial_addresses();
    let mut nodes = vec![first];
    for _ in 1..n {
        let node = KadStore::spawn(KadConfig::new().with_bootstrap(boot.clone()))
            .await
            .expect("node starts");
        nodes.push(node);
    }
    for (i, node) in nodes.iter().enumerate() {
        tokio::time::timeout(Duration::from_secs(30), node.wait_for_peers(min_peers))
            .await
            .unwrap_or_else(|_| panic!("node {i} reached only {} peers", node.peer_count()));
    }
    nodes
}
