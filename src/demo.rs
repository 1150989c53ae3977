//! The README's main job: a pool network of real Kademlia nodes in one
//! process, a Stratum server, CPU miners, blocks on a synthetic chain and
//! the PPLNS payouts every node computes for itself.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool_core::chain::SyntheticChain;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pow::Target;
use chiral_stratum::client::ClientConfig;

use crate::api::ApiServer;
use crate::miner::{run_cpu_miner, MinerStats};
use crate::node::{Balance, ChainBlock, ChainStatus, NodeConfig, NodeError, PoolNode, PoolSpec};
use chiral_pool_core::payout::{p2wpkh_address, AddressNetwork, WindowBps};
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::sharechain::CoinbaseRules;

/// Settings of [`run_local_pool`] and [`run_local_pool_until`].
#[derive(Debug, Clone)]
pub struct LocalPoolConfig {
    /// Kademlia nodes (at least 2). Default: 3.
    pub nodes: usize,
    /// CPU miners. Default: 3.
    pub miners: usize,
    /// Blocks every node should settle: [`run_local_pool`] stops once they
    /// have, and either run reports a problem if they have not. Default: 3.
    pub blocks: usize,
    /// [`run_local_pool`] stops after this long in any case (not
    /// [`run_local_pool_until`]). Default: 60 s.
    pub duration: Duration,
    /// Network difficulty of the synthetic chain. Default: 1/128 (a few
    /// seconds per block for three CPU miners, several links per block).
    pub block_difficulty: f64,
    /// First share difficulty. Default: 1/65536.
    pub share_difficulty: f64,
    /// Pool fee, basis points. Default: 100 (1 %).
    pub fee_bps: u16,
    /// Seconds between share chain links. Default: 2 (a short demo sees
    /// many links per block).
    pub link_spacing_secs: u32,
    /// Stop the last node once every node settled a block, and start it
    /// again on its data directory (it must catch up and agree). Default:
    /// true.
    pub restart: bool,
    /// Serve each node's HTTP API and dashboard on a loopback port (see
    /// [`Progress::dashboards`]). Default: false.
    pub http: bool,
}

impl Default for LocalPoolConfig {
    fn default() -> Self {
        LocalPoolConfig {
            nodes: 3,
            miners: 3,
            blocks: 3,
            duration: Duration::from_secs(60),
            block_difficulty: 1.0 / 128.0,
            share_difficulty: 1.0 / 65_536.0,
            fee_bps: 100,
            link_spacing_secs: 2,
            restart: true,
            http: false,
        }
    }
}

/// What one node saw.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// Node index.
    pub index: usize,
    /// Its peer id.
    pub peer_id: String,
    /// Pools it discovered through the directory.
    pub pools_discovered: Vec<String>,
    /// Shares it fetched and verified itself (last fetch).
    pub shares_verified: u64,
    /// Blocks it settled.
    pub blocks: Vec<ChainBlock>,
    /// Its share chain at the end.
    pub chain: ChainStatus,
    /// Its ledger balances (payout id, credited atoms).
    pub balances: Vec<Balance>,
    /// Whether its ledger's invariants hold.
    pub ledger_ok: bool,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct LocalPoolReport {
    /// The pool.
    pub pool: PoolId,
    /// Per node.
    pub nodes: Vec<NodeView>,
    /// Shares the Stratum server accepted.
    pub shares_accepted: u64,
    /// Shares it rejected.
    pub shares_rejected: u64,
    /// Blocks found on the chain.
    pub blocks_found: u64,
    /// Everything that went wrong; empty on success.
    pub problems: Vec<String>,
}

