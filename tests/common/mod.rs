//! Shared fixtures for the workspace-level tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{PayoutId, PoolId};
use chiral_pool::core::pow::{CompactTarget, Difficulty, Target};
use chiral_pool::core::share::{
    Share, ShareValidator, ShareValidatorConfig, VerifiedShare, WorkTemplate,
};
use chiral_pool::core::store::{ManualClock, SharedClock};
use chiral_pool::dht::kad::Multiaddr;
use chiral_pool::dht::{KadConfig, KadStore};
use chiral_pool_core::share::commitment::Commitment;

/// Chain bits of the commitment: these shares are not links.
const CHAIN_BITS: chiral_pool_core::pow::CompactTarget =
    chiral_pool_core::pow::CompactTarget::from_consensus(0x1f00_ffff);

pub const T0: u64 = 1_900_000_000;
/// Diff1 bits: fixture shares are not blocks.
pub const BITS: CompactTarget = CompactTarget::from_consensus(0x1d00ffff);
pub const TIP: [u8; 32] = [0x5a; 32];

/// Shares of one pool at difficulty 2^-24 (about 256 hashes each).
pub struct ShareFactory {
    pub pool: PoolId,
    pub target: Target,
    /// Header time of the shares.
    pub time: u32,
}

impl ShareFactory {
    pub fn new(pool: PoolId) -> Self {
        Self::at(pool, T0)
    }

    pub fn at(pool: PoolId, time: u64) -> Self {
        ShareFactory {
            pool,
            target: Target::from_difficulty(1.0 / 16_777_216.0).expect("valid"),
            time: time as u32,
        }
    }

    pub fn validator_config() -> ShareValidatorConfig {
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1),
            ..ShareValidatorConfig::new()
        }
    }

    pub fn share(&self, payout: &str, seed: u64) -> Share {
        self.share_on(TIP, payout, seed)
    }
}

/// A manual clock standing at the system time (Kademlia's record expiry
/// and the managers' leases then follow it), and its shared handle.
pub fn manual_clock() -> (ManualClock, SharedClock) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let manual = ManualClock::new(now);
    let shared: SharedClock = Arc::new(manual.clone());
    (manual, shared)
}

/// A Kademlia node on loopback with a fresh key, on `clock`.
pub async fn kad_node(clock: &SharedClock, bootstrap: Vec<Multiaddr>) -> (Keypair, KadStore) {
    let k = Keypair::generate();
    let store = KadStore::spawn(
        KadConfig::new()
            .with_keypair(k.clone())
            .with_clock(clock.clone())
            .with_bootstrap(bootstrap),
    )
    .await
    .expect("node starts");
    (k, store)
}

impl ShareFactory {
    /// What a Stratum server's validator hands over for `share` (built on
    /// `tip`): its verdict.
    pub fn verdict(tip: [u8; 32], share: &Share) -> VerifiedShare {
        let mut v = ShareValidator::new(share.pool_id, Self::validator_config());
        v.add_tip(tip, BITS).expect("tip");
        v.accept(share).expect("valid share")
    }

    /// A share like [`ShareFactory::share`] built on block `tip`.
    pub fn share_on(&self, tip: [u8; 32], payout: &str, seed: u64) -> Share {
        let payout = PayoutId::new(payout).expect("valid payout id");
        WorkTemplate::synthetic(
            &Commitment::genesis(self.pool, payout.clone(), CHAIN_BITS),
            tip,
            BITS,
            self.time,
            1,
            8,
        )
        .mine(
            self.pool,
            payout,
            self.target,
            &seed.to_le_bytes(),
            0..u32::MAX,
        )
        .expect("a share exists")
    }
}

