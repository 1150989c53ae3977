//! A long-running pool node.
//!
//! `cargo run --release --example node -- --stratum 127.0.0.1:3333` runs a
//! single-node pool on a synthetic chain that any Stratum V1 miner can
//! point at. Add `--bootstrap <multiaddr>` to join other nodes; a node
//! without `--stratum` follows the first pool it discovers, and
//! `--join <pool id> --stratum ADDR` joins a discovered pool and serves
//! its miners on the same share chain. `--address <addr>` pays each
//! block's window in its coinbase; `--bitcoind URL` mines Bitcoin Core's
//! chain (or the `chain` example's) instead of a synthetic one.

use chiral_pool::api::{AdminToken, ApiServer, TOKEN_FILE};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chiral_pool::bitcoind::{Auth, BitcoinRpc, CoreConfig, CoreWork};
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{PayoutId, PoolId};
use chiral_pool::core::payout::{payout_script, AddressNetwork, WindowBps};
use chiral_pool::core::pool::FeeBps;
use chiral_pool::core::sharechain::CoinbaseRules;
use chiral_pool::dht::kad::Multiaddr;
use chiral_pool::node::{NodeConfig, PoolNode, PoolSpec};
use chiral_pool::stratum::server::RejectReason;
use clap::Parser;

/// A chiral-pool node.
#[derive(Parser, Debug)]
struct Args {
    /// Kademlia listen address.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    listen: Multiaddr,
    /// A peer to join through, ending in /p2p/<peer id> (repeatable).
    #[arg(long)]
    bootstrap: Vec<Multiaddr>,
    /// File holding the node's 32-byte secret key in hex; created if missing.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Directory for the node's state (its key file lives here by default).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Serve Stratum V1 miners on this address.
    #[arg(long)]
    stratum: Option<SocketAddr>,
    /// Announce a pool with this name (default `chiral-node` when serving
    /// without `--join`).
    #[arg(long)]
    announce: Option<String>,
    /// Join the pool with this id (64 hex digits) once it is discovered,
    /// and serve its miners if `--stratum` is given.
    #[arg(long)]
    join: Option<String>,
    /// Seconds between share chain links (part of the pool's rules).
    #[arg(long, default_value_t = 10)]
    link_spacing: u32,
    /// Pool fee in basis points.
    #[arg(long, default_value_t = 100)]
    fee_bps: u16,
    /// PPLNS window in basis points of the network difficulty.
    #[arg(long, default_value_t = WindowBps::DEFAULT.bps())]
    window_bps: u32,
    /// Network difficulty of the synthetic chain.
    #[arg(long, default_value_t = 1.0 / 256.0)]
    block_difficulty: f64,
    /// Pay each block's window in its coinbase, with the pool's fee to
    /// this address (when announcing a pool). Miners' usernames must then
    /// be `<address>.<worker>` with addresses of `--network`. Without it
    /// the pool keeps a ledger and any payout id works.
    #[arg(long)]
    address: Option<String>,
    /// Address format of a pool that pays in the coinbase: mainnet,
    /// testnet, signet or regtest. The synthetic chain takes mainnet
    /// addresses, as a public pool would.
    #[arg(long, default_value = "mainnet")]
    network: AddressNetwork,
    /// Mine a real chain: Bitcoin Core's JSON-RPC endpoint (or the
    /// `chain` example's), such as `http://127.0.0.1:8332`. Default: a
    /// synthetic chain of this process.
    #[arg(long)]
    bitcoind: Option<String>,
    /// Bitcoin Core's cookie file (`<datadir>/.cookie`,
    /// `<datadir>/regtest/.cookie`).
    #[arg(long)]
    rpc_cookie: Option<PathBuf>,
    /// RPC user (with `--rpc-password`), instead of the cookie.
    #[arg(long)]
    rpc_user: Option<String>,
    /// RPC password.
    #[arg(long)]
    rpc_password: Option<String>,
    /// Serve the dashboard (`/`), the JSON API (`/api/v1/...`), events and
    /// metrics on this address; admin actions need the token in the data
    /// directory.
    /// Keep it on localhost: requests must name it in their `Host`.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 10)]
    status_every: u64,
}

