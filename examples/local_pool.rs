//! The main job: a local pool network in one process.
//!
//! Starts Kademlia nodes on loopback, announces a pool on one, discovers it
//! from the others, serves CPU miners over Stratum on two of them (one
//! share chain), restarts a node mid-run, finds blocks on a synthetic chain
//! and prints the PPLNS split every node computed for itself from the
//! share chain. Exits non-zero if anything in the pipeline failed.
//!
//! `cargo run --release --example local_pool`

use std::process::ExitCode;
use std::time::Duration;

use chiral_pool::demo::{run_local_pool, run_local_pool_until, LocalPoolConfig, Progress};
use clap::Parser;

/// A local chiral-pool network with miners and payouts.
#[derive(Parser, Debug)]
struct Args {
    /// Kademlia nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// CPU miners.
    #[arg(long, default_value_t = 3)]
    miners: usize,
    /// Stop once every node has settled this many blocks.
    #[arg(long, default_value_t = 3)]
    blocks: usize,
    /// Stop after this many seconds in any case.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Network difficulty of the synthetic chain.
    #[arg(long, default_value_t = 1.0 / 128.0)]
    block_difficulty: f64,
    /// Pool fee in basis points.
    #[arg(long, default_value_t = 100)]
    fee_bps: u16,
    /// Do not restart a node during the run.
    #[arg(long)]
    no_restart: bool,
    /// Serve each node's dashboard and API on a loopback port, and keep
    /// mining until Ctrl-C (then print the report).
    #[arg(long)]
    serve: bool,
}

fn atoms(a: u64) -> String {
    format!("{}.{:08}", a / 100_000_000, a % 100_000_000)
}

#[tokio::main]
async fn main() -> ExitCode {
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
    let config = LocalPoolConfig {
        nodes: args.nodes,
        miners: args.miners,
        blocks: args.blocks,
        duration: Duration::from_secs(args.duration),
        block_difficulty: args.block_difficulty,
        fee_bps: args.fee_bps,
        restart: !args.no_restart,
        http: args.serve,
        ..LocalPoolConfig::default()
    };
    let mut shown = false;
    if args.serve {
        println!(
            "starting {} nodes, {} miners; serving until Ctrl-C",
            config.nodes, config.miners
        );
    } else {
        println!(
            "starting {} nodes, {} miners; waiting for {} blocks (at most {} s)",
            config.nodes, config.miners, config.blocks, args.duration
        );
    }
    let on_progress = |p: &Progress| {
        if !shown && !p.dashboards.is_empty() {
            shown = true;
            for (i, url) in p.dashboards.iter().enumerate() {
                println!("dashboard of node {i}: {url}");
            }
            println!("mining until Ctrl-C; the report follows it");
        }
        if let Some(node) = p.restarted {
            println!(
                "[{:>3}s] node {node} stopped and started again on its data directory",
                p.elapsed_secs
            );
        }
        println!(
            "[{:>3}s] shares accepted {:>5}  chain height {:>4}  blocks found {:>2}  settled on every node {:>2}  {:>6.2} MH/s",
            p.elapsed_secs,
            p.accepted,
            p.chain_height,
            p.blocks_found,
            p.settled_min,
            p.hashrate as f64 / 1e6
        );
    };
    let report = if args.serve {
        let interrupted = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        run_local_pool_until(config, interrupted, on_progress).await
    } else {
        run_local_pool(config, on_progress).await
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };

    println!("\npool {}", report.pool);
    println!(
        "stratum: {} shares accepted, {} rejected, {} blocks found",
        report.shares_accepted, report.shares_rejected, report.blocks_found
    );
    if let Some(first) = report.nodes.first() {
        // The newest blocks: a long --serve run settles hundreds.
        let skip = first.blocks.len().saturating_sub(10);
        if skip > 0 {
            println!("\n({skip} earlier blocks not shown; every node agreed on them too)");
        }
        for (b, block) in first.blocks.iter().enumerate().skip(skip) {
            let s = &block.settlement;
            if !block.outputs.is_empty() {
                println!(
                    "\nblock {} at height {} (link {}) found by {}: {} in {} coinbase outputs  [{} links in the window of its parent]",
                    b + 1,
                    block.height,
                    &block.link.to_hex()[..16],
                    block.finder,
                    atoms(s.reward),
                    block.outputs.len(),
                    block.window_links,
                );
            } else {
                println!(
                "\nblock {} at height {} (link {}) found by {}: reward {} = fee {} + finder bonus {} + miners {}  [{} links in the window of its parent]",
                b + 1,
                block.height,
                &block.link.to_hex()[..16],
                block.finder,
                atoms(s.reward),
                atoms(s.fee),
                atoms(s.finder_bonus),
                atoms(s.paid_to_miners()),
                block.window_links,
            );
            }
            if block.outputs.is_empty() {
                for (id, a) in &s.payouts {
                    println!("    {id:<10} {:>14} atoms  ({})", a, atoms(*a));
                }
            } else {
                println!("    coinbase outputs (address, amount), as the block pays them:");
                let owner = chiral_pool::demo::demo_address("owner");
                for (address, a) in &block.outputs {
                    let role = if *address == owner {
                        "  pool fee"
                    } else if *address == block.finder.as_str() {
                        "  finder"
                    } else {
                        ""
                    };
                    println!("    {address:<44} {:>14} atoms  ({}){role}", a, atoms(*a));
                }
            }
            let same = report
                .nodes
                .iter()
                .all(|n| n.blocks.get(b).map(|x| &x.settlement) == Some(s));
            let agree = report.nodes.iter().all(|n| {
                n.blocks
                    .get(b)
                    .is_some_and(|x| x.outputs_agree != Some(false))
            });
            println!(
                "    identical on all {} nodes: {}  every node's own split equals the block's outputs: {}  conserved: {}",
                report.nodes.len(),
                same,
                agree,
                s.is_conserved()
            );
        }
    }
    println!("\nnode views:");
    for n in &report.nodes {
        println!(
            "  node {} {}…  pools discovered {:?}  chain height {}  tip {}…  links {} (uncles {})  links verified {}  blocks settled {}  conserved {}",
            n.index,
            &n.peer_id[..12.min(n.peer_id.len())],
            n.pools_discovered,
            n.chain.height.map_or_else(|| "-".into(), |h| h.to_string()),
            n.chain.tip.map_or_else(|| "none".into(), |t| t.to_hex()[..16].to_owned()),
            n.chain.links,
            n.chain.uncles,
            n.chain.verified,
            n.blocks.len(),
            n.ledger_ok
        );
    }
    if let Some(first) = report.nodes.first() {
        println!("\nearned over the settled blocks (node 0):");
        for b in &first.balances {
            println!("    {:<44} {:>14} atoms", b.payout, b.credited);
        }
    }
    if report.problems.is_empty() {
        println!("\nOK: every node settled the same blocks on the same links and computed the same payouts.");
        ExitCode::SUCCESS
    } else {
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        ExitCode::FAILURE
    }
}
