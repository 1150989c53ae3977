//! A pool node: a Kademlia store, a pool manager, optionally a Stratum
//! server, and the accounting that turns verified shares into payouts.

mod accounting;
mod journal;
mod tips;

pub use accounting::{Accounting, AccountingConfig, BlockPayout};
pub use journal::{JournalError, JournalWriter, ShareJournal};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::manager::{ManagerConfig, ManagerError, PoolManager};
use chiral_pool_core::pool::{FeeBps, PayoutScheme, PoolAnnouncement};
use chiral_pool_core::pow::Difficulty;
use chiral_pool_core::share::{Share, ShareValidatorConfig, VerifiedShare};
use chiral_pool_core::store::{SharedClock, SystemClock};
use chiral_pool_dht::kad::Multiaddr;
use chiral_pool_dht::{KadConfig, KadError, KadStore};
use chiral_stratum::server::{Durable, ServerConfig, ServerStats, ShareSink, StratumServer};
use chiral_stratum::work::{SyntheticChain, WorkSource};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// Accepted shares that may wait for the journal's next commit.
const JOURNAL_QUEUE: usize = 65_536;

/// What a pool node announces.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// Pool name (the id is derived from it and the node's key).
    pub name: String,
    /// Fee in basis points.
    pub fee_bps: u16,
    /// PPLNS window in basis points of the network difficulty.
    pub window_bps: u32,
}

/// Settings of a [`PoolNode`].
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's key (peer id and signing key).
    pub keypair: Keypair,
    /// Kademlia listen address.
    pub listen: Multiaddr,
    /// Kademlia bootstrap peers.
    pub bootstrap: Vec<Multiaddr>,
    /// Serve miners on this address (port 0 picks one).
    pub stratum: Option<SocketAddr>,
    /// Announce a pool (needed to serve miners).
    pub announce: Option<PoolSpec>,
    /// Work source shared by the nodes of one process; a fresh synthetic
    /// chain if none.
    pub chain: Option<Arc<SyntheticChain>>,
    /// Network target of a fresh synthetic chain, compact.
    pub chain_bits: u32,
    /// First share difficulty of miners.
    pub share_difficulty: f64,
    /// Vardiff's wanted seconds between shares.
    pub share_interval_secs: f64,
    /// Block reward, atoms.
    pub reward: u64,
    /// Width of share slots (batch publication granularity).
    pub share_slot: Duration,
    /// How far back share history is read for payouts.
    pub lookback: Duration,
    /// How often shares are fetched and blocks settled.
    pub poll_interval: Duration,
    /// Lease period of the coordinator.
    pub lease_ttl: Duration,
    /// Wall clock.
    pub clock: SharedClock,
    /// Directory for durable state: the DHT's records (`dht/`) and the
    /// journal of accepted shares (`journal.redb`). Default: none.
    pub data_dir: Option<std::path::PathBuf>,
}

