//! Share chain figures: link verification against bare hashing, the cost
//! of adding a link at a 2,160-link window and at 100x, memory for two
//! windows, and link gossip on a 20-node network with the stale rate it
//! implies.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chiral_bench_support::rss::rss_kib;
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{LinkId, PayoutId, PoolId};
use chiral_pool::core::pow::{sha256d, sha256d_pair, CompactTarget, Difficulty, Target};
use chiral_pool::core::record::SignedRecord;
use chiral_pool::core::share::commitment::Commitment;
use chiral_pool::core::sharechain::gossip::LinkGossip;
use chiral_pool::core::sharechain::sync::{fetch_ancestry, SyncRequest};
use chiral_pool::core::sharechain::testing::{linear_chain, mine_link, mine_with_branch, BlockRef};
use chiral_pool::core::sharechain::{ChainParams, JobPosition, Link, Origin, ShareChain};
use chiral_pool::core::store::RecordStore;
use chiral_pool::dht::{KadConfig, KadStore};
use futures::StreamExt;

use super::{median, paired, percentile, Figure};

const POOL: PoolId = PoolId::from_bytes([8; 32]);
const T0: u32 = 1_700_000_000;

/// Rules whose floor is one hash per link, with a window of `links`.
fn params(links: u32) -> ChainParams {
    let mut p = ChainParams::new();
    p.min_difficulty = Difficulty::from_raw(1);
    p.max_window_links = links;
    p.max_window_secs = u32::MAX / 4;
    p
}

/// Network bits whose window (2x the network difficulty) is far beyond
/// the depth cap: the cap decides the window.
fn block(bits_links: u128) -> BlockRef {
    BlockRef {
        prev_hash: [0; 32],
        bits: Target::from_fixed_difficulty(Difficulty::from_raw(bits_links)).to_compact_lossy(),
        height: 1,
    }
}

/// A chain of `n` links 10 s apart on one block, four miners.
fn chain_of(n: usize, params: &ChainParams, block: BlockRef) -> ShareChain {
    linear_chain(POOL, params, block, n, T0, 10)
}

/// Seconds per link to extend `chain` by `extra` links and read the best
/// tip's window after each.
fn extend_time(chain: &mut ShareChain, params: &ChainParams, block: BlockRef, extra: usize) -> f64 {
    let start_height = chain.height().unwrap_or(0) as u32;
    let payout = PayoutId::new("new").expect("valid");
    // Links commit to their parent, so each is mined on the tip just
    // before it joins; only the insert and the window read are timed.
    let mut spent = Duration::ZERO;
    for i in 0..extra {
        let time = T0 + 10 * (start_height + 1 + i as u32);
        let link = mine_link(POOL, &chain.job(), &payout, block, time, 1 << 40 | i as u64);
        let proven = link.prove(&POOL, params).expect("proves");
        let t = Instant::now();
        chain
            .insert(proven, Origin::LOCAL, u64::MAX / 2)
            .expect("valid");
        let tip = chain.tip().expect("tip");
        black_box(chain.window(tip));
        spent += t.elapsed();
    }
    spent.as_secs_f64() / extra as f64
}

