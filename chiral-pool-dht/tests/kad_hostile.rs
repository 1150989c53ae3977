//! A hostile node pushes forged records: honest nodes never store them,
//! get never returns them, and the hostile peer is banned. A peer that
//! only serves stale records (expired, or early by less than the clock-skew
//! tolerance) is not punished: honest peers do that around an expiry.

mod common;

use std::time::Duration;

use chiral_pool_core::codec;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::record::{RecordKey, RecordKind, SignedRecord, MAX_TTL_SECS};
use chiral_pool_core::store::RecordStore;
use chiral_pool_dht::kad::KAD_PROTOCOL;
use chiral_pool_dht::{forge, KadConfig, KadStore};
use common::{network, now, pool_record};
use futures::StreamExt;
use libp2p::kad::{self, store::MemoryStore, Quorum};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, multiaddr::Protocol, noise, tcp, yamux, Multiaddr};
use tokio::sync::oneshot;

#[derive(NetworkBehaviour)]
struct Hostile {
    kad: kad::Behaviour<MemoryStore>,
    identify: identify::Behaviour,
}

/// Starts a node that speaks our kad protocol but stores and pushes
/// anything; it puts `records` once connected and reports when done.
fn spawn_hostile(bootstrap: Multiaddr, records: Vec<kad::Record>, done: oneshot::Sender<usize>) {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("transport")
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let mut config = kad::Config::new(KAD_PROTOCOL);
            config.set_max_packet_size(256 * 1024);
            let mut kad = kad::Behaviour::with_config(peer, MemoryStore::new(peer), config);
            kad.set_mode(Some(kad::Mode::Server));
            Hostile {
                kad,
                identify: identify::Behaviour::new(identify::Config::new(
                    "/chiral/id/1.0.0".into(),
                    key.public(),
                )),
            }
        })
        .expect("behaviour")
        .build();
    tokio::spawn(async move {
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
            .expect("listen");
        let Some(Protocol::P2p(peer)) = bootstrap.iter().last() else {
            panic!("bootstrap needs /p2p");
        };
        let mut bare = bootstrap.clone();
        bare.pop();
        swarm.behaviour_mut().kad.add_address(&peer, bare);
        swarm.dial(bootstrap).expect("dial");
        let mut pending = None;
        let mut done = Some(done);
        let mut finished = 0;
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(HostileEvent::Kad(kad::Event::RoutingUpdated { .. }))
                    if pending.is_none() =>
                {
                    let _ = swarm.behaviour_mut().kad.bootstrap();
                    pending = Some(records.len());
                    for r in records.clone() {
                        swarm
                            .behaviour_mut()
                            .kad
                            .put_record(r, Quorum::One)
                            .expect("local store");
                    }
                }
                SwarmEvent::Behaviour(HostileEvent::Kad(kad::Event::OutboundQueryProgressed {
                    result: kad::QueryResult::PutRecord(_),
                    ..
                })) => {
                    finished += 1;
                    if Some(finished) == pending {
                        if let Some(tx) = done.take() {
                            let _ = tx.send(finished);
                        }
                    }
                }
                _ => {}
            }
        }
    });
}