impl NodeConfig {
    /// A single-node pool on a synthetic chain at a CPU-friendly difficulty.
    pub fn new(keypair: Keypair) -> Self {
        NodeConfig {
            keypair,
            listen: "/ip4/127.0.0.1/tcp/0"
                .parse()
                .unwrap_or_else(|_| Multiaddr::empty()),
            bootstrap: Vec::new(),
            stratum: None,
            announce: None,
            chain: None,
            // Difficulty 1/256: a few seconds of a CPU core per block.
            chain_bits: 0x1f00_ffff,
            share_difficulty: 1.0 / 65_536.0,
            share_interval_secs: 2.0,
            reward: 5_000_000_000,
            share_slot: Duration::from_secs(5),
            lookback: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(15),
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
    /// The share journal could not be opened.
    #[error("journal: {0}")]
    Journal(String),
    /// The Stratum listener could not be bound.
    #[error("stratum listener: {0}")]
    Stratum(#[from] std::io::Error),
}

/// Live counters of a node.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Shares this node verified from the network (last fetch).
    pub shares_verified: AtomicU64,
    /// Shares dropped as invalid while fetching.
    pub shares_rejected: AtomicU64,
    /// Accepted Stratum shares that could not be queued for publication.
    pub shares_dropped: AtomicU64,
}

struct Sink {
    queue: mpsc::Sender<Share>,
    counters: Arc<NodeCounters>,
    journal: Option<JournalWriter>,
}

impl ShareSink for Sink {
    fn accepted(&self, share: &Share, verified: &VerifiedShare) -> Durable {
        if self.queue.try_send(share.clone()).is_err() {
            self.counters.shares_dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Persist before the miner hears "accepted": a crash after the
        // reply cannot lose the share.
        match &self.journal {
            Some(j) => Durable::after(j.append(verified.hash, share)),
            None => Durable::now(),
        }
    }
}

/// A running pool node.
pub struct PoolNode {
    /// The DHT handle.
    pub store: KadStore,
    /// The pool manager over the DHT.
    pub manager: Arc<PoolManager<KadStore>>,
    /// The chain this node follows.
    pub chain: Arc<SyntheticChain>,
    /// Counters.
    pub counters: Arc<NodeCounters>,
    config: NodeConfig,
    history: Vec<chiral_stratum::work::Tip>,
    journal: Option<Arc<ShareJournal>>,
    pool: Mutex<Option<PoolId>>,
    accounting: Arc<Mutex<Option<Accounting>>>,
    stratum: Option<(SocketAddr, Arc<ServerStats>)>,
    stop: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
}

impl PoolNode {
    /// Starts the DHT node, announces the pool and starts the Stratum
    /// server if configured, and the background work.
    pub async fn start(config: NodeConfig) -> Result<Arc<PoolNode>, NodeError> {
        let mut kad = KadConfig::new()
            .with_keypair(config.keypair.clone())
            .with_clock(config.clock.clone())
            .with_bootstrap(config.bootstrap.clone());
        kad.listen = config.listen.clone();
        kad.data_dir = config.data_dir.as_ref().map(|d| d.join("dht"));
        let journal = match &config.data_dir {
            Some(dir) => Some(Arc::new(
                ShareJournal::open(&dir.join("journal.redb"))
                    .map_err(|e| NodeError::Journal(e.to_string()))?,
            )),
            None => None,
        };
        let store = KadStore::spawn(kad).await?;
        let manager_config = ManagerConfig {
            share_slot: config.share_slot,
            lease_ttl: config.lease_ttl,
            ..ManagerConfig::new()
        };
        let manager = Arc::new(PoolManager::new(
            config.keypair.clone(),
            store.clone(),
            config.clock.clone(),
            manager_config,
        )?);
        // The tips seen before a restart, oldest first: shares on them must
        // still verify.
        let history = match &config.data_dir {
            Some(dir) => tips::load(&dir.join(tips::FILE)),
            None => Vec::new(),
        };
        let chain = config.chain.clone().unwrap_or_else(|| {
            Arc::new(match history.last() {
                Some(t) if t.bits == config.chain_bits => SyntheticChain::resume(*t),
                _ => SyntheticChain::new(config.chain_bits),
            })
        });
        let (stop, _) = watch::channel(false);
        let counters = Arc::new(NodeCounters::default());
        let mut tasks = JoinSet::new();
        let mut stratum = None;
        let mut pool = None;
        if let Some(spec) = &config.announce {
            let id = PoolId::derive(&config.keypair.public(), &spec.name);
            let addr = match config.stratum {
                Some(a) => a,
                None => "127.0.0.1:0"
                    .parse()
                    .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
            };
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            let mut ann = PoolAnnouncement::new(
                config.keypair.public(),
                &spec.name,
                &format!("stratum+tcp://{bound}"),
                0,
                0,
            );
            ann.fee = FeeBps::new(spec.fee_bps).map_err(|e| NodeError::Manager(e.into()))?;
            ann.scheme = PayoutScheme::Pplns {
                window_bps: spec.window_bps,
                normalize_by_network: true,
            };
            ann.description = "a chiral-pool node on a synthetic chain".into();
            manager.announce_pool(ann).await?;

            let mut server_config = ServerConfig::new(id);
            server_config.initial_difficulty = config.share_difficulty;
            server_config.vardiff.target_interval_secs = config.share_interval_secs;
            server_config.vardiff.min_difficulty = config.share_difficulty / 16.0;
            server_config.validator = ShareValidatorConfig {
                min_difficulty: Difficulty::from_raw(
                    (config.share_difficulty / 16.0 * 4_294_967_296.0) as u128,
                ),
                // Once a block is known, shares on the old tip are stale.
                max_tips: 1,
                ..ShareValidatorConfig::new()
            };
            let (tx, rx) = mpsc::channel(65_536);
            // Shares accepted before a crash are published again (readers
            // drop duplicates by hash).
            if let Some(j) = &journal {
                let tip = *chain.tip().borrow();
                manager.track_pool(id, replay_validator());
                for t in &history {
                    manager.add_tip(t.prev_hash, t.bits)?;
                }
                manager.add_tip(tip.prev_hash, tip.bits)?;
                for share in j.shares().map_err(|e| NodeError::Journal(e.to_string()))? {
                    let _ = manager.submit_share(share).await;
                }
                manager.flush_shares(&id).await?;
            }
            let writer = match &journal {
                Some(j) => Some(
                    j.writer(JOURNAL_QUEUE)
                        .map_err(|e| NodeError::Journal(e.to_string()))?,
                ),
                None => None,
            };
            let sink = Sink {
                queue: tx,
                counters: counters.clone(),
                journal: writer,
            };
            let server = StratumServer::new(server_config, chain.clone(), Arc::new(sink));
            stratum = Some((bound, server.stats()));
            let mut stopped = stop.subscribe();
            tasks.spawn(async move {
                let _ = server
                    .run(listener, async move {
                        let _ = stopped.changed().await;
                    })
                    .await;
            });
            tasks.spawn(publish_shares(manager.clone(), id, rx, stop.subscribe()));
            pool = Some(id);
        }
        let node = Arc::new(PoolNode {
            store,
            manager,
            chain,
            counters,
            config,
            history,
            journal: journal.clone(),
            pool: Mutex::new(None),
            accounting: Arc::new(Mutex::new(None)),
            stratum,
            stop,
            tasks: Mutex::new(tasks),
        });
        if let Some(id) = pool {
            node.follow(
                id,
                node.config.announce.as_ref().map_or(0, |s| s.fee_bps),
                node.config
                    .announce
                    .as_ref()
                    .map_or(20_000, |s| s.window_bps),
            )?;
        }
        Ok(node)
    }

    fn lock_tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts verifying and settling the shares of `pool` (fee and window
    /// as announced).
    pub fn follow(
        self: &Arc<Self>,
        pool: PoolId,
        fee_bps: u16,
        window_bps: u32,
    ) -> Result<(), NodeError> {
        {
            let mut current = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            if current.is_some() {
                return Ok(());
            }
            *current = Some(pool);
        }
        self.manager.track_pool(pool, replay_validator());
        let bits = self.chain.tip().borrow().bits;
        let network = chiral_pool_core::pow::Target::from_compact(bits)
            .map(|t| Difficulty::from_target(&t))
            .unwrap_or(Difficulty::ONE);
        let fee = FeeBps::new(fee_bps).map_err(|e| NodeError::Manager(e.into()))?;
        *self.accounting.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Accounting::new(AccountingConfig {
                pplns: chiral_pool_core::payout::PplnsConfig {
                    window_bps,
                    normalize_by_network: true,
                },
                network,
                reward: self.config.reward,
                cuts: chiral_pool_core::payout::RewardCuts::fee_only(fee),
                min_payout: 0,
                grace_secs: 3,
            }));
        // Blocks settled before a restart keep their payouts in the ledger.
        if let Some(j) = &self.journal {
            let saved = j.blocks().map_err(|e| NodeError::Journal(e.to_string()))?;
            if let Some(a) = self
                .accounting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                a.restore(saved);
            }
        }
        let mut tasks = self.lock_tasks();
        tasks.spawn(follow_tips(self.clone(), self.stop.subscribe()));
        tasks.spawn(settle_loop(self.clone(), pool, self.stop.subscribe()));
        tasks.spawn(coordinate(self.clone(), pool, self.stop.subscribe()));
        Ok(())
    }

    /// The pool this node serves or follows.
    pub fn pool(&self) -> Option<PoolId> {
        *self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where miners connect, with the server's counters, if serving.
    pub fn stratum(&self) -> Option<(SocketAddr, Arc<ServerStats>)> {
        self.stratum.clone()
    }

    /// Settled blocks so far.
    pub fn blocks(&self) -> Vec<BlockPayout> {
        self.accounting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|a| a.blocks().to_vec())
            .unwrap_or_default()
    }

    /// Ledger balances (payout id, credited atoms), sorted, and whether the
    /// ledger's invariants hold.
    pub fn balances(&self) -> (Vec<(String, u128)>, bool) {
        let guard = self.accounting.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(a) => (
                a.ledger()
                    .accounts()
                    .map(|(id, acc)| (id.to_string(), acc.credited))
                    .collect(),
                a.ledger().check(),
            ),
            None => (Vec::new(), true),
        }
    }

    /// Stops every background task and the DHT node.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let mut tasks = std::mem::take(&mut *self.lock_tasks());
        while tasks.join_next().await.is_some() {}
        self.store.shutdown().await;
    }
}

