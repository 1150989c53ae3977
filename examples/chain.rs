//! A synthetic chain several node processes can share: served over the
//! subset of Bitcoin Core's RPC a node's `--bitcoind` work source uses.
//!
//! `cargo run --release --example chain -- --rpc 127.0.0.1:18443`, then
//! `cargo run --release --example node -- --bitcoind http://127.0.0.1:18443 ...`
//! in as many terminals as wanted. No credentials: keep it on loopback.

use std::net::SocketAddr;
use std::sync::Arc;

use chiral_pool::chain_rpc;
use chiral_pool::core::chain::{SyntheticChain, WorkSource};
use chiral_pool::core::payout::AddressNetwork;
use chiral_pool::core::pow::Target;
use clap::Parser;

/// A synthetic chain over Bitcoin Core's RPC.
#[derive(Parser, Debug)]
struct Args {
    /// Where to serve JSON-RPC.
    #[arg(long, default_value = "127.0.0.1:18443")]
    rpc: SocketAddr,
    /// Network difficulty.
    #[arg(long, default_value_t = 1.0 / 256.0)]
    block_difficulty: f64,
    /// Each block's coinbase value, atoms.
    #[arg(long, default_value_t = 5_000_000_000)]
    reward: u64,
    /// The chain name reported to nodes (the address format pools on it
    /// pay): mainnet, testnet, signet or regtest.
    #[arg(long, default_value = "mainnet")]
    network: AddressNetwork,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let bits = Target::from_difficulty(args.block_difficulty)?.to_compact_lossy();
    let chain = Arc::new(SyntheticChain::new(bits)?.with_reward(args.reward));
    let (addr, task) = chain_rpc::spawn(chain.clone(), args.network, args.rpc, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    println!("synthetic chain ({}) on http://{addr}", args.network);
    let mut tips = chain.tip();
    let printer = tokio::spawn(async move {
        while tips.changed().await.is_ok() {
            let tip = *tips.borrow_and_update();
            println!("new block: height {}", tip.height.saturating_sub(1));
        }
    });
    // The server stops at Ctrl-C.
    task.await??;
    printer.abort();
    Ok(())
}
