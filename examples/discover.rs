//! Lists the pools in a chiral-pool network.
//!
//! `cargo run --release --example discover -- --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/<peer id>`

use std::sync::Arc;
use std::time::Duration;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::manager::{ManagerConfig, PoolManager};
use chiral_pool::core::store::SystemClock;
use chiral_pool::dht::kad::Multiaddr;
use chiral_pool::dht::{KadConfig, KadStore};
use clap::Parser;

/// Lists pools found through the DHT directory.
#[derive(Parser, Debug)]
struct Args {
    /// A node to join through, ending in /p2p/<peer id> (repeatable).
    #[arg(long, required = true)]
    bootstrap: Vec<Multiaddr>,
    /// Seconds to wait for peers.
    #[arg(long, default_value_t = 10)]
    wait: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // gossipsub warns when a link is pushed that the network already has
    // (a held link pushed once it joins): expected, so not shown by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,libp2p_gossipsub=error".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let key = Keypair::generate();
    let store = KadStore::spawn(
        KadConfig::new()
            .with_keypair(key.clone())
            .with_bootstrap(args.bootstrap),
    )
    .await?;
    if tokio::time::timeout(Duration::from_secs(args.wait), store.wait_for_peers(1))
        .await
        .is_err()
    {
        return Err("no peer answered; check the bootstrap address".into());
    }
    let manager = PoolManager::new(
        key,
        store.clone(),
        Arc::new(SystemClock),
        ManagerConfig::new(),
    )?;
    let pools = manager.discover_pools().await?;
    println!("{} pool(s):", pools.len());
    for p in pools {
        let a = &p.announcement;
        println!(
            "  {}  {}\n      url {}  fee {} bps  scheme {:?}  status {:?}\n      owner {}  seq {}  expires {}",
            a.name, a.id, a.stratum_url, a.fee.bps(), a.scheme, a.status, a.owner, p.seq, a.expires_at
        );
    }
    store.shutdown().await;
    Ok(())
}
