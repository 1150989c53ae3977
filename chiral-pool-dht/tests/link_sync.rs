//! A fresh node catching up on a chain: one link at a time until a
//! checkpoint link, then everything the checkpoints name at once; from the
//! forwarding peer or from the store's link records; and never misled by
//! a wrong or missing checkpoint.

use std::sync::Arc;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::pow::{CompactTarget, Difficulty};
use chiral_pool_core::record::{Checkpoint, SignedRecord};
use chiral_pool_core::sharechain::gossip::LinkGossip;
use chiral_pool_core::sharechain::sync::{fetch_ancestry, SyncRequest};
use chiral_pool_core::sharechain::testing::{linear_chain, BlockRef};
use chiral_pool_core::sharechain::{ChainParams, Origin, ShareChain};
use chiral_pool_core::store::{ManualClock, RecordStore};
use chiral_pool_dht::{GossipHub, HubGossip, MemoryNetwork, MemoryStore};

const POOL: PoolId = PoolId::from_bytes([5; 32]);
const T0: u32 = 1_700_000_000;
const LINKS: usize = 700;

fn params() -> ChainParams {
    let mut p = ChainParams::new();
    p.min_difficulty = Difficulty::from_raw(1 << 8);
    p.max_window_links = 100;
    p
}

fn chain() -> ShareChain {
    let block = BlockRef {
        prev_hash: [0; 32],
        bits: CompactTarget::from_consensus(0x1d00_ffff),
        height: 1,
    };
    linear_chain(POOL, &params(), block, LINKS, T0, 10)
}

/// A store holding every link of `chain` and, where `checkpoint` gives
/// one, the checkpoint at each checkpoint link.
async fn stored(
    chain: &ShareChain,
    checkpoint: impl Fn(&LinkId, Checkpoint) -> Option<Checkpoint>,
) -> MemoryStore {
    let clock = ManualClock::new(u64::from(T0) + 10 * LINKS as u64);
    let carrier = Keypair::from_secret_bytes([1; 32]);
    let store = MemoryNetwork::with_clock(Arc::new(clock)).store(carrier.public());
    for id in chain.best_chain(usize::MAX) {
        let link = chain.get(&id).expect("held").link().clone();
        let record = SignedRecord::link(&carrier, &POOL, &link).expect("certifies");
        store.put(record).await.expect("stored");
        if let Some(c) = chain.checkpoint(&id).and_then(|c| checkpoint(&id, c)) {
            let record = SignedRecord::checkpoint(&carrier, &POOL, &c).expect("signs");
            store.put(record).await.expect("stored");
        }
    }
    store
}

/// A chain, a store holding it with its checkpoints, a lone gossip
/// member (no peer answers), the rules and the tip.
struct Fixture {
    chain: ShareChain,
    store: MemoryStore,
    gossip: HubGossip,
    p: ChainParams,
    tip: LinkId,
}

async fn fixture() -> Fixture {
    let chain = chain();
    let store = stored(&chain, |_, c| Some(c)).await;
    let tip = chain.tip().expect("tip");
    Fixture {
        chain,
        store,
        gossip: GossipHub::new().member(),
        p: params(),
        tip,
    }
}

fn request(origin: Origin, p: &ChainParams) -> SyncRequest<'_> {
    SyncRequest {
        pool: POOL,
        params: p,
        origin,
        limit: LINKS,
        parallel: 16,
    }
}

/// The ids of `chain`'s best chain, oldest first.
fn ids(chain: &ShareChain) -> Vec<LinkId> {
    let mut ids = chain.best_chain(usize::MAX);
    ids.reverse();
    ids
}

#[tokio::test]
async fn checkpoints_turn_a_serial_sync_into_a_few_rounds() {
    let Fixture {
        chain,
        store,
        gossip,
        p,
        tip,
    } = fixture().await;
    let synced = fetch_ancestry(&gossip, &store, &request(Origin::LOCAL, &p), tip, &|_| {
        false
    })
    .await;
    let got: Vec<LinkId> = synced.links.iter().map(|l| l.id()).collect();
    assert_eq!(got, ids(&chain), "every link, oldest first");
    assert_eq!(synced.from_store, LINKS);
    assert_eq!(synced.unused, 0);
    assert!(synced.checkpoints_read > 0);
    // A checkpoint about every 64 links: the first batch names the rest.
    assert!(
        synced.rounds < 200,
        "{} rounds for {LINKS} links",
        synced.rounds
    );

    // Every fetched link joins a fresh chain, in the order given.
    let mut fresh = ShareChain::new(POOL, p.clone(), Default::default()).expect("valid");
    fresh.add_block([0; 32], 1, u64::from(T0));
    for link in synced.links {
        fresh
            .insert(link, Origin::LOCAL, u64::MAX / 2)
            .expect("joins");
    }
    assert_eq!(fresh.tip(), Some(tip));
}

