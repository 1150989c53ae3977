//! Multi-node Kademlia tests on loopback.

mod common;

use std::time::Duration;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::record::{RecordKey, SignedRecord};
use chiral_pool_core::store::RecordStore;
use chiral_pool_dht::kad::{ListenError, StorageError};
use chiral_pool_dht::{KadConfig, KadError, KadStore};
use common::{network, now, pool_record};
use rand::{Rng, SeedableRng};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_put_on_a_get_on_c() {
    let nodes = network(3, 2).await;
    let owner = Keypair::generate();
    let record = pool_record(&owner, "alpha", 1);
    let report = nodes[0].put(record.clone()).await.expect("put");
    assert!(report.stored_locally);
    assert!(report.peers >= 1, "{report:?}");
    let got = nodes[2].get(record.key()).await.expect("get");
    assert_eq!(got, vec![record]);

    // The routing table lists the other two, in peer id order, each at
    // the address it listens on (with or without its `/p2p/<peer id>`).
    let peers = nodes[0].peers(10).await.expect("peers");
    let mut others: Vec<_> = nodes[1..].iter().map(|n| n.peer_id()).collect();
    others.sort();
    assert_eq!(peers.iter().map(|p| p.peer_id).collect::<Vec<_>>(), others);
    for peer in &peers {
        let node = nodes
            .iter()
            .find(|n| n.peer_id() == peer.peer_id)
            .expect("a node");
        assert!(
            peer.addresses
                .iter()
                .any(|a| node.listen_addrs().contains(a) || node.dial_addresses().contains(a)),
            "{peer:?}"
        );
    }
    assert!(peers.iter().any(|p| p.connected), "{peers:?}");
    assert_eq!(nodes[0].peers(1).await.expect("peers").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes_find_every_record_from_every_node() {
    let nodes = network(20, 3).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let mut records = Vec::new();
    for i in 0..10 {
        let owner = Keypair::generate();
        let record = pool_record(&owner, &format!("pool{i}"), 1);
        let at = rng.gen_range(0..nodes.len());
        nodes[at].put(record.clone()).await.expect("put");
        records.push(record);
    }
    let mut misses = Vec::new();
    for record in &records {
        for (i, node) in nodes.iter().enumerate() {
            let got = node.get(record.key()).await.expect("get");
            if got != vec![record.clone()] {
                misses.push((i, record.key().clone()));
            }
        }
    }
    assert!(misses.is_empty(), "{} misses: {misses:?}", misses.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_sequence_replaces_the_older_everywhere() {
    let nodes = network(4, 3).await;
    let owner = Keypair::generate();
    nodes[0]
        .put(pool_record(&owner, "alpha", 1))
        .await
        .expect("put v1");
    let v2 = pool_record(&owner, "alpha", 2);
    nodes[1].put(v2.clone()).await.expect("put v2");
    for node in &nodes {
        let got = node.get(v2.key()).await.expect("get");
        let best = chiral_pool_core::record::select_best(&got, now());
        assert_eq!(best, Some(&v2));
    }
    // A replay of v1 is stored nowhere it would displace v2.
    nodes[2]
        .put(pool_record(&owner, "alpha", 1))
        .await
        .expect("replay");
    let got = nodes[3].get(v2.key()).await.expect("get");
    assert_eq!(
        chiral_pool_core::record::select_best(&got, now()),
        Some(&v2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_their_publisher_leaving() {
    let nodes = network(5, 3).await;
    let owner = Keypair::generate();
    let record = pool_record(&owner, "stays", 1);
    let report = nodes[1].put(record.clone()).await.expect("put");
    assert!(report.peers >= 2, "{report:?}");
    nodes[1].shutdown().await;
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), nodes[1].get(record.key())).await,
        Ok(Err(_)) | Err(_)
    ));
    for node in [&nodes[0], &nodes[2], &nodes[3], &nodes[4]] {
        assert_eq!(
            node.get(record.key()).await.expect("get"),
            vec![record.clone()]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_members_are_seen_across_nodes() {
    let nodes = network(4, 3).await;
    let set = RecordKey::directory_set();
    nodes[0]
        .advertise(&set, Duration::from_secs(600))
        .await
        .expect("advertise");
    nodes[2]
        .advertise(&set, Duration::from_secs(600))
        .await
        .expect("advertise");
    let mut expected = vec![nodes[0].local_key(), nodes[2].local_key()];
    expected.sort();
    for node in &nodes {
        assert_eq!(node.members(&set).await.expect("members"), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_works_alone() {
    let node = KadStore::spawn(KadConfig::new()).await.expect("starts");
    let owner = Keypair::generate();
    let record = pool_record(&owner, "solo", 1);
    let report = node.put(record.clone()).await.expect("put");
    assert_eq!((report.stored_locally, report.peers), (true, 0));
    assert_eq!(node.get(record.key()).await.expect("get"), vec![record]);
    // Invalid records are refused on write.
    let forged = chiral_pool_dht::forge(&pool_record(&owner, "solo", 2));
    assert!(node.put(forged).await.is_err());
    let missing = RecordKey::pool(&chiral_pool_core::ids::PoolId::from_bytes([0; 32]));
    assert_eq!(
        node.get(&missing).await.expect("get"),
        Vec::<SignedRecord>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_node_keeps_its_newer_copy_when_given_an_older_one() {
    let node = KadStore::spawn(KadConfig::new()).await.expect("starts");
    let owner = Keypair::generate();
    let (v1, v2) = (
        pool_record(&owner, "solo", 1),
        pool_record(&owner, "solo", 2),
    );
    let report = node.put(v2.clone()).await.expect("put v2");
    assert!(report.stored_locally);
    let report = node.put(v1).await.expect("put v1");
    assert_eq!(node.get(v2.key()).await.expect("get"), vec![v2.clone()]);
    assert_eq!((report.stored_locally, report.peers), (false, 0));
    // The same record again is stored (republished) as before.
    let report = node.put(v2.clone()).await.expect("put v2 again");
    assert!(report.stored_locally);
    assert_eq!(node.get(v2.key()).await.expect("get"), vec![v2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_larger_than_k_list_every_member() {
    // Kademlia answers a provider lookup with at most k = 20 providers;
    // sharded sets must still list all 25 members from every node.
    let nodes = network(25, 10).await;
    let pool = chiral_pool_core::ids::PoolId::from_bytes([7; 32]);
    let mut expected: Vec<_> = nodes.iter().map(|n| n.local_key()).collect();
    expected.sort();
    // The pool directory, and one share slot with 25 publishing nodes.
    for set in [
        RecordKey::directory_set(),
        RecordKey::share_publishers(&pool, 42),
    ] {
        for node in &nodes {
            node.advertise(&set, Duration::from_secs(600))
                .await
                .expect("advertise");
        }
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(
                node.members(&set).await.expect("members"),
                expected,
                "{set}, node {i}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_a_restart_with_the_same_data_dir() {
    let dir = std::env::temp_dir().join(format!("chiral-durable-{}", rand::random::<u64>()));
    let key = Keypair::generate();
    let owner = Keypair::generate();
    let record = pool_record(&owner, "durable", 1);
    let config = || {
        let mut c = KadConfig::new().with_keypair(key.clone());
        c.data_dir = Some(dir.clone());
        c
    };
    let node = KadStore::spawn(config()).await.expect("starts");
    node.put(record.clone()).await.expect("put");
    // A clone's shutdown waits as well: the node task has ended and the
    // database is released when any handle's shutdown returns.
    let clone = node.clone();
    clone.shutdown().await;
    let node = KadStore::spawn(config())
        .await
        .expect("restarts on the same data dir at once");
    assert_eq!(node.get(record.key()).await.expect("get"), vec![record]);
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The errors behind `error`, outermost first.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_errors_keep_their_cause() {
    // A listen address not on this machine (TEST-NET-1): the OS error is
    // kept as the source, and shown.
    let mut elsewhere = KadConfig::new();
    elsewhere.listen = "/ip4/192.0.2.1/tcp/0".parse().expect("address");
    let error = KadStore::spawn(elsewhere).await.expect_err("cannot bind");
    assert!(matches!(error, KadError::Listen { .. }), "{error:?}");
    let chain = causes(&error);
    assert!(chain.iter().any(|e| e.is::<ListenError>()), "{error:?}");
    let io = chain
        .iter()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .expect("an io error in the chain");
    assert!(error.to_string().ends_with(&io.to_string()), "{error}");

    // A data directory that is a file.
    let file = std::env::temp_dir().join(format!("chiral-not-a-dir-{}", rand::random::<u64>()));
    std::fs::write(&file, b"x").expect("temp file");
    let mut config = KadConfig::new();
    config.data_dir = Some(file.clone());
    let error = KadStore::spawn(config).await.expect_err("not a directory");
    assert!(matches!(error, KadError::DataDir { .. }), "{error}");
    assert!(causes(&error).iter().any(|e| e.is::<std::io::Error>()));
    let _ = std::fs::remove_file(&file);

    // A data directory another running node holds: the database's error.
    let dir = std::env::temp_dir().join(format!("chiral-held-{}", rand::random::<u64>()));
    let config = || {
        let mut c = KadConfig::new();
        c.data_dir = Some(dir.clone());
        c
    };
    let holder = KadStore::spawn(config()).await.expect("starts");
    let error = KadStore::spawn(config()).await.expect_err("database held");
    assert!(matches!(error, KadError::Storage(_)), "{error}");
    assert!(causes(&error).iter().any(|e| e.is::<StorageError>()));
    assert!(
        causes(&error).len() >= 3,
        "the database error is kept: {error}"
    );
    holder.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