pub fn sharechain_figures(figs: &mut Vec<Figure>, quick: bool) {
    // Link verification against bare hashing of its proof.
    let p = params(2_160);
    let b = block(1 << 40);
    let position = JobPosition {
        parent: None,
        uncles: Vec::new(),
        chain_bits: p.floor_target().to_compact_lossy(),
        min_time: 0,
        payouts: None,
    };
    let miner = PayoutId::new("perf").expect("valid");
    // Ten merkle steps, as for the share figures: a block of about a
    // thousand transactions.
    let commitment = Commitment {
        pool: POOL,
        payout: miner.clone(),
        chain_bits: position.chain_bits,
        parent: None,
        uncles: Vec::new(),
    };
    let links: Vec<Link> = (0..512u64)
        .map(|i| {
            let branch = (0..10u8)
                .map(|s| sha256d(&[s, i as u8, (i >> 8) as u8]))
                .collect();
            mine_with_branch(&commitment, b, T0, i, branch)
        })
        .collect();
    let rounds = if quick { 5 } else { 15 };
    // Links arrive decoded and are proven by value: the copies are made
    // before the clock starts.
    let batches = std::cell::RefCell::new(vec![links.clone(); rounds]);
    let (bare, ours) = paired(
        rounds,
        links.len(),
        || {
            for l in &links {
                let mut h = sha256d(&l.coinbase);
                for step in &l.merkle_branch {
                    h = sha256d_pair(&h, step);
                }
                black_box(h);
                black_box(sha256d(&l.header.to_bytes()));
            }
        },
        || {
            let batch = batches.borrow_mut().pop().unwrap_or_else(|| links.clone());
            for l in batch {
                black_box(l.prove(&POOL, &p).expect("proves"));
            }
        },
    );
    figs.push(Figure {
        name: "link_verification".into(),
        value: ours,
        unit: "links/s (1 core)",
        baseline: Some(bare),
        ratio: Some(ours / bare),
        goal: "ratio >= 0.7".into(),
        note: "baseline: bare sha256d of coinbase, 10 branch steps and header".into(),
    });

    // Adding a link and re-deriving the window: 2,160 links, and 100x.
    let small = 2_160usize;
    let big = if quick { 21_600 } else { 216_000 };
    let extra = 500;
    let (ps, pb) = (params(small as u32), params(big as u32));
    let before = rss_kib();
    let mut chain_small = chain_of(2 * small, &ps, b);
    let two_windows_kib = rss_kib().saturating_sub(before);
    let per_small = extend_time(&mut chain_small, &ps, b, extra);
    drop(chain_small);
    let mut chain_big = chain_of(big + 10, &pb, b);
    let per_big = extend_time(&mut chain_big, &pb, b, extra);
    drop(chain_big);
    figs.push(Figure {
        name: "link_insert_at_2160".into(),
        value: per_small * 1e6,
        unit: "us per link (insert + window)",
        baseline: None,
        ratio: None,
        goal: "flat with window size".into(),
        note: format!("{extra} links on a {small}-link window"),
    });
    figs.push(Figure {
        name: "link_insert_at_100x".into(),
        value: per_big * 1e6,
        unit: "us per link (insert + window)",
        baseline: Some(per_small * 1e6),
        ratio: Some(per_big / per_small),
        goal: "ratio ~1 (flat)".into(),
        note: format!("{big}-link window"),
    });
    figs.push(Figure {
        name: "two_windows_memory".into(),
        value: two_windows_kib as f64 / 1024.0,
        unit: "MiB RSS for 4,320 links",
        baseline: None,
        ratio: None,
        goal: "a few MiB".into(),
        note: format!(
            "{:.2} KiB per link",
            two_windows_kib as f64 / (2 * small) as f64
        ),
    });
}

