//! The performance report: every headline figure next to a baseline
//! measured in the same run, printed as a table and, on the last line, as
//! one JSON object keyed by figure.
//!
//! `cargo run --release --example perf_report` (a few minutes; `--quick`
//! for a shorter run, `--only stratum,dht` for some sections). The Stratum
//! load runs its clients in a child process so both sides get their own
//! file-descriptor budget; `CHIRAL_PERF_STRATUM="conns:rate,..."` replaces
//! its scenarios (rate 0 is closed loop).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool::core::chain::SyntheticChain;
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{PayoutId, PoolId};
use chiral_pool::core::manager::{ManagerConfig, PoolManager};
use chiral_pool::core::payout::{rescan_weights, split, PplnsWindow, RewardCuts};
use chiral_pool::core::pool::PoolAnnouncement;
use chiral_pool::core::pow::{merkle_root_from_branch, sha256d, Difficulty, Target};
use chiral_pool::core::record::SignedRecord;
use chiral_pool::core::share::{Share, ShareValidator, ShareValidatorConfig, WorkTemplate};
use chiral_pool::core::store::{RecordStore, SystemClock};
use chiral_pool::dht::{KadConfig, KadStore};
use chiral_pool::stratum::server::{DiscardShares, ServerConfig, StratumServer};
use clap::Parser;
#[path = "../chiral-stratum/benches/support/echo.rs"]
mod echo;
#[path = "../chiral-pool-dht/benches/support/raw_kad.rs"]
mod raw_kad;
#[path = "../chiral-stratum/benches/support/rss.rs"]
mod rss;
use raw_kad::RawKad;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

#[derive(Parser, Debug)]
struct Args {
    /// Shorter measurements.
    #[arg(long)]
    quick: bool,
    /// Run only these sections (comma separated: share, payout, record,
    /// stratum, dht).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Internal: run as the Stratum load client against this address.
    #[arg(long, hide = true)]
    load_client: Option<String>,
    /// Internal: connections of the load client.
    #[arg(long, hide = true, default_value_t = 1000)]
    connections: usize,
    /// Internal: seconds of load.
    #[arg(long, hide = true, default_value_t = 5)]
    seconds: u64,
    /// Internal: offered submits per second in total (0: closed loop).
    #[arg(long, hide = true, default_value_t = 0.0)]
    rate: f64,
}

struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    baseline: Option<f64>,
    ratio: Option<f64>,
    goal: String,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

const BITS: u32 = 0x1d00ffff;
const TIP: [u8; 32] = [0x22; 32];

fn shares(n: usize, pool: PoolId) -> Vec<Share> {
    let target = Target::from_difficulty(1.0 / 16_777_216.0).expect("valid");
    (0..n)
        .map(|i| {
            let payout = PayoutId::new(format!("miner{}", i % 64)).expect("valid");
            let mut t = WorkTemplate::synthetic(&pool, &payout, TIP, BITS, 1_700_000_000, 1, 8);
            t.merkle_branch = (0..10)
                .map(|b| sha256d(&[b as u8, i as u8, (i >> 8) as u8]))
                .collect();
            t.mine(pool, payout, target, &(i as u64).to_le_bytes(), 0..u32::MAX)
                .expect("share")
        })
        .collect()
}

fn validator(pool: PoolId) -> ShareValidator {
    let mut v = ShareValidator::new(
        pool,
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1),
            ..ShareValidatorConfig::new()
        },
    );
    v.add_tip(TIP, BITS).expect("tip");
    v
}

fn floor_pass(shares: &[Share]) {
    for s in shares {
        black_box(merkle_root_from_branch(
            sha256d(&s.coinbase),
            &s.merkle_branch,
        ));
        black_box(sha256d(&s.header.to_bytes()));
    }
}

fn verify_pass(v: &ShareValidator, shares: &[Share]) {
    for s in shares {
        black_box(v.verify(s).expect("valid"));
    }
}

/// Runs `a` and `b` alternately `rounds` times; returns their median rates
/// in items per second.
fn paired(rounds: usize, items: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        a();
        ra.push(items as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        b();
        rb.push(items as f64 / t.elapsed().as_secs_f64());
    }
    (median(ra), median(rb))
}