fn raw(record: &SignedRecord) -> kad::Record {
    kad::Record::new(
        kad::RecordKey::new(&record.key().as_bytes()),
        record.to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_are_never_stored_or_returned() {
    let nodes = network(3, 2).await;
    let alice = Keypair::generate();
    let mallory = Keypair::generate();
    let genuine = pool_record(&alice, "alpha", 1);
    nodes[0].put(genuine.clone()).await.expect("put");

    // 1. alice's record with a bumped sequence number and her old signature.
    let bumped = forge(&genuine);
    // 2. mallory's signature over alice's announcement under alice's key.
    let squat = SignedRecord::sign(
        &mallory,
        RecordKind::Pool,
        genuine.key().clone(),
        genuine.payload().to_vec(),
        99,
        genuine.expires_at(),
    )
    .expect("signs");
    // 3. garbage under a pool key.
    let mut garbage = raw(&genuine);
    garbage.value = vec![0xde, 0xad, 0xbe, 0xef];
    // 4. a valid record of mallory's own, put under alice's kad key.
    let own = pool_record(&mallory, "evil", 1);
    let mut moved = raw(&own);
    moved.key = raw(&genuine).key;
    // 5. an expired record.
    let expired = {
        let t = now();
        let ann = chiral_pool_core::pool::PoolAnnouncement::new(
            mallory.public(),
            "old",
            "x",
            t - 100,
            t - 1,
        );
        let bytes = codec::encode(&ann).expect("encodes");
        let r = SignedRecord::sign(
            &mallory,
            RecordKind::Pool,
            chiral_pool_core::record::RecordKey::pool(&ann.id),
            bytes,
            1,
            t - 1,
        )
        .expect("signs");
        raw(&r)
    };

    let (tx, rx) = oneshot::channel();
    spawn_hostile(
        nodes[1].dial_addresses()[0].clone(),
        vec![raw(&bumped), raw(&squat), garbage, moved, expired],
        tx,
    );
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("hostile puts finish")
        .expect("hostile task alive");

    for node in &nodes {
        let got = node.get(genuine.key()).await.expect("get");
        assert_eq!(got, vec![genuine.clone()], "only the genuine record");
    }
    let rejected: u64 = nodes
        .iter()
        .map(|n| n.stats().snapshot().records_rejected)
        .sum();
    let banned: u64 = nodes
        .iter()
        .map(|n| n.stats().snapshot().peers_banned)
        .sum();
    assert!(rejected >= 3, "rejected {rejected}");
    assert!(banned >= 1, "banned {banned}");
}

/// A directory record of `owner` (any payload is bound to its signer)
/// expiring at `expires_at`, signed at whatever time that is.
fn directory(owner: &Keypair, seq: u64, expires_at: u64) -> SignedRecord {
    SignedRecord::sign(
        owner,
        RecordKind::Directory,
        RecordKey::directory_entry(&owner.public()),
        vec![1, 2, 3],
        seq,
        expires_at,
    )
    .expect("signs")
}

/// Runs a raw node that puts `records` to `target` (and then serves them
/// to its lookups) and waits until its puts have finished.
async fn push_from_raw_node(target: &KadStore, records: &[SignedRecord]) {
    let (tx, rx) = oneshot::channel();
    spawn_hostile(
        target.dial_addresses()[0].clone(),
        records.iter().map(raw).collect(),
        tx,
    );
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("raw puts finish")
        .expect("raw node alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_records_cost_their_sender_nothing_but_forgeries_still_ban() {
    let node = KadStore::spawn(KadConfig::new()).await.expect("starts");
    let stats = node.stats();
    let t = now();
    // Each raw node is the only other peer when it pushes, so its puts
    // finish only after the node has judged every record (kad answers a
    // put after the node has seen the record, or fails it on the ban).

    // Forgeries: their sender is banned and dropped.
    let forged: Vec<SignedRecord> = (0..3)
        .map(|_| forge(&directory(&Keypair::generate(), 1, t + 3600)))
        .collect();
    push_from_raw_node(&node, &forged).await;
    assert_eq!(stats.snapshot().peers_banned, 1);
    let struck = stats.snapshot().peers_struck;
    assert_eq!(struck, 3, "one strike per forged record");

    // Stale records, more than `max_invalid_records` of them: expired
    // moments ago, and expiring 10 s past the 48 h bound (a sender whose
    // clock is 10 s ahead). Their sender stays a peer.
    let mut stale: Vec<SignedRecord> = (0..4)
        .map(|i| directory(&Keypair::generate(), 1, t - i))
        .collect();
    stale.extend((0..2).map(|_| directory(&Keypair::generate(), 1, t + MAX_TTL_SECS + 10)));
    push_from_raw_node(&node, &stale).await;
    assert_eq!(stats.snapshot().peers_banned, 1, "no new ban");
    // Lookups fetch the stale copies from the raw node again, once the
    // node has it in its routing table.
    tokio::time::timeout(Duration::from_secs(10), node.wait_for_peers(1))
        .await
        .expect("the stale sender is a peer");
    for r in &stale {
        assert_eq!(node.get(r.key()).await.expect("get"), vec![]);
    }
    assert_eq!(stats.snapshot().peers_banned, 1, "no new ban");
    assert_eq!(
        stats.snapshot().peers_struck,
        struck,
        "no strike for stale records"
    );
    assert_eq!(node.peer_count(), 1, "the stale sender stays a peer");
    // Every copy was still dropped: 3 forged, 6 stale pushed, 6 fetched.
    let rejected = stats.snapshot().records_rejected;
    assert!(rejected >= 15, "rejected {rejected}");
}
