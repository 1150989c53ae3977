//! Links pushed over gossipsub between Kademlia nodes on loopback, and
//! fetched by id from the peer that forwarded them.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiral_pool_core::ids::{LinkId, PayoutId, PoolId};
use chiral_pool_core::pow::CompactTarget;
use chiral_pool_core::sharechain::gossip::{Acceptance, IncomingLink, LinkGossip};
use chiral_pool_core::sharechain::testing::{mine_link, BlockRef};
use chiral_pool_core::sharechain::{ChainParams, JobPosition, Link};
use chiral_pool_dht::GossipHub;
use common::network;
use tokio::sync::mpsc;

const POOL: PoolId = PoolId::from_bytes([4; 32]);

fn link(seed: u64) -> Link {
    let position = JobPosition {
        parent: None,
        uncles: Vec::new(),
        chain_bits: ChainParams::new().floor_target().to_compact_lossy(),
        min_time: 0,
        payouts: None,
    };
    let block = BlockRef {
        prev_hash: [0; 32],
        bits: CompactTarget::from_consensus(0x1d00_ffff),
        height: 1,
    };
    let payout = PayoutId::new("alice").expect("valid");
    mine_link(POOL, &position, &payout, block, 1_700_000_000, seed)
}

fn id(link: &Link) -> LinkId {
    LinkId::from_bytes(link.header.hash())
}

async fn next(inbox: &mut mpsc::Receiver<IncomingLink>) -> IncomingLink {
    tokio::time::timeout(Duration::from_secs(20), inbox.recv())
        .await
        .expect("a link arrives in time")
        .expect("inbox open")
}

/// Publishes until a subscribed peer is known (gossipsub learns
/// subscriptions at its heartbeat), bounded by a timeout.
async fn publish(node: &impl LinkGossip, link: &Link) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while node.publish(POOL, link).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("a peer subscribes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_link_reaches_every_member_and_a_peer_serves_it_by_id() {
    let nodes = network(3, 2).await;
    let mut inboxes = Vec::new();
    for node in &nodes {
        inboxes.push(node.join(POOL).await.expect("join"));
    }
    // Every node serves the same store.
    let held: Arc<Mutex<HashMap<LinkId, Link>>> = Arc::default();
    for node in &nodes {
        let lookup_map = held.clone();
        node.serve(Arc::new(move |id| {
            lookup_map.lock().expect("lock").get(id).cloned()
        }))
        .await
        .expect("serve");
    }
    let stored = link(2);
    held.lock()
        .expect("lock")
        .insert(id(&stored), stored.clone());

    let first = link(1);
    publish(&nodes[1], &first).await;
    let got = next(&mut inboxes[0]).await;
    assert_eq!(got.link, first);
    nodes[0].report(got.ticket, Acceptance::Accept).await;
    let got2 = next(&mut inboxes[2]).await;
    assert_eq!(got2.link, first);

    // Ask the peer that sent it for another link by id.
    let fetched = nodes[0]
        .fetch(got.origin, id(&stored))
        .await
        .expect("fetch");
    assert_eq!(fetched, Some(stored));
    assert_eq!(
        nodes[0]
            .fetch(got.origin, LinkId::from_bytes([7; 32]))
            .await
            .expect("fetch"),
        None
    );
}

#[tokio::test]
async fn the_hub_delivers_to_members_and_a_partition_cuts_them_off() {
    let hub = GossipHub::new();
    let (a, b, c) = (hub.member(), hub.member(), hub.member());
    let mut inbox_b = b.join(POOL).await.expect("join");
    let mut inbox_c = c.join(POOL).await.expect("join");
    a.publish(POOL, &link(1)).await.expect("publish");
    assert_eq!(next(&mut inbox_b).await.link, link(1));
    assert_eq!(next(&mut inbox_c).await.link, link(1));

    hub.partition(&[c.index()]);
    a.publish(POOL, &link(2)).await.expect("publish");
    assert_eq!(next(&mut inbox_b).await.link, link(2));
    assert!(inbox_c.try_recv().is_err(), "c is cut off");
    hub.heal();
    a.publish(POOL, &link(3)).await.expect("publish");
    assert_eq!(next(&mut inbox_c).await.link, link(3));
}