fn share_figures(figs: &mut Vec<Figure>, quick: bool) {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([1; 32]).public(), "perf");
    let set = shares(512, pool);
    let v = validator(pool);
    let rounds = if quick { 5 } else { 15 };
    let reps = 8;
    let (floor, ours) = paired(
        rounds,
        set.len() * reps,
        || (0..reps).for_each(|_| floor_pass(&set)),
        || (0..reps).for_each(|_| verify_pass(&v, &set)),
    );
    figs.push(Figure {
        name: "share_validation".into(),
        value: ours,
        unit: "shares/s (1 core)",
        baseline: Some(floor),
        ratio: Some(ours / floor),
        goal: "ratio >= 0.7".into(),
        note: "baseline: bare sha256d of coinbase, 10 branch steps and header".into(),
    });
    let (floor2, ours2) = paired(
        rounds,
        set.len() * reps * 2,
        || {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| (0..reps).for_each(|_| floor_pass(&set)));
                }
            })
        },
        || {
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| (0..reps).for_each(|_| verify_pass(&v, &set)));
                }
            })
        },
    );
    figs.push(Figure {
        name: "share_validation_2_cores".into(),
        value: ours2,
        unit: "shares/s (2 threads)",
        baseline: Some(floor2),
        ratio: Some(ours2 / floor2),
        goal: "ratio >= 0.7".into(),
        note: format!("{:.2}x the 1-core rate", ours2 / ours),
    });
    // Scaling: 1x, 10x, 100x the shares.
    let mut times = Vec::new();
    for k in [1usize, 10, 100] {
        let t = Instant::now();
        for _ in 0..k {
            verify_pass(&v, &set);
        }
        times.push(t.elapsed().as_secs_f64());
    }
    figs.push(Figure {
        name: "share_validation_scaling_100x".into(),
        value: times[2] / times[0],
        unit: "time ratio at 100x shares",
        baseline: Some(100.0),
        ratio: Some(times[2] / times[0] / 100.0),
        goal: "ratio ~1 (linear)".into(),
        note: format!("10x: {:.1}", times[1] / times[0]),
    });
}

fn payout_figures(figs: &mut Vec<Figure>, quick: bool) {
    let ids: Vec<PayoutId> = (0..1000)
        .map(|i| PayoutId::new(format!("miner{i:06}")).expect("valid"))
        .collect();
    let window_shares = 1_000_000usize;
    let mut window = PplnsWindow::new(window_shares as u128);
    let mut naive: Vec<(PayoutId, u128)> = Vec::with_capacity(window_shares);
    for i in 0..window_shares {
        window.add(&ids[i % ids.len()], 1);
        naive.push((ids[i % ids.len()].clone(), 1));
    }
    // add-share in steady state vs the naive append (clone + push).
    let n = 200_000;
    let rounds = if quick { 3 } else { 7 };
    let mut naive_vec: Vec<(PayoutId, u128)> = Vec::with_capacity(n * rounds * 2);
    let (naive_rate, ours_rate) = paired(
        rounds,
        n,
        || {
            for i in 0..n {
                naive_vec.push((ids[i % ids.len()].clone(), 1));
            }
        },
        || {
            for i in 0..n {
                window.add(&ids[i % ids.len()], 1);
            }
        },
    );
    figs.push(Figure {
        name: "pplns_add_share".into(),
        value: 1e9 / ours_rate,
        unit: "ns/share (window full, 1M shares)",
        baseline: Some(1e9 / naive_rate),
        ratio: Some(naive_rate / ours_rate),
        goal: "<= 100 ns".into(),
        note: "baseline: the naive append of (payout id, weight)".into(),
    });
    let mut settle = Vec::new();
    let mut rescan = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(window.settle(5_000_000_000, RewardCuts::default(), None));
        settle.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        black_box(rescan_weights(&naive, window_shares as u128));
        rescan.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (s, r) = (median(settle), median(rescan));
    figs.push(Figure {
        name: "pplns_settle_1m".into(),
        value: s,
        unit: "ms (1M-share window, 1000 miners)",
        baseline: Some(r),
        ratio: Some(s / r),
        goal: "<= 100 ms".into(),
        note: "baseline: full rescan of the 1M shares".into(),
    });
    // Settling cost as the window grows 10x and 100x.
    let mut by_size = Vec::new();
    for size in [10_000usize, 100_000, 1_000_000] {
        let mut w = PplnsWindow::new(size as u128);
        for i in 0..size {
            w.add(&ids[i % ids.len()], 1);
        }
        let t = Instant::now();
        for _ in 0..5 {
            black_box(w.settle(5_000_000_000, RewardCuts::default(), None));
        }
        by_size.push(t.elapsed().as_secs_f64() / 5.0);
    }
    figs.push(Figure {
        name: "pplns_settle_scaling_100x".into(),
        value: by_size[2] / by_size[0],
        unit: "time ratio, 1M vs 10k shares",
        baseline: Some(100.0),
        ratio: Some(by_size[2] / by_size[0] / 100.0),
        goal: "<= 1 (linear or better)".into(),
        note: format!("10x: {:.2}", by_size[1] / by_size[0]),
    });
    let many: Vec<(PayoutId, u128)> = (0..100_000)
        .map(|i| {
            (
                PayoutId::new(format!("m{i:06}")).expect("valid"),
                1_000 + (i as u128 * 7919) % 10_007,
            )
        })
        .collect();
    let mut ours = Vec::new();
    let mut naive_split = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(split(5_000_000_000, &many));
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        // The usual naive split: floors, the last miner takes the rest.
        let total: u128 = many.iter().map(|(_, w)| w).sum();
        let mut out: Vec<u64> = many
            .iter()
            .map(|(_, w)| (5_000_000_000u128 * w / total) as u64)
            .collect();
        let rest = 5_000_000_000 - out.iter().sum::<u64>();
        if let Some(last) = out.last_mut() {
            *last += rest;
        }
        black_box(out);
        naive_split.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (o, b) = (median(ours), median(naive_split));
    figs.push(Figure {
        name: "split_100k".into(),
        value: o,
        unit: "ms (100,000 miners)",
        baseline: Some(b),
        ratio: Some(o / b),
        goal: "<= 20 ms".into(),
        note: "baseline: floors + last miner takes the remainder (unsorted, unfair)".into(),
    });
}