fn load_or_create_key(path: &PathBuf) -> std::io::Result<Keypair> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut secret = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut secret).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("key file: {e}"))
            })?;
            Ok(Keypair::from_secret_bytes(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // The secret key: readable by its owner alone.
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path)?;
            std::io::Write::write_all(&mut file, hex::encode(key.secret_bytes()).as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
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
    let key_path = args
        .key_file
        .clone()
        .or_else(|| args.data_dir.as_ref().map(|d| d.join("node.key")));
    let keypair = match &key_path {
        Some(p) => load_or_create_key(p)?,
        None => Keypair::generate(),
    };
    let mut config = NodeConfig::new(keypair);
    config.listen = args.listen.clone();
    config.bootstrap = args.bootstrap.clone();
    config.data_dir = args.data_dir.clone();
    config.chain_bits =
        chiral_pool::core::pow::Target::from_difficulty(args.block_difficulty)?.to_compact_lossy();
    if args.bitcoind.is_some() && args.address.is_none() && args.join.is_none() {
        return Err(
            "--bitcoind needs --address: on a real chain the pool's blocks pay \
                    addresses (a ledger pool would have no one to pay the block to)"
                .into(),
        );
    }
    if let Some(url) = &args.bitcoind {
        let auth = match (&args.rpc_cookie, &args.rpc_user, &args.rpc_password) {
            (Some(cookie), _, _) => Auth::Cookie(cookie.clone()),
            (None, Some(user), Some(password)) => Auth::UserPass {
                user: user.clone(),
                password: password.clone(),
            },
            (None, Some(_), None) => return Err("--rpc-user needs --rpc-password".into()),
            _ => Auth::None,
        };
        let rpc = BitcoinRpc::new(url.clone(), auth, Duration::from_secs(30))?;
        let work = CoreWork::connect(rpc, CoreConfig::new(args.network)).await?;
        println!(
            "mining {} at height {} through {url}",
            args.network,
            work.current().height
        );
        config.chain = Some(work);
    }
    let join = match &args.join {
        Some(hex) => Some(PoolId::from_hex(hex).ok_or("--join wants a 64-hex-digit pool id")?),
        None => None,
    };
    config.stratum = args.stratum;
    if join.is_none() && (args.stratum.is_some() || args.announce.is_some()) {
        let coinbase = match &args.address {
            Some(address) => {
                let owner = PayoutId::new(address.as_str())?;
                // Refused here, with the reason, rather than by the pool's
                // rules check.
                payout_script(&owner, args.network)?;
                let mut rules = CoinbaseRules::bitcoin(args.network, owner);
                if args.bitcoind.is_none() {
                    // The synthetic chain's blocks are all worth `reward`.
                    rules.initial_subsidy = config.reward;
                    rules.halving_interval = u32::MAX;
                }
                Some(rules)
            }
            None => None,
        };
        config.announce = Some(PoolSpec {
            fee: FeeBps::new(args.fee_bps)?,
            window: WindowBps::new(args.window_bps)?,
            link_spacing_secs: args.link_spacing,
            coinbase,
            ..PoolSpec::new(
                args.announce
                    .clone()
                    .unwrap_or_else(|| "chiral-node".into()),
            )
        });
    }
    let node = PoolNode::start(config).await?;
    let api = match args.http {
        Some(addr) => {
            let token = match &args.data_dir {
                Some(dir) => Some(AdminToken::load_or_create(dir)?),
                None => None,
            };
            let server = ApiServer::start(node.clone(), addr, |api| {
                api.admin_token = token;
            })
            .await?;
            if let Some(dir) = &args.data_dir {
                println!(
                    "admin actions: POST with -H \"Authorization: Bearer $(cat {})\"",
                    dir.join(TOKEN_FILE).display()
                );
            }
            let bound = server.addr();
            println!("dashboard: {}", server.url());
            println!("api: http://{bound}/api/v1/health  metrics: http://{bound}/metrics");
            Some(server)
        }
        None => None,
    };
    println!("peer id: {}", node.store.peer_id());
    for a in node.store.dial_addresses() {
        println!("listening: {a}");
    }
    if let Some((addr, _)) = node.stratum() {
        println!(
            "stratum: stratum+tcp://{addr}  (username: {})",
            username_hint(&node)
        );
    }
    if let Some(pool) = node.pool() {
        println!("pool: {pool}");
    }

    let mut status = tokio::time::interval(Duration::from_secs(args.status_every.max(1)));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = status.tick() => {
                if node.pool().is_none() {
                    // A follower: join the pool asked for (by its owner's
                    // announcement or, failing that, the parameters any
                    // member republishes), or the first pool listed.
                    let wanted = match join {
                        Some(id) => node.find_pool(&id).await,
                        None => node
                            .manager
                            .discover_pools()
                            .await
                            .ok()
                            .and_then(|pools| pools.into_iter().next())
                            .map(|p| p.announcement),
                    };
                    if let Some(ann) = wanted {
                        node.follow(&ann).await?;
                        println!("following pool {} ({})", ann.name, ann.id);
                        if let Some((addr, _)) = node.stratum() {
                            println!("stratum: stratum+tcp://{addr}  (username: {})", username_hint(&node));
                        }
                    }
                }
                println!("{}", status_line(&node).await);
            }
        }
    }
    println!("shutting down");
    println!("{}", status_line(&node).await);
    // What every miner earned over the settled blocks: the same on every
    // node of the pool (compare them).
    let balances = node.balances();
    println!(
        "earned over {} settled blocks (conserved: {}):",
        node.blocks().len(),
        balances.consistent
    );
    for b in &balances.accounts {
        println!("    {:<24} {:>16} atoms", b.payout, b.credited);
    }
    if let Some(api) = api {
        let _ = api.stop().await;
    }
    node.shutdown().await;
    Ok(())
}