/// Link gossip on a 20-node Kademlia network on loopback: the delay from a
/// link's publication on one node to its arrival on every other, and the
/// stale rate that delay implies at 10 s links for a node with a tenth of
/// the hashrate: (1 - h) * (1 - exp(-D / T)).
pub async fn gossip_figures(figs: &mut Vec<Figure>, quick: bool) {
    let n: usize = std::env::var("CHIRAL_GOSSIP_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut nodes: Vec<KadStore> = Vec::new();
    for _ in 0..n {
        let boot = nodes
            .first()
            .map(|f| f.dial_addresses())
            .unwrap_or_default();
        nodes.push(
            KadStore::spawn(KadConfig::new().with_bootstrap(boot))
                .await
                .expect("node"),
        );
    }
    for node in &nodes {
        let _ = tokio::time::timeout(Duration::from_secs(20), node.wait_for_peers(3)).await;
    }
    let arrivals: Arc<Mutex<Vec<(LinkId, Instant)>>> = Arc::default();
    for node in nodes.iter().skip(1) {
        let mut inbox = node.join(POOL).await.expect("join");
        let arrivals = arrivals.clone();
        let gossip = node.clone();
        tokio::spawn(async move {
            while let Some(incoming) = inbox.recv().await {
                let id = LinkId::from_bytes(incoming.link.header.hash());
                arrivals.lock().expect("lock").push((id, Instant::now()));
                // Accepted, so gossipsub forwards it (as a node does once
                // the link joined its chain).
                gossip
                    .report(
                        incoming.ticket,
                        chiral_pool::core::sharechain::gossip::Acceptance::Accept,
                    )
                    .await;
            }
        });
    }
    let _ = nodes[0].join(POOL).await.expect("join");
    let p = ChainParams::new();
    let position = JobPosition {
        parent: None,
        uncles: Vec::new(),
        chain_bits: p.floor_target().to_compact_lossy(),
        min_time: 0,
        payouts: None,
    };
    let block = BlockRef {
        prev_hash: [0; 32],
        bits: CompactTarget::from_consensus(0x1d00_ffff),
        height: 1,
    };
    let miner = PayoutId::new("gossip").expect("valid");
    // Wait for the mesh: publish until someone is subscribed.
    let warmup = mine_link(POOL, &position, &miner, block, T0, 0);
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while nodes[0].publish(POOL, &warmup).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let samples = if quick { 10 } else { 40 };
    let mut worst = Vec::new();
    let mut all = Vec::new();
    let mut complete = 0;
    for i in 1..=samples {
        let link = mine_link(POOL, &position, &miner, block, T0, i);
        let id = LinkId::from_bytes(link.header.hash());
        let sent = Instant::now();
        // A failed publish shows as a sample that reached nobody.
        let _ = nodes[0].publish(POOL, &link).await;
        // Wait until every other node has it, or 5 s.
        let deadline = sent + Duration::from_secs(5);
        loop {
            let got: Vec<f64> = arrivals
                .lock()
                .expect("lock")
                .iter()
                .filter(|(a, _)| *a == id)
                .map(|(_, t)| t.duration_since(sent).as_secs_f64() * 1e3)
                .collect();
            if got.len() >= n - 1 || Instant::now() > deadline {
                if got.len() >= n - 1 {
                    complete += 1;
                }
                all.extend(got.iter().copied());
                worst.push(got.iter().copied().fold(0.0, f64::max));
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let worst_median = median(worst.clone());
    let spacing = 10_000.0;
    let stale = 0.9 * (1.0 - (-worst_median / spacing).exp());
    figs.push(Figure {
        name: "link_gossip_20_nodes".into(),
        value: worst_median,
        unit: "ms until the last of 19 nodes has it",
        baseline: None,
        ratio: None,
        goal: "<< 500 ms (D < T/20)".into(),
        note: format!(
            "per node p50 {:.1} ms, p99 {:.1} ms; {complete}/{samples} reached all 19",
            percentile(&all, 0.5),
            percentile(&all, 0.99)
        ),
    });
    figs.push(Figure {
        name: "stale_rate_at_10s_links".into(),
        value: stale * 100.0,
        unit: "% stale, node with 10% hashrate",
        baseline: None,
        ratio: None,
        goal: "< 5 %".into(),
        note: "(1 - h)(1 - exp(-D/T)), D = the median worst delay above".into(),
    });
    sync_figure(figs, &nodes).await;
    for node in &nodes {
        node.shutdown().await;
    }
}

/// A fresh node fetching a 2,160-link chain back from its tip: one link
/// at a time from the peer that pushed the tip (the baseline), then by
/// checkpoints (links fetched 16 at a time) from that peer, then by
/// checkpoints from the DHT's link records alone, all in one run.
async fn sync_figure(figs: &mut Vec<Figure>, nodes: &[KadStore]) {
    const LINKS: usize = 2_160;
    let p = params(LINKS as u32);
    let b = block(1 << 40);
    // Header times end a minute ago: the link records are live.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t0 = u32::try_from(now - 10 * LINKS as u64 - 60).unwrap_or(T0);
    let chain = linear_chain(POOL, &p, b, LINKS, t0, 10);
    let held: std::collections::HashMap<LinkId, Link> = chain
        .best_chain(usize::MAX)
        .into_iter()
        .filter_map(|id| chain.get(&id).map(|l| (id, l.link().clone())))
        .collect();
    let tip = chain.tip().expect("tip");

    // Every link and checkpoint stored in the DHT, spread over the nodes.
    let carrier = Keypair::generate();
    let mut records = Vec::new();
    for (id, link) in &held {
        records.push(SignedRecord::link(&carrier, &POOL, link).expect("certifies"));
        if let Some(c) = chain.checkpoint(id) {
            records.push(SignedRecord::checkpoint(&carrier, &POOL, &c).expect("signs"));
        }
    }
    let stored_at = Instant::now();
    let puts: Vec<bool> = futures::stream::iter(records.into_iter().enumerate())
        .map(|(i, r)| {
            let node = nodes[3 + i % (nodes.len() - 3)].clone();
            async move { node.put(r).await.is_ok() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let stored = puts.iter().filter(|ok| **ok).count();
    let store_secs = stored_at.elapsed().as_secs_f64();

    let held = Arc::new(held);
    let lookup = held.clone();
    let (server, fresh, cold) = (&nodes[1], &nodes[2], &nodes[0]);
    server
        .serve(Arc::new(move |id| lookup.get(id).cloned()))
        .await
        .expect("serve");
    // The fresh node learns of the server as the forwarder of the tip.
    let mut inbox = fresh.join(POOL).await.expect("join");
    let _ = server.join(POOL).await.expect("join");
    let tip_link = held.get(&tip).expect("tip held").clone();
    let origin = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let _ = server.publish(POOL, &tip_link).await;
            if let Ok(Some(incoming)) =
                tokio::time::timeout(Duration::from_millis(200), inbox.recv()).await
            {
                return incoming.origin;
            }
        }
    })
    .await
    .expect("the tip arrives");

    // Baseline: one link at a time from the forwarding peer.
    let start = Instant::now();
    let mut next = Some(tip);
    let mut fetched = 0usize;
    while let Some(id) = next.take() {
        let Ok(Some(link)) = fresh.fetch(origin, id).await else {
            break;
        };
        fetched += 1;
        next = chiral_pool::core::share::commitment::Commitment::from_coinbase(&link.coinbase)
            .ok()
            .and_then(|c| c.parent);
    }
    let serial = start.elapsed().as_secs_f64();
    figs.push(Figure {
        name: "sync_2160_links_serial".into(),
        value: serial,
        unit: "s to fetch a 2,160-link chain, one link at a time",
        baseline: None,
        ratio: None,
        goal: "< 30 s".into(),
        note: format!(
            "{fetched} requests to one peer ({:.2} ms each); the baseline below",
            serial * 1e3 / fetched.max(1) as f64
        ),
    });

    let request = |origin| SyncRequest {
        pool: POOL,
        params: &p,
        origin,
        limit: LINKS,
        parallel: 16,
    };
    for (name, node, origin, source) in [
        (
            "sync_2160_checkpoints_peer",
            fresh,
            origin,
            "the forwarding peer",
        ),
        (
            "sync_2160_checkpoints_dht",
            cold,
            Origin::LOCAL,
            "the DHT's link records",
        ),
    ] {
        let start = Instant::now();
        let synced = fetch_ancestry(node, node, &request(origin), tip, &|_| false).await;
        let secs = start.elapsed().as_secs_f64();
        figs.push(Figure {
            name: name.into(),
            value: secs,
            unit: "s to fetch a 2,160-link chain by checkpoints",
            baseline: Some(serial),
            ratio: Some(secs / serial.max(1e-9)),
            goal: "< 30 s".into(),
            note: format!(
                "{} links from {source} in {} rounds; {} checkpoint reads, {} from the peer, \
                 {} from records, {} unused; {stored} records stored on 17 nodes in {store_secs:.1} s",
                synced.links.len(),
                synced.rounds,
                synced.checkpoints_read,
                synced.from_peer,
                synced.from_store,
                synced.unused,
            ),
        });
    }
}