/// A progress snapshot, reported about once a second.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Seconds since start.
    pub elapsed_secs: u64,
    /// Shares accepted by the server.
    pub accepted: u64,
    /// Blocks found.
    pub blocks_found: u64,
    /// Fewest blocks settled by any node.
    pub settled_min: usize,
    /// Height of node 0's share chain.
    pub chain_height: u64,
    /// A node was restarted at this tick.
    pub restarted: Option<usize>,
    /// Hashes per second of all miners.
    pub hashrate: u64,
    /// Each node's dashboard URL, by node (empty unless
    /// [`LocalPoolConfig::http`]).
    pub dashboards: Vec<String>,
}

/// Runs the local pool network until every node settled
/// `config.blocks` blocks or `config.duration` passed, and reports what
/// every node computed.
pub async fn run_local_pool(
    config: LocalPoolConfig,
    on_progress: impl FnMut(&Progress),
) -> Result<LocalPoolReport, NodeError> {
    run(config, None::<std::future::Pending<()>>, on_progress).await
}

/// Runs the local pool network past its blocks and duration, until `stop`
/// completes (for a person watching the dashboards: `stop` may be
/// Ctrl-C), and reports what every node computed; stopped before every
/// node settled `config.blocks` blocks, the report lists that among its
/// problems.
pub async fn run_local_pool_until(
    config: LocalPoolConfig,
    stop: impl std::future::Future<Output = ()>,
    on_progress: impl FnMut(&Progress),
) -> Result<LocalPoolReport, NodeError> {
    run(config, Some(stop), on_progress).await
}