/// What a miner's username must look like on this node's pool.
fn username_hint(node: &PoolNode) -> String {
    match node.coinbase_rules() {
        Some(rules) => format!(
            "<{} address>.<worker>; blocks pay the window in the coinbase",
            rules.network
        ),
        None => "<payout id>.<worker>; payouts are a ledger".into(),
    }
}

async fn status_line(node: &PoolNode) -> String {
    let pools = node.manager.list_local_pools().len();
    let chain = node.chain_status();
    let tip = chain
        .tip
        .map(|t| t.to_hex()[..16].to_owned())
        .unwrap_or_else(|| "none".into());
    let mut line = format!(
        "peers {}  pools known {}  chain height {}  tip {}  links {} (pending {}, uncles {})  links verified {}  refused {}  blocks settled {}  shares verified {}  replayed {}",
        node.store.peer_count(),
        pools,
        chain.height.map_or_else(|| "-".into(), |h| h.to_string()),
        tip,
        chain.links,
        chain.pending,
        chain.uncles,
        chain.verified,
        chain.rejected,
        node.blocks().len(),
        node.counters.shares_in_view.load(Ordering::Relaxed),
        node.counters.shares_replayed.load(Ordering::Relaxed),
    );
    if let Some((_, s)) = node.stratum() {
        let rejected: Vec<String> = RejectReason::ALL
            .iter()
            .filter(|r| s.rejected(**r) > 0)
            .map(|r| format!("{} {}", r.name(), s.rejected(*r)))
            .collect();
        line.push_str(&format!(
            "  miners {}  accepted {}  rejected [{}]  blocks found {}",
            s.connections_open.load(Ordering::Relaxed),
            s.accepted.load(Ordering::Relaxed),
            rejected.join(", "),
            s.blocks.load(Ordering::Relaxed)
        ));
    }
    line
}