fn record_figures(figs: &mut Vec<Figure>, quick: bool) {
    let kp = Keypair::from_secret_bytes([7; 32]);
    let ann = PoolAnnouncement::new(
        kp.public(),
        "perf-pool",
        "stratum+tcp://127.0.0.1:3333",
        1_000,
        2_000,
    );
    let record = SignedRecord::pool(&kp, &ann, 1).expect("signs");
    let bytes = record.to_bytes();
    let sig = kp.sign(&bytes);
    let n = if quick { 2_000 } else { 10_000 };
    let (raw, ours) = paired(
        5,
        n,
        || {
            for _ in 0..n {
                black_box(kp.public().verify(&bytes, &sig).is_ok());
            }
        },
        || {
            for _ in 0..n {
                black_box(SignedRecord::decode_verified(&bytes, 1_500).expect("valid"));
            }
        },
    );
    figs.push(Figure {
        name: "record_decode_verify".into(),
        value: ours,
        unit: "records/s",
        baseline: Some(raw),
        ratio: Some(raw / ours),
        goal: "cost <= 1.3x the raw verify".into(),
        note: format!(
            "{} byte pool record; ratio is cost (raw rate / ours)",
            bytes.len()
        ),
    });
    let t = Instant::now();
    for i in 0..n {
        black_box(SignedRecord::pool(&kp, &ann, i as u64).expect("signs"));
    }
    let sign_rate = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        black_box(kp.sign(&bytes));
    }
    let raw_sign = n as f64 / t.elapsed().as_secs_f64();
    figs.push(Figure {
        name: "record_sign".into(),
        value: sign_rate,
        unit: "records/s",
        baseline: Some(raw_sign),
        ratio: Some(raw_sign / sign_rate),
        goal: "reported".into(),
        note: "baseline: raw ed25519 sign of the same bytes".into(),
    });
}