/// A node serving a coinbase pool on a fast synthetic chain (links every
/// second), and a CPU miner for it (`<miner_address>.rig1`, started by
/// [`MiningNode::mine`]): what the API's tests look at.
pub struct MiningNode {
    /// The node.
    pub node: Arc<chiral_pool::node::PoolNode>,
    /// The miner's payout address.
    pub miner_address: String,
    /// Events from the node's start on.
    pub events: tokio::sync::broadcast::Receiver<chiral_pool::node::NodeEvent>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    mining: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for MiningNode {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl MiningNode {
    /// Starts the node for pool `pool_name`; its miner will be paid to the
    /// demo address of `miner_label`.
    pub async fn start(pool_name: &str, miner_label: &str) -> MiningNode {
        use chiral_pool::core::payout::AddressNetwork;
        use chiral_pool::core::sharechain::CoinbaseRules;
        use chiral_pool::demo::demo_address;
        use chiral_pool::node::{NodeConfig, PoolNode, PoolSpec};
        let mut config = NodeConfig::new(Keypair::generate());
        config.chain_bits = Target::from_difficulty(1.0 / 8192.0)
            .expect("difficulty")
            .to_compact_lossy();
        config.share_difficulty = 1.0 / 65_536.0;
        config.share_interval_secs = 1.0;
        config.stratum = Some("127.0.0.1:0".parse().expect("addr"));
        let owner = PayoutId::new(demo_address("owner")).expect("an id");
        config.announce = Some(PoolSpec {
            link_spacing_secs: 1,
            coinbase: Some(CoinbaseRules::bitcoin(AddressNetwork::Bitcoin, owner)),
            ..PoolSpec::new(pool_name)
        });
        let node = PoolNode::start(config).await.expect("node");
        let events = node.watch.subscribe();
        MiningNode {
            node,
            miner_address: demo_address(miner_label),
            events,
            stop: chiral_pool::node::stop_flag(),
            mining: None,
        }
    }

    /// Starts the miner.
    pub fn mine(&mut self) {
        let miner_address = &self.miner_address;
        let (stratum, _) = self.node.stratum().expect("serving");
        let mut c = chiral_pool::stratum::client::ClientConfig::new(
            stratum.to_string(),
            format!("{miner_address}.rig1"),
        );
        c.suggest_difficulty = Some(1.0 / 65_536.0);
        let mining = tokio::spawn(chiral_pool::miner::run_cpu_miner(
            c,
            Arc::new(chiral_pool::miner::MinerStats::default()),
            self.stop.clone(),
        ));
        self.mining = Some(mining);
    }

    /// Waits (at most a minute) for an event `wanted` accepts; false if
    /// none came.
    pub async fn wait_for(
        &mut self,
        wanted: impl Fn(&chiral_pool::node::NodeEvent) -> bool,
    ) -> bool {
        use tokio::sync::broadcast::error::RecvError;
        let events = &mut self.events;
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                match events.recv().await {
                    Ok(event) if wanted(&event) => return true,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return false,
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Stops the miner and waits for it.
    pub async fn stop_miner(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(mining) = self.mining.take() {
            let _ = mining.await;
        }
    }
}

/// A node's API served on a free loopback port.
pub async fn serve_api(
    node: Arc<chiral_pool::node::PoolNode>,
    configure: impl FnOnce(&mut chiral_pool::api::ApiConfig),
) -> chiral_pool::api::ApiServer {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    chiral_pool::api::ApiServer::start(node, any, configure)
        .await
        .expect("serving the API")
}

/// Stops `server`; whether `serve` returned (Ok) within `limit`.
pub async fn stop_api(server: chiral_pool::api::ApiServer, limit: std::time::Duration) -> bool {
    matches!(tokio::time::timeout(limit, server.stop()).await, Ok(Ok(())))
}

/// Asserts a local pool run reported no problem and every node settled
/// at least `blocks` blocks.
pub fn assert_settled_everywhere(report: &chiral_pool::demo::LocalPoolReport, blocks: usize) {
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    for node in &report.nodes {
        assert!(
            node.blocks.len() >= blocks,
            "node {} settled {}",
            node.index,
            node.blocks.len()
        );
    }
}