#[tokio::test]
async fn the_forwarding_peer_answers_first_and_a_known_link_ends_the_walk() {
    let chain = Arc::new(chain());
    let store = stored(&chain, |_, c| Some(c)).await;
    let hub = GossipHub::new();
    let (fresh, server) = (hub.member(), hub.member());
    let served = chain.clone();
    server
        .serve(Arc::new(move |id| served.get(id).map(|l| l.link().clone())))
        .await
        .expect("serve");
    let all = ids(&chain);
    // The fresh node already holds the first 100 links.
    let known: std::collections::HashSet<LinkId> = all[..100].iter().copied().collect();
    let p = params();
    let origin = Origin(server.index() as u64 + 1);
    let tip = chain.tip().expect("tip");
    let synced = fetch_ancestry(&fresh, &store, &request(origin, &p), tip, &|id| {
        known.contains(id)
    })
    .await;
    let got: Vec<LinkId> = synced.links.iter().map(|l| l.id()).collect();
    assert_eq!(got, all[100..].to_vec());
    assert_eq!(synced.from_peer, LINKS - 100);
    assert_eq!(synced.from_store, 0);
}

#[tokio::test]
async fn a_wrong_checkpoint_costs_fetches_never_a_wrong_chain() {
    let chain = chain();
    let all = ids(&chain);
    // Every checkpoint names the chain's oldest links instead of its own
    // ancestors (the first entry kept right, so it is read): they prove,
    // and chain among themselves, but not from the checkpoint link.
    let oldest = all.clone();
    let liar = move |_: &LinkId, mut c: Checkpoint| {
        let first = c.ancestors[0];
        let n = c.ancestors.len();
        c.ancestors = std::iter::once(first)
            .chain(oldest[..n - 1].iter().copied())
            .collect();
        c.earlier.clear();
        Some(c)
    };
    let store = stored(&chain, liar).await;
    let gossip = GossipHub::new().member();
    let p = params();
    let tip = chain.tip().expect("tip");
    let synced = fetch_ancestry(&gossip, &store, &request(Origin::LOCAL, &p), tip, &|_| {
        false
    })
    .await;
    let got: Vec<LinkId> = synced.links.iter().map(|l| l.id()).collect();
    assert_eq!(got, all, "the walk goes on link by link");
    assert!(synced.unused > 0, "the misnamed links were fetched, unused");

    // No checkpoints at all: the same chain, one round per link.
    let bare = stored(&chain, |_, _| None).await;
    let synced = fetch_ancestry(&gossip, &bare, &request(Origin::LOCAL, &p), tip, &|_| false).await;
    assert_eq!(synced.links.len(), LINKS);
    assert_eq!(synced.rounds, LINKS);
}

#[tokio::test]
async fn a_sync_stops_at_its_limit_and_at_a_missing_link() {
    let Fixture {
        chain,
        store,
        gossip,
        p,
        tip,
    } = fixture().await;
    let mut limited = request(Origin::LOCAL, &p);
    limited.limit = 150;
    let synced = fetch_ancestry(&gossip, &store, &limited, tip, &|_| false).await;
    let all = ids(&chain);
    let got: Vec<LinkId> = synced.links.iter().map(|l| l.id()).collect();
    assert_eq!(got, all[LINKS - 150..].to_vec(), "the newest 150");

    // An id nobody holds: nothing, and no panic.
    let nobody = LinkId::from_bytes([0xee; 32]);
    let synced = fetch_ancestry(
        &gossip,
        &store,
        &request(Origin::LOCAL, &p),
        nobody,
        &|_| false,
    )
    .await;
    assert!(synced.links.is_empty());
}

#[tokio::test]
async fn a_pool_older_than_what_peers_keep_is_joined_on_an_assumed_base() {
    let Fixture {
        chain,
        store,
        gossip,
        p,
        tip,
    } = fixture().await;
    // Peers keep 300 links of a 700-link chain: the sync stops there.
    let mut request = request(Origin::LOCAL, &p);
    request.limit = 300;
    let synced = fetch_ancestry(&gossip, &store, &request, tip, &|_| false).await;
    assert_eq!(synced.links.len(), 300);
    let mut fresh = ShareChain::new(POOL, p.clone(), Default::default()).expect("valid");
    fresh.add_block([0; 32], 1, u64::from(T0));
    let added = fresh
        .assume(synced.links, Vec::new(), u64::MAX / 2)
        .expect("an assumed base");
    assert_eq!(added.valid.len(), 300);
    assert_eq!(fresh.tip(), Some(tip));
    // Above the base (60 links) and a window (100), every window is the
    // pool's, byte for byte.
    for id in chain.best_chain(300 - 160) {
        assert_eq!(fresh.window(id), chain.window(id), "window of {id}");
    }
}
