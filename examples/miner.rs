//! A CPU miner for any Stratum V1 endpoint.
//!
//! `cargo run --release --example miner -- --pool 127.0.0.1:3333 --user alice.cpu`

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool::core::ids::PoolId;
use chiral_pool::miner::{run_cpu_miner, MinerStats};
use chiral_pool::node::stop_flag;
use chiral_pool::stratum::client::ClientConfig;
use clap::Parser;

/// A Stratum V1 CPU miner.
#[derive(Parser, Debug)]
struct Args {
    /// Pool address, host:port.
    #[arg(long, default_value = "127.0.0.1:3333")]
    pool: String,
    /// Username, `<payout id>.<worker>`: an address of the pool's network
    /// where blocks pay in the coinbase.
    #[arg(long, default_value = "miner1.cpu")]
    user: String,
    /// Mining threads (one connection each).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Suggest this share difficulty to the pool.
    #[arg(long)]
    difficulty: Option<f64>,
    /// Refuse jobs of any other pool (64 hex digits). Jobs that would not
    /// credit the username's payout id are refused in any case.
    #[arg(long)]
    pool_id: Option<String>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
}

#[tokio::main]
async fn main() {
    // gossipsub warns when a link is pushed that the network already has
    // (a held link pushed once it joins): expected, so not shown by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,libp2p_gossipsub=error".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let expect_pool = match &args.pool_id {
        Some(hex) => match PoolId::from_hex(hex) {
            Some(id) => Some(id),
            None => {
                eprintln!("error: --pool-id wants 64 hex digits");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let stop = stop_flag();
    let stats = Arc::new(MinerStats::default());
    let mut tasks = Vec::new();
    for _ in 0..args.threads.max(1) {
        let mut c = ClientConfig::new(args.pool.clone(), args.user.clone());
        c.suggest_difficulty = args.difficulty;
        c.expect_pool = expect_pool;
        tasks.push(tokio::spawn(run_cpu_miner(c, stats.clone(), stop.clone())));
    }
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + Duration::from_secs(d));
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                println!(
                    "{:.2} MH/s  accepted {}  rejected {}  jobs refused {}",
                    stats.hashes.load(Ordering::Relaxed) as f64 / secs / 1e6,
                    stats.accepted.load(Ordering::Relaxed),
                    stats.rejected.load(Ordering::Relaxed),
                    stats.refused_jobs.load(Ordering::Relaxed)
                );
                if deadline.is_some_and(|d| Instant::now() >= d) { break; }
                if stats.unauthorized.load(Ordering::Relaxed) {
                    eprintln!("error: the pool refused the username `{}` (see the log line above)", args.user);
                    std::process::exit(2);
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "final: accepted {} rejected {}",
        stats.accepted.load(Ordering::Relaxed),
        stats.rejected.load(Ordering::Relaxed)
    );
}