/// The load client (child process): opens connections, reports when they
/// are all subscribed and authorized, waits for "go", submits for the given
/// seconds and prints `submits latency_us...` summary as JSON.
async fn load_client(addr: String, connections: usize, seconds: u64, rate: f64) {
    let mut conns = Vec::with_capacity(connections);
    for i in 0..connections {
        let Ok(stream) = tokio::net::TcpStream::connect(&addr).await else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let (r, mut w) = stream.into_split();
        let mut lines = tokio::io::BufReader::new(r).lines();
        let hello = format!(
            "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"m{i}.x\",\"\"]}}\n"
        );
        if w.write_all(hello.as_bytes()).await.is_err() {
            break;
        }
        conns.push((lines_take(&mut lines).await, lines, w));
    }
    println!("connected {}", conns.len());
    let mut go = String::new();
    let _ = std::io::stdin().read_line(&mut go);
    // Start after every task is spawned, so no connection begins late.
    let start = Instant::now() + Duration::from_millis(300);
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let n = conns.len().max(1);
    for (i, (job, mut lines, mut w)) in conns.into_iter().enumerate() {
        let user = format!("m{i}.x");
        tasks.spawn(async move {
            let mut lat = (Vec::new(), Vec::new());
            let Some((job_id, ntime)) = job else { return (lat, None) };
            let mut nonce: u32 = 0;
            // Open loop: connection i submits every n/rate seconds, its
            // phase offset by i/rate so the connections spread evenly over
            // the period instead of firing together. Latency runs from the
            // scheduled send time, so a slow reply that delays the next
            // submit is charged to the server (no coordinated omission).
            let period = (rate > 0.0).then(|| Duration::from_secs_f64(n as f64 / rate));
            let mut next = start + period.map_or(Duration::ZERO, |_| Duration::from_secs_f64(i as f64 / rate));
            if period.is_none() {
                tokio::time::sleep_until(start.into()).await;
            }
            while Instant::now() < deadline {
                let scheduled = match period {
                    Some(p) => {
                        tokio::time::sleep_until(next.into()).await;
                        let scheduled = next;
                        next += p;
                        scheduled
                    }
                    None => Instant::now(),
                };
                nonce += 1;
                let line = format!(
                    "{{\"id\":9,\"method\":\"mining.submit\",\"params\":[\"{user}\",\"{job_id}\",\"00000000\",\"{ntime}\",\"{nonce:08x}\"]}}\n"
                );
                let sent = Instant::now();
                if w.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                // Skip pushed notifications: only the reply ends the wait.
                let replied = loop {
                    match lines.next_line().await {
                        Ok(Some(l)) if l.contains("\"method\"") => continue,
                        Ok(Some(_)) => break true,
                        _ => break false,
                    }
                };
                if !replied {
                    break;
                }
                lat.0.push(sent.elapsed().as_secs_f64() * 1e6);
                lat.1.push(scheduled.elapsed().as_secs_f64() * 1e6);
            }
            // The connection stays open until every task is done: closing
            // thousands of sockets would slow the submits still running.
            (lat, Some((lines, w)))
        });
    }
    let (mut from_send, mut from_schedule) = (Vec::new(), Vec::new());
    let mut open = Vec::new();
    while let Some(Ok(((a, b), conn))) = tasks.join_next().await {
        from_send.extend(a);
        from_schedule.extend(b);
        open.push(conn);
    }
    let window = start.elapsed().as_secs_f64();
    from_send.sort_by(|a, b| a.total_cmp(b));
    from_schedule.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{{\"submits\":{},\"window_s\":{window},\"p50_us\":{},\"p99_us\":{},\"p99_from_schedule_us\":{}}}",
        from_send.len(),
        percentile(&from_send, 0.5),
        percentile(&from_send, 0.99),
        percentile(&from_schedule, 0.99)
    );
    drop(open);
}

/// Reads the handshake replies and the first notify; returns (job id, ntime).
async fn lines_take(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> Option<(String, String)> {
    for _ in 0..8 {
        let line = lines.next_line().await.ok()??;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        if v["method"] == "mining.notify" {
            return Some((
                v["params"][0].as_str()?.to_owned(),
                v["params"][7].as_str()?.to_owned(),
            ));
        }
    }
    None
}

/// One load run from a child process: connects, waits until `ready` says
/// the server side is settled, runs, and returns the child's summary.
struct LoadRun {
    connected: usize,
    /// Seconds between "go" and the summary (the load starts 0.3 s in).
    secs: f64,
    summary: serde_json::Value,
}

async fn run_load<F: std::future::Future<Output = ()>>(
    addr: std::net::SocketAddr,
    conns: usize,
    offered: f64,
    seconds: u64,
    ready: impl FnOnce() -> F,
) -> LoadRun {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(&exe)
        .args([
            "--load-client",
            &addr.to_string(),
            "--connections",
            &conns.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--rate",
            &offered.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn load client");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = tokio::task::block_in_place(|| out.read_line(&mut line));
    let connected: usize = line
        .trim()
        .strip_prefix("connected ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    ready().await;
    let t = Instant::now();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "go");
    }
    line.clear();
    let _ = tokio::task::block_in_place(|| out.read_line(&mut line));
    let secs = t.elapsed().as_secs_f64();
    let _ = child.wait();
    LoadRun {
        connected,
        secs,
        summary: serde_json::from_str(line.trim()).unwrap_or_default(),
    }
}

impl LoadRun {
    fn us(&self, key: &str) -> f64 {
        self.summary[key].as_f64().unwrap_or(f64::NAN)
    }

    /// The client's own load window, seconds.
    fn window(&self) -> f64 {
        self.summary["window_s"]
            .as_f64()
            .filter(|w| *w > 0.0)
            .unwrap_or(self.secs)
    }

    /// Replies per second the client saw.
    fn rate(&self) -> f64 {
        self.summary["submits"].as_f64().unwrap_or(0.0) / self.window()
    }
}

async fn stratum_figures(figs: &mut Vec<Figure>, single_core_validation: Option<f64>, quick: bool) {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([3; 32]).public(), "load");
    let mut config = ServerConfig::new(pool);
    // Every hash meets the share target: each submit is a valid share
    // that the server fully rebuilds and validates.
    // The easiest difficulty there is: one fixed-point unit.
    config.initial_difficulty = Difficulty::from_raw(1).as_f64();
    config.vardiff.min_difficulty = config.initial_difficulty;
    config.vardiff.retarget_secs = 1e9;
    // Keep the difficulty fixed: no retargets, no extra jobs.
    config.vardiff.max_difficulty = config.initial_difficulty;
    config.max_shares_per_tip = 1 << 24;
    config.ban_threshold = u32::MAX;
    let server = StratumServer::new(
        config,
        Arc::new(SyntheticChain::new(BITS).expect("valid bits")),
        Arc::new(DiscardShares),
    )
    .expect("valid server config");
    let stats = server.stats();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(listener, async move {
        let _ = stop_rx.await;
    }));
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo_addr = echo_listener.local_addr().expect("addr");
    let echo = tokio::spawn(echo::echo_server(echo_listener));
    let seconds = if quick { 3 } else { 6 };
    let scenarios: Vec<(usize, f64)> = match std::env::var("CHIRAL_PERF_STRATUM") {
        // "conns:rate,conns:rate" for exploring; rate 0 is closed loop.
        Ok(list) => list
            .split(',')
            .filter_map(|s| {
                let (c, r) = s.split_once(':')?;
                Some((c.parse().ok()?, r.parse().ok()?))
            })
            .collect(),
        Err(_) => vec![
            (1_000, 0.0),
            (10_000, 0.0),
            (1_000, 50_000.0),
            (10_000, 50_000.0),
        ],
    };
    for (conns, offered) in scenarios {
        let rss0 = rss::rss_kib();
        let mut open = 0;
        let mut per_conn = 0.0;
        let mut accepted0 = 0;
        let ours = run_load(addr, conns, offered, seconds, || async {
            // Let the server finish its side of the handshakes.
            tokio::time::sleep(Duration::from_millis(500)).await;
            open = stats
                .connections_open
                .load(std::sync::atomic::Ordering::Relaxed);
            per_conn = (rss::rss_kib().saturating_sub(rss0)) as f64 / open.max(1) as f64;
            accepted0 = stats.accepted.load(std::sync::atomic::Ordering::Relaxed);
        })
        .await;
        let accepted = stats.accepted.load(std::sync::atomic::Ordering::Relaxed) - accepted0;
        let rate = accepted as f64 / ours.window();
        // Wait for the server to drop the connections before the next run.
        for _ in 0..100 {
            if stats
                .connections_open
                .load(std::sync::atomic::Ordering::Relaxed)
                == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let base = run_load(echo_addr, conns, offered, seconds, || {
            tokio::time::sleep(Duration::from_millis(500))
        })
        .await;
        let k = conns / 1000;
        let detail = format!(
            "{}/{conns} connected, server saw {open}; validated {accepted} shares; p50 {:.0} us, p99 {:.0} us from send, {:.0} us from the scheduled send; echo baseline: {:.0}/s, p50 {:.0} us, p99 {:.0} / {:.0} us",
            ours.connected,
            ours.us("p50_us"),
            ours.us("p99_us"),
            ours.us("p99_from_schedule_us"),
            base.rate(),
            base.us("p50_us"),
            base.us("p99_us"),
            base.us("p99_from_schedule_us"),
        );
        if offered == 0.0 {
            figs.push(Figure {
                name: format!("stratum_{k}k"),
                value: rate,
                unit: "validated submits/s, closed loop",
                baseline: Some(base.rate()),
                ratio: Some(rate / base.rate()),
                goal: ">= 50,000/s".into(),
                note: format!(
                    "{detail}; 1-core in-process validation: {}/s",
                    single_core_validation.map_or("-".into(), |v| format!("{v:.0}"))
                ),
            });
        } else {
            let p99 = ours.us("p99_from_schedule_us") / 1e3;
            let base_p99 = base.us("p99_from_schedule_us") / 1e3;
            figs.push(Figure {
                name: format!("stratum_p99_{k}k_at_{}k", offered as u64 / 1000),
                value: p99,
                unit: "ms p99, open loop, from scheduled send",
                baseline: Some(base_p99),
                ratio: Some(p99 / base_p99),
                goal: "<= 5 ms".into(),
                note: format!("{rate:.0} validated/s of {offered:.0} offered; {detail}"),
            });
        }
        if conns == 10_000 && offered == 0.0 {
            figs.push(Figure {
                name: "stratum_memory_per_connection".into(),
                value: per_conn,
                unit: "KiB (server RSS delta / connections)",
                baseline: None,
                ratio: None,
                goal: "<= 16 KiB".into(),
                note: format!("{open} subscribed and authorized connections"),
            });
        }
    }
    echo.abort();
    let _ = stop_tx.send(());
    let _ = handle.await;
}

async fn dht_figures(figs: &mut Vec<Figure>, quick: bool) {
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

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(addr) = args.load_client {
        runtime.block_on(load_client(addr, args.connections, args.seconds, args.rate));
        return;
    }
    let wants = |section: &str| args.only.is_empty() || args.only.iter().any(|s| s == section);
    let mut figs = Vec::new();
    let mut one_core = None;
    if wants("share") {
        eprintln!("measuring share validation...");
        share_figures(&mut figs, args.quick);
        one_core = figs.first().map(|f| f.value);
    }
    if wants("payout") {
        eprintln!("measuring payouts...");
        payout_figures(&mut figs, args.quick);
    }
    if wants("record") {
        eprintln!("measuring records...");
        record_figures(&mut figs, args.quick);
    }
    if wants("stratum") {
        eprintln!("measuring stratum load...");
        runtime.block_on(stratum_figures(&mut figs, one_core, args.quick));
    }
    if wants("dht") {
        eprintln!("measuring the 50-node DHT...");
        runtime.block_on(dht_figures(&mut figs, args.quick));
    }
    println!(
        "{:<32} {:>14} {:<38} {:>12} {:>8}  goal / note",
        "figure", "value", "unit", "baseline", "ratio"
    );
    let mut json = BTreeMap::new();
    for f in &figs {
        println!(
            "{:<32} {:>14.3} {:<38} {:>12} {:>8}  {} | {}",
            f.name,
            f.value,
            f.unit,
            f.baseline.map_or("-".into(), |b| format!("{b:.3}")),
            f.ratio.map_or("-".into(), |r| format!("{r:.3}")),
            f.goal,
            f.note
        );
        json.insert(
            f.name.as_str(),
            serde_json::json!({"value": f.value, "unit": f.unit, "baseline": f.baseline, "ratio": f.ratio, "goal": f.goal}),
        );
    }
    println!("{}", serde_json::to_string(&json).unwrap_or_default());
}
