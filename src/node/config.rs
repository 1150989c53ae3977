//! What a [`PoolNode`](super::PoolNode) is told: its settings and errors.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chiral_pool_core::chain::WorkSource;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::manager::ManagerError;
use chiral_pool_core::payout::WindowBps;
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::pow::CompactTarget;
use chiral_pool_core::sharechain::gossip::GossipError;
use chiral_pool_core::sharechain::{ChainParams, CoinbaseRules, ParamsError, PayoutMode};
use chiral_pool_core::store::{SharedClock, SystemClock};
use chiral_pool_dht::kad::Multiaddr;
use chiral_pool_dht::KadError;
use libp2p::multiaddr::Protocol;

use super::journal::JournalError;

/// Accepted shares that may wait for publication; past it the Stratum
/// replies wait (backpressure), they are never dropped.
pub const DEFAULT_PUBLISH_QUEUE: usize = 65_536;

/// The block reward of a fresh synthetic chain, atoms (50 coins of 10^8).
pub const DEFAULT_REWARD: u64 = 5_000_000_000;

/// What a pool node announces.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// Pool name (the id is derived from it, the node's key and the chain
    /// rules).
    pub name: String,
    /// Pool fee.
    pub fee: FeeBps,
    /// PPLNS window.
    pub window: WindowBps,
    /// Seconds between links the share chain aims for. Default (in
    /// [`PoolSpec::new`]): 10.
    pub link_spacing_secs: u32,
    /// Pay the window in each block's coinbase under these rules (the fee
    /// to their owner's address; miners' usernames must be addresses of
    /// their network). `None` (default): a ledger pool, whose blocks pay
    /// one script and whose node keeps who is owed what.
    pub coinbase: Option<CoinbaseRules>,
}

impl PoolSpec {
    /// A pool `name` with no fee, the default window and 10 s links.
    pub fn new(name: impl Into<String>) -> Self {
        PoolSpec {
            name: name.into(),
            fee: FeeBps::ZERO,
            window: WindowBps::DEFAULT,
            link_spacing_secs: 10,
            coinbase: None,
        }
    }

    /// The share chain rules of the pool: the defaults with this spec's
    /// fee, window and link spacing; out-of-range values are an error
    /// naming the field.
    pub fn chain_params(&self) -> Result<ChainParams, ParamsError> {
        let mut params = ChainParams::new();
        params.fee = self.fee;
        params.window = self.window;
        params.target_spacing_secs = self.link_spacing_secs;
        params.payouts = match &self.coinbase {
            Some(rules) => PayoutMode::Coinbase(rules.clone()),
            None => PayoutMode::Ledger,
        };
        params.check()?;
        Ok(params)
    }
}

/// Settings of a [`PoolNode`](super::PoolNode).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's key (peer id and signing key).
    pub keypair: Keypair,
    /// Kademlia listen address. Default: `/ip4/127.0.0.1/tcp/0`.
    pub listen: Multiaddr,
    /// Kademlia bootstrap peers. Default: none.
    pub bootstrap: Vec<Multiaddr>,
    /// Serve miners on this address (port 0 picks one). Default: none.
    pub stratum: Option<SocketAddr>,
    /// Announce a pool (needed to serve miners). Default: none.
    pub announce: Option<PoolSpec>,
    /// Work source shared by the nodes of one process; a fresh synthetic
    /// chain if none. Default: none.
    pub chain: Option<Arc<dyn WorkSource>>,
    /// Network target of a fresh synthetic chain, compact. Default:
    /// `0x1f00ffff` (difficulty 1/256: a few seconds of a CPU core).
    pub chain_bits: CompactTarget,
    /// First share difficulty of miners; a sixteenth of it is the easiest
    /// share accepted. Default: 1/65,536.
    pub share_difficulty: f64,
    /// Vardiff's wanted seconds between shares. Default: 2.
    pub share_interval_secs: f64,
    /// Highest share difficulty vardiff may set. Default: none (the
    /// Stratum server's own ceiling).
    pub max_share_difficulty: Option<f64>,
    /// Block reward of a fresh synthetic chain, atoms (each block's
    /// coinbase pays it; the share chain splits what a block's coinbase
    /// holds). Default: 5,000,000,000.
    pub reward: u64,
    /// Width of share slots (batch publication granularity). Default: 5 s.
    pub share_slot: Duration,
    /// How far back share history is read for payouts; older journaled
    /// shares are pruned. Default: 120 s.
    pub lookback: Duration,
    /// How often shares are fetched and blocks settled. Default: 1 s.
    pub poll_interval: Duration,
    /// Accepted shares that may wait for publication. Default:
    /// [`DEFAULT_PUBLISH_QUEUE`].
    pub publish_queue: usize,
    /// Wall clock. Default: the system clock.
    pub clock: SharedClock,
    /// Directory for durable state: the DHT's records (`dht/`), the
    /// journal of accepted shares (`journal.redb`), the share chain's links
    /// (`links.redb`) and the chain tips seen (`chain.tips`). Default:
    /// none.
    pub data_dir: Option<std::path::PathBuf>,
}

impl NodeConfig {
    /// A single-node pool on a synthetic chain at a CPU-friendly difficulty.
    pub fn new(keypair: Keypair) -> Self {
        NodeConfig {
            keypair,
            listen: Multiaddr::from(Ipv4Addr::LOCALHOST).with(Protocol::Tcp(0)),
            bootstrap: Vec::new(),
            stratum: None,
            announce: None,
            chain: None,
            chain_bits: CompactTarget::from_consensus(0x1f00_ffff),
            share_difficulty: 1.0 / 65_536.0,
            share_interval_secs: 2.0,
            max_share_difficulty: None,
            reward: DEFAULT_REWARD,
            share_slot: Duration::from_secs(5),
            lookback: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            publish_queue: DEFAULT_PUBLISH_QUEUE,
            clock: Arc::new(SystemClock),
            data_dir: None,
        }
    }
}

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The Kademlia node did not start.
    #[error("dht: {0}")]
    Kad(#[from] KadError),
    /// A pool operation failed.
    #[error("pool: {0}")]
    Manager(#[from] ManagerError),
    /// The share journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The Stratum listener could not be bound.
    #[error("stratum listener: {0}")]
    Stratum(#[from] std::io::Error),
    /// The Stratum server's settings are out of range.
    #[error("stratum: {0}")]
    StratumConfig(#[from] chiral_stratum::server::ConfigError),
    /// A blocking task of the node (journal reads) failed.
    #[error("node task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Link gossip failed (joining the pool's topic).
    #[error("link gossip: {0}")]
    Gossip(#[from] GossipError),
    /// A [`NodeConfig`] field is out of range.
    #[error("node config: {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