async fn publish_shares(
    manager: Arc<PoolManager<KadStore>>,
    pool: PoolId,
    mut shares: mpsc::Receiver<Share>,
    mut stop: watch::Receiver<bool>,
) {
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            share = shares.recv() => {
                let Some(share) = share else { break };
                match manager.submit_share(share).await {
                    Ok(v) if v.is_block => {
                        if let Err(e) = manager.flush_shares(&pool).await {
                            warn!(error = %e, "publishing shares failed");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => debug!(error = %e, "share not republished"),
                }
            }
            _ = flush.tick() => {
                if let Err(e) = manager.flush_shares(&pool).await {
                    warn!(error = %e, "publishing shares failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
    let _ = manager.flush_shares(&pool).await;
}

impl PoolNode {
    /// Tells the accounting (if a pool is followed) about a new tip.
    fn accounting_on_tip(&self, prev_hash: [u8; 32]) {
        if let Some(a) = self
            .accounting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            a.on_tip(prev_hash);
        }
    }
}

async fn follow_tips(node: Arc<PoolNode>, mut stop: watch::Receiver<bool>) {
    for t in &node.history {
        let _ = node.manager.add_tip(t.prev_hash, t.bits);
        node.accounting_on_tip(t.prev_hash);
    }
    let file = node.config.data_dir.as_ref().map(|d| d.join(tips::FILE));
    let mut tips = node.chain.tip();
    loop {
        let tip = *tips.borrow_and_update();
        if let Some(f) = &file {
            if let Err(e) = tips::append(f, &tip) {
                warn!(error = %e, "tip not persisted");
            }
        }
        if let Err(e) = node.manager.add_tip(tip.prev_hash, tip.bits) {
            warn!(error = %e, "invalid tip");
        }
        node.accounting_on_tip(tip.prev_hash);
        tokio::select! {
            changed = tips.changed() => if changed.is_err() { break },
            _ = stop.changed() => break,
        }
    }
}

async fn settle_loop(node: Arc<PoolNode>, pool: PoolId, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(node.config.poll_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = node.config.clock.now();
        let from = now.saturating_sub(node.config.lookback.as_secs());
        match node
            .manager
            .get_shares_for_pool(&pool, from, now + 60)
            .await
        {
            Ok(page) => {
                node.counters
                    .shares_verified
                    .store(page.shares.len() as u64, Ordering::Relaxed);
                node.counters
                    .shares_rejected
                    .fetch_add(page.rejected as u64, Ordering::Relaxed);
                if let Some(a) = node
                    .accounting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_mut()
                {
                    for block in a.settle(&page, now) {
                        if let Some(j) = &node.journal {
                            if let Err(e) = j.save_block(&block) {
                                warn!(error = %e, "settled block not saved");
                            }
                        }
                    }
                }
            }
            Err(e) => debug!(error = %e, "fetching shares failed"),
        }
    }
}

async fn coordinate(node: Arc<PoolNode>, pool: PoolId, mut stop: watch::Receiver<bool>) {
    let period = (node.config.lease_ttl / 3).max(Duration::from_millis(200));
    let mut tick = tokio::time::interval(period);
    let mut republish = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = node.manager.tick_coordinator(&pool).await {
                    debug!(error = %e, "coordinator tick failed");
                }
            }
            _ = republish.tick() => {
                if let Err(e) = node.manager.republish().await {
                    debug!(error = %e, "republish failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// Validator settings of a node's view of a pool: payout windows span many
/// blocks, so many tips stay valid.
fn replay_validator() -> ShareValidatorConfig {
    ShareValidatorConfig {
        min_difficulty: Difficulty::from_raw(1),
        max_tips: 256,
        max_shares_per_tip: 1 << 16,
    }
}

/// Stops a flag-driven loop when set (for miners).
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
