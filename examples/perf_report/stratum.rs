//! The Stratum server under load from a child process, against a canned-reply
//! line server on the same runtime and loopback.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_bench_support::{echo, rss};
use chiral_pool::core::chain::SyntheticChain;
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PoolId;
use chiral_pool::core::pow::Difficulty;
use chiral_pool::stratum::server::{DiscardShares, ServerConfig, StratumServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::shares::BITS;
use super::{percentile, Figure};

/// The load client (child process): opens connections, reports when they
/// are all subscribed and authorized, waits for "go", submits for the given
/// seconds and prints `submits latency_us...` summary as JSON.
pub async fn load_client(addr: String, connections: usize, seconds: u64, rate: f64) {
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
            let Some((mut job_id, mut ntime)) = job else { return (lat, None) };
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
                // Pushed notifications do not end the wait; a new job is
                // what the next submits work on (as a miner would).
                let replied = loop {
                    match lines.next_line().await {
                        Ok(Some(l)) if l.contains("\"method\"") => {
                            if let Some((id, time)) = notify_job(&l) {
                                (job_id, ntime) = (id, time);
                            }
                        }
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

/// The job id and ntime of a `mining.notify` line.
fn notify_job(line: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["method"] != "mining.notify" {
        return None;
    }
    Some((
        v["params"][0].as_str()?.to_owned(),
        v["params"][7].as_str()?.to_owned(),
    ))
}

/// Reads the handshake replies and the first notify; returns (job id, ntime).
pub async fn lines_take(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> Option<(String, String)> {
    for _ in 0..8 {
        let line = lines.next_line().await.ok()??;
        if let Some(job) = notify_job(&line) {
            return Some(job);
        }
    }
    None
}

/// One load run from a child process: connects, waits until `ready` says
/// the server side is settled, runs, and returns the child's summary.
pub struct LoadRun {
    connected: usize,
    /// Seconds between "go" and the summary (the load starts 0.3 s in).
    secs: f64,
    summary: serde_json::Value,
}

pub async fn run_load<F: std::future::Future<Output = ()>>(
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
    pub fn window(&self) -> f64 {
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

pub async fn stratum_figures(
    figs: &mut Vec<Figure>,
    single_core_validation: Option<f64>,
    quick: bool,
) {
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