async fn run(
    config: LocalPoolConfig,
    stop_when: Option<impl std::future::Future<Output = ()>>,
    mut on_progress: impl FnMut(&Progress),
) -> Result<LocalPoolReport, NodeError> {
    let invalid = |field, e: &dyn std::fmt::Display| NodeError::Config {
        field,
        reason: e.to_string(),
    };
    let bits = Target::from_difficulty(config.block_difficulty)
        .map_err(|e| invalid("block_difficulty", &e))?
        .to_compact_lossy();
    let chain = Arc::new(
        SyntheticChain::new(bits)
            .map_err(|e| invalid("block_difficulty", &e))?
            .with_reward(crate::node::DEFAULT_REWARD),
    );
    let fee = FeeBps::new(config.fee_bps).map_err(|e| invalid("fee_bps", &e))?;
    // The block pays the window in its coinbase; the synthetic chain takes
    // mainnet addresses, as a public pool would.
    let owner_address = demo_address("owner");
    let mut coinbase = CoinbaseRules::bitcoin(
        AddressNetwork::Bitcoin,
        PayoutId::new(owner_address.as_str()).map_err(|e| invalid("owner", &e))?,
    );
    coinbase.initial_subsidy = crate::node::DEFAULT_REWARD;
    let base = |keypair: Keypair| NodeConfig {
        chain: Some(chain.clone()),
        share_difficulty: config.share_difficulty,
        share_interval_secs: 1.0,
        ..NodeConfig::new(keypair)
    };

    // Node 0 owns the pool and serves miners; the others join through it.
    let mut first = base(Keypair::generate());
    first.announce = Some(PoolSpec {
        fee,
        window: WindowBps::DEFAULT,
        link_spacing_secs: config.link_spacing_secs,
        coinbase: Some(coinbase),
        ..PoolSpec::new("local-demo")
    });
    first.stratum = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let owner = PoolNode::start(first).await?;
    let boot = owner.store.dial_addresses();
    let mut nodes = vec![owner.clone()];
    let count = config.nodes.max(2);
    // The node restarted mid-run keeps its state in a directory of its own.
    let state_dir = std::env::temp_dir().join(format!(
        "chiral-demo-{}",
        &Keypair::generate().public().to_hex()[..16]
    ));
    let mut restart_config = None;
    for i in 1..count {
        let mut c = base(Keypair::generate());
        c.bootstrap = boot.clone();
        if i == 1 {
            // A second member serves miners too, on the same share chain.
            c.stratum = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        if i == count - 1 && config.restart && count > 2 {
            c.data_dir = Some(state_dir.clone());
            restart_config = Some(c.clone());
        }
        nodes.push(PoolNode::start(c).await?);
    }
    let mut apis = Vec::new();
    if config.http {
        for n in &nodes {
            let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            apis.push(ApiServer::start(n.clone(), any, |_| {}).await?);
        }
    }
    let dashboards: Vec<String> = apis.iter().map(ApiServer::url).collect();
    let want = nodes.len() - 1;
    for n in &nodes {
        let _ = tokio::time::timeout(Duration::from_secs(20), n.store.wait_for_peers(want)).await;
    }

    let mut problems = Vec::new();
    let pool = owner
        .pool()
        .ok_or_else(|| NodeError::Stratum(std::io::Error::other("no pool")))?;
    // Every other node discovers the pool through the DHT directory and follows it.
    let mut discovered: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut announcement = None;
    for (i, n) in nodes.iter().enumerate() {
        let pools = n.manager.discover_pools().await.unwrap_or_default();
        discovered.insert(
            i,
            pools.iter().map(|p| p.announcement.name.clone()).collect(),
        );
        match pools.iter().find(|p| p.announcement.id == pool) {
            Some(p) => {
                n.follow(&p.announcement).await?;
                announcement.get_or_insert_with(|| p.announcement.clone());
            }
            None => problems.push(format!("node {i} did not discover the pool")),
        }
    }

    // Miners alternate between the two serving nodes.
    let servers: Vec<_> = nodes.iter().filter_map(|n| n.stratum()).collect();
    let stop = crate::node::stop_flag();
    let mut miners = Vec::new();
    let mut miner_stats = Vec::new();
    for m in 0..config.miners.max(1) {
        let stats = Arc::new(MinerStats::default());
        miner_stats.push(stats.clone());
        let (addr, _) = &servers[m % servers.len()];
        let address = demo_address(&format!("miner{}", m + 1));
        let mut c = ClientConfig::new(addr.to_string(), format!("{address}.cpu{}", m + 1));
        c.suggest_difficulty = Some(config.share_difficulty);
        // The miner refuses any job that would not credit it.
        c.expect_pool = Some(pool);
        miners.push(tokio::spawn(run_cpu_miner(c, stats, stop.clone())));
    }
    let server_stats: Vec<_> = servers.iter().map(|(_, s)| s.clone()).collect();
    let total = |f: fn(&chiral_stratum::server::ServerStats) -> u64| -> u64 {
        server_stats.iter().map(|s| f(s)).sum()
    };

    let started = Instant::now();
    let mut last_hashes = 0u64;
    let mut last_at = Instant::now();
    let until_stopped = stop_when.is_some();
    let stopped = async move {
        match stop_when {
            Some(stop) => stop.await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stopped);
    loop {
        let stop_now = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => false,
            () = &mut stopped => true,
        };
        let settled_min = nodes.iter().map(|n| n.blocks().len()).min().unwrap_or(0);
        let mut restarted = None;
        if let (Some(c), Some(ann), true) = (&restart_config, &announcement, settled_min >= 1) {
            // Stop the last node and start it again on its data directory.
            let last = nodes.len() - 1;
            nodes[last].shutdown().await;
            let again = PoolNode::start(c.clone()).await?;
            again.follow(ann).await?;
            if apis.len() > last {
                // The dashboard stays where it was, now on the new node.
                let old = apis.remove(last);
                let addr = old.addr();
                let _ = old.stop().await;
                apis.insert(last, ApiServer::start(again.clone(), addr, |_| {}).await?);
            }
            nodes[last] = again;
            restart_config = None;
            restarted = Some(last);
        }
        let hashes: u64 = miner_stats
            .iter()
            .map(|s| s.hashes.load(Ordering::Relaxed))
            .sum();
        let rate =
            ((hashes - last_hashes) as f64 / last_at.elapsed().as_secs_f64().max(0.001)) as u64;
        last_hashes = hashes;
        last_at = Instant::now();
        on_progress(&Progress {
            elapsed_secs: started.elapsed().as_secs(),
            accepted: total(|s| s.accepted.load(Ordering::Relaxed)),
            blocks_found: total(|s| s.blocks.load(Ordering::Relaxed)),
            settled_min,
            chain_height: owner.chain_status().height.unwrap_or(0),
            restarted,
            hashrate: rate,
            dashboards: dashboards.clone(),
        });
        let done = settled_min >= config.blocks || started.elapsed() >= config.duration;
        if stop_now || (done && !until_stopped) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for m in miners {
        let _ = m.await;
    }

    let mut views = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let balances = n.balances();
        views.push(NodeView {
            index: i,
            peer_id: n.store.peer_id().to_string(),
            pools_discovered: discovered.remove(&i).unwrap_or_default(),
            shares_verified: n.counters.shares_in_view.load(Ordering::Relaxed),
            blocks: n.blocks(),
            chain: n.chain_status(),
            balances: balances.accounts,
            ledger_ok: balances.consistent,
        });
    }
    check(&views, config.blocks, &mut problems);
    let report = LocalPoolReport {
        pool,
        shares_accepted: total(|s| s.accepted.load(Ordering::Relaxed)),
        shares_rejected: total(|s| s.rejected_total()),
        blocks_found: total(|s| s.blocks.load(Ordering::Relaxed)),
        nodes: views,
        problems,
    };
    for api in apis {
        let _ = api.stop().await;
    }
    for n in &nodes {
        n.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(report)
}

/// Cross-checks the nodes: same blocks, same splits to the atom,
/// conservation, ledgers, discovery.
fn check(views: &[NodeView], wanted: usize, problems: &mut Vec<String>) {
    let Some(first) = views.first() else {
        problems.push("no nodes".into());
        return;
    };
    let settled = views.iter().map(|v| v.blocks.len()).min().unwrap_or(0);
    if settled == 0 {
        problems.push("no block was found and settled on every node".into());
    } else if settled < wanted {
        problems.push(format!(
            "only {settled} of {wanted} blocks settled on every node in time"
        ));
    }
    for v in views {
        for (b, block) in v.blocks.iter().take(settled).enumerate() {
            let reference = &first.blocks[b];
            if block.link != reference.link || block.settlement != reference.settlement {
                problems.push(format!(
                    "node {} computed a different split for block {b}",
                    v.index
                ));
            }
            if block.outputs != reference.outputs {
                problems.push(format!(
                    "node {} read other coinbase outputs for block {b}",
                    v.index
                ));
            }
            if block.outputs_agree != Some(true) {
                problems.push(format!(
                    "node {}'s own split of block {b}'s window is not the block's outputs ({:?})",
                    v.index, block.outputs_agree
                ));
            }
            if !block.settlement.is_conserved() {
                problems.push(format!(
                    "node {} block {b} does not conserve its reward",
                    v.index
                ));
            }
        }
        if !v.ledger_ok {
            problems.push(format!("node {} ledger invariants fail", v.index));
        }
        if !v.pools_discovered.iter().any(|p| p == "local-demo") {
            problems.push(format!("node {} did not discover the pool", v.index));
        }
    }
}

/// A mainnet P2WPKH address for a demo participant, the same for a label
/// on every run: its program is the first 20 bytes of
/// `sha256("chiral-pool demo " || label)`. Nobody holds its key; a real
/// miner gives its own address.
pub fn demo_address(label: &str) -> String {
    use bitcoin::hashes::{sha256, Hash};
    let hash = sha256::Hash::hash(format!("chiral-pool demo {label}").as_bytes());
    let mut program = [0u8; 20];
    program.copy_from_slice(&hash.as_byte_array()[..20]);
    p2wpkh_address(program, AddressNetwork::Bitcoin)
}
