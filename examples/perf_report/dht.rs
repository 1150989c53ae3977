//! A 50-node DHT: our store against raw libp2p Kademlia.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_bench_support::raw_kad::RawKad;
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::manager::{ManagerConfig, PoolManager};
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::record::SignedRecord;
use chiral_pool::core::store::{RecordStore, SystemClock};
use chiral_pool::dht::{KadConfig, KadStore};

use super::{percentile, Figure};

pub async fn dht_figures(figs: &mut Vec<Figure>, quick: bool) {
    let n = 50;
    let first = KadStore::spawn(KadConfig::new()).await.expect("node");
    let boot = first.dial_addresses();
    let mut nodes = vec![first];
    let mut keys = vec![];
    for _ in 1..n {
        let k = Keypair::generate();
        keys.push(k.clone());
        nodes.push(
            KadStore::spawn(
                KadConfig::new()
                    .with_keypair(k)
                    .with_bootstrap(boot.clone()),
            )
            .await
            .expect("node"),
        );
    }
    let settle = Instant::now();
    for node in &nodes {
        let _ = tokio::time::timeout(Duration::from_secs(30), node.wait_for_peers(20)).await;
    }
    let settle_secs = settle.elapsed().as_secs_f64();
    // The baseline: a raw Kademlia network of the same size, alive at the
    // same time, taking the same operations interleaved with ours.
    let raw = RawKad::network(n, 20).await;
    let ops = if quick { 50 } else { 200 };
    let (mut put_lat, mut get_lat) = (Vec::new(), Vec::new());
    let (mut raw_put_lat, mut raw_get_lat) = (Vec::new(), Vec::new());
    let (mut ok, mut raw_ok) = (0, 0);
    // Puts acknowledged by k = 20 peers (the quorum on a 50-node network).
    let (mut stored, mut raw_stored) = (0, 0);
    for i in 0..ops {
        let owner = Keypair::generate();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let ann = PoolAnnouncement::new(owner.public(), &format!("p{i}"), "x", now, now + 3600);
        let record = SignedRecord::pool(&owner, &ann, 1).expect("signs");
        let raw_key = libp2p::kad::RecordKey::new(&record.key().as_bytes());
        let raw_record = libp2p::kad::Record::new(raw_key.clone(), record.to_bytes());
        let (writer, reader) = (i % n, (i * 7 + 13) % n);
        // Alternate which network goes first so neither always runs on a
        // warmer machine.
        for turn in [i % 2, 1 - i % 2] {
            if turn == 0 {
                let t = Instant::now();
                if matches!(nodes[writer].put(record.clone()).await, Ok(r) if r.peers >= 20) {
                    stored += 1;
                }
                put_lat.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let got = nodes[reader].get(record.key()).await;
                get_lat.push(t.elapsed().as_secs_f64() * 1e3);
                if matches!(got, Ok(v) if v == vec![record.clone()]) {
                    ok += 1;
                }
            } else {
                let t = Instant::now();
                if raw[writer].put(raw_record.clone()).await {
                    raw_stored += 1;
                }
                raw_put_lat.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let got = raw[reader].get(raw_key.clone()).await;
                raw_get_lat.push(t.elapsed().as_secs_f64() * 1e3);
                if got.len() == 1 && got[0].value == raw_record.value {
                    raw_ok += 1;
                }
            }
        }
    }
    drop(raw);
    for v in [
        &mut put_lat,
        &mut get_lat,
        &mut raw_put_lat,
        &mut raw_get_lat,
    ] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    let median_against_raw = |name: &str, ours: &[f64], raw: &[f64], note: String| {
        let (value, baseline) = (percentile(ours, 0.5), percentile(raw, 0.5));
        Figure {
            name: name.into(),
            value,
            unit: "ms median, 50 nodes",
            baseline: Some(baseline),
            ratio: Some(value / baseline),
            goal: "ratio <= 1.10".into(),
            note: format!(
                "p99 {:.1} ms, raw kad p99 {:.1} ms; {note}",
                percentile(ours, 0.99),
                percentile(raw, 0.99)
            ),
        }
    };
    figs.push(median_against_raw(
        "dht_get",
        &get_lat,
        &raw_get_lat,
        format!(
            "found {ok}/{ops}, raw kad found {raw_ok}/{ops}; network settled in {settle_secs:.1} s"
        ),
    ));
    figs.push(median_against_raw(
        "dht_put",
        &put_lat,
        &raw_put_lat,
        format!("quorum of 20 peers met {stored}/{ops}, raw kad {raw_stored}/{ops}"),
    ));
    // 1,000 pools announced from the 49 keyed nodes, discovered from node 0.
    let pools = if quick { 200 } else { 1000 };
    let managers: Vec<_> = keys
        .iter()
        .zip(nodes.iter().skip(1))
        .map(|(k, s)| {
            PoolManager::new(
                k.clone(),
                s.clone(),
                Arc::new(SystemClock),
                ManagerConfig::new(),
            )
            .expect("keys")
        })
        .collect();
    let mut failed = 0;
    for i in 0..pools {
        let m = &managers[i % managers.len()];
        let ann = PoolAnnouncement::new(m.local_key(), &format!("pool-{i}"), "x", 0, 0);
        if m.announce_pool(ann).await.is_err() {
            failed += 1;
        }
    }
    let reader_key = Keypair::generate();
    let reader_store = KadStore::spawn(
        KadConfig::new()
            .with_keypair(reader_key.clone())
            .with_bootstrap(boot),
    )
    .await
    .expect("node");
    let _ = tokio::time::timeout(Duration::from_secs(20), reader_store.wait_for_peers(8)).await;
    let reader = PoolManager::new(
        reader_key,
        reader_store,
        Arc::new(SystemClock),
        ManagerConfig::new(),
    )
    .expect("keys");
    let t = Instant::now();
    let found = reader.discover_pools().await.map(|v| v.len()).unwrap_or(0);
    let publishers = reader
        .store()
        .members(&chiral_pool::core::record::RecordKey::directory_set())
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    figs.push(Figure {
        name: "dht_discover_pools".into(),
        value: t.elapsed().as_secs_f64(),
        unit: "s to discover all pools",
        baseline: None,
        ratio: None,
        goal: "all found".into(),
        note: format!("{found}/{pools} pools found from a fresh node; {publishers}/{} publishers listed; {failed} announcements failed", managers.len()),
    });
    for node in &nodes {
        node.shutdown().await;
    }
}
