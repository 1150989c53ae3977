//! Whether the HTTP API slows the Stratum path: validated submits per
//! second on a node's Stratum server under a closed-loop load, with a
//! client polling the API at 10 Hz and subscribed to its event stream,
//! against the same load with no API client, alternated in one run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chiral_pool::api::{serve, ApiConfig};
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::pow::Difficulty;
use chiral_pool::node::{NodeConfig, PoolNode, PoolSpec};

use super::shares::BITS;
use super::stratum::run_load;
use super::{median, Figure};

/// Endpoints the poller cycles through, one request every 100 ms.
const POLLED: [&str; 6] = [
    "/api/v1/pool/{pool}",
    "/api/v1/health",
    "/api/v1/blocks",
    "/api/v1/payouts/current",
    "/metrics",
    "/api/v1/miner/m0",
];

/// Polls the API at 10 Hz and reads its event stream until `stop`;
/// counts the answers and the event bytes.
async fn watch_api(base: String, pool: String, stop: Arc<AtomicBool>, answers: Arc<AtomicU64>) {
    let http = reqwest::Client::new();
    let events = {
        let (http, base, stop) = (http.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let Ok(mut response) = http.get(format!("{base}/api/v1/events")).send().await else {
                return 0usize;
            };
            let mut bytes = 0;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), response.chunk()).await {
                    Ok(Ok(Some(chunk))) => bytes += chunk.len(),
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
            bytes
        })
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let path = POLLED[i % POLLED.len()].replace("{pool}", &pool);
        i += 1;
        if let Ok(r) = http.get(format!("{base}{path}")).send().await {
            if r.bytes().await.is_ok() {
                answers.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let _ = events.await;
}

pub async fn api_figures(figs: &mut Vec<Figure>, quick: bool) {
    let mut config = NodeConfig::new(Keypair::generate());
    // No blocks: the chain's target is far above any submit's work.
    config.chain_bits = BITS;
    // Every hash meets the share target: each submit is a share that the
    // server fully rebuilds and validates (vardiff may raise it: a
    // rejected low-difficulty submit was validated too).
    config.share_difficulty = Difficulty::from_raw(1).as_f64();
    config.max_share_difficulty = Some(config.share_difficulty);
    config.stratum = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.announce = Some(PoolSpec::new("api-load"));
    let node = PoolNode::start(config).await.expect("node");
    let pool = node.pool().expect("a pool").to_hex();
    let (stratum, stats) = node.stratum().expect("serving");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_addr = listener.local_addr().expect("addr");
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(serve(
        node.clone(),
        listener,
        ApiConfig::new(api_addr),
        async move {
            let _ = api_stopped.await;
        },
    ));
    let validated = {
        let stats = stats.clone();
        move || stats.accepted.load(Ordering::Relaxed) + stats.rejected_total()
    };
    let (conns, seconds, rounds) = if quick { (500, 2, 4) } else { (1_000, 4, 10) };
    let (mut alone, mut watched) = (Vec::new(), Vec::new());
    let answers = Arc::new(AtomicU64::new(0));
    for round in 0..rounds {
        // ABBA order: a run's place in the sequence (the server's duplicate
        // memory and queues grow over the run) favours neither side.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for side in order {
            // CHIRAL_PERF_AA=1 measures the noise: both sides run without
            // an API client.
            let with_api = side && std::env::var_os("CHIRAL_PERF_AA").is_none();
            let stop = Arc::new(AtomicBool::new(false));
            let watcher = with_api.then(|| {
                tokio::spawn(watch_api(
                    format!("http://{api_addr}"),
                    pool.clone(),
                    stop.clone(),
                    answers.clone(),
                ))
            });
            let mut before = 0;
            let run = run_load(stratum, conns, 0.0, seconds, || async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                before = validated();
            })
            .await;
            let rate = (validated() - before) as f64 / run.window();
            stop.store(true, Ordering::Relaxed);
            if let Some(w) = watcher {
                let _ = w.await;
            }
            if side { &mut watched } else { &mut alone }.push(rate);
            // The server drops the connections before the next run.
            for _ in 0..100 {
                if stats.connections_open.load(Ordering::Relaxed) == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let (alone, watched) = (median(alone), median(watched));
    figs.push(Figure {
        name: "stratum_with_api_watched".into(),
        value: watched,
        unit: "validated submits/s, API polled 10 Hz",
        baseline: Some(alone),
        ratio: Some(watched / alone),
        goal: "ratio >= 0.95".into(),
        note: format!(
            "{conns} connections, closed loop, median of {rounds} alternated runs of {seconds} s; the watcher got {} API answers and read the event stream; baseline: no API client",
            answers.load(Ordering::Relaxed)
        ),
    });
    let _ = stop_api.send(());
    let _ = api.await;
    node.shutdown().await;
}
