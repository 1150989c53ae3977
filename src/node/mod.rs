//! A pool node: a Kademlia store with link gossip, a pool manager, the
//! pool's share chain, and optionally a Stratum server.
//!
//! One share's path through a serving node: the Stratum server verifies
//! and deduplicates it (once), the [`PublishingSink`] journals it and
//! queues it, the miner hears "accepted", and the publisher task hands it
//! to the manager with its verdict, which publishes it in a signed batch
//! (statistics: who mines how much). A share that also meets the chain
//! target is a link: the sink hands it to the [`LinkKeeper`] at once, it
//! joins the share chain and goes out on the pool's gossip topic. Blocks
//! are links; each is paid by the window of its parent, which every node
//! computes from the chain alone.

mod config;
mod events;
mod journal;
mod link_store;
mod links;
mod sink;
mod start;
mod tasks;
mod tips;

pub use config::{NodeConfig, NodeError, PoolSpec, DEFAULT_PUBLISH_QUEUE, DEFAULT_REWARD};
pub(crate) use events::ByWindow;
pub use events::{
    BlockEvent, HashrateSample, LinkEvent, MinerShares, NodeEvent, NodeWatch, SharesEvent,
    EVENT_QUEUE, HISTORY_SAMPLES, MAX_MINERS_PER_EVENT, SAMPLE_EVERY,
};
pub use journal::{GroupCommit, JournalEntry, JournalError, JournalWriter, ShareJournal};
pub use link_store::LinkStore;
pub use links::{ChainBlock, ChainStatus, LinkKeeper};
pub use sink::{Accepted, LinkOutlet, PublishingSink};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};

use chiral_pool_core::chain::{Tip, WorkSource};
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::manager::PoolManager;
use chiral_pool_core::pool::{PayoutScheme, PoolAnnouncement};
use chiral_pool_core::pow::Difficulty;
use chiral_pool_core::record::RecordKey;
use chiral_pool_core::share::ShareValidatorConfig;
use chiral_pool_core::store::RecordStore;
use chiral_pool_dht::KadStore;
use chiral_stratum::server::ServerStats;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::warn;

/// Live counters of a node.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Verified shares in the lookback at the last read (a gauge).
    pub shares_in_view: AtomicU64,
    /// Invalid shares in the lookback at the last read (a gauge).
    pub rejected_in_view: AtomicU64,
    /// Shares on tips this node does not know yet, at the last read (a
    /// gauge): read again once the tip is known.
    pub pending_in_view: AtomicU64,
    /// Journaled shares published again at start (accepted before a
    /// restart).
    pub shares_replayed: AtomicU64,
    /// Journaled shares pruned as older than the lookback, since start.
    pub shares_pruned: AtomicU64,
    /// Saved links the share chain was rebuilt from at start.
    pub links_restored: AtomicU64,
}

/// What one miner earned over the settled blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The payout id.
    pub payout: String,
    /// Atoms credited so far.
    pub credited: u128,
}

/// Every miner's earnings over the settled blocks, sorted by payout id,
/// and whether every block's split conserves its reward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    /// Every account.
    pub accounts: Vec<Balance>,
    /// Whether every settled block's parts add up to its reward.
    pub consistent: bool,
}

/// A running pool node.
pub struct PoolNode {
    /// The DHT handle.
    pub store: KadStore,
    /// The pool manager over the DHT.
    pub manager: Arc<PoolManager<KadStore>>,
    /// The chain this node follows.
    pub chain: Arc<dyn WorkSource>,
    /// Counters.
    pub counters: Arc<NodeCounters>,
    /// Events as they happen, and the recent hashrate history.
    pub watch: Arc<NodeWatch>,
    /// Prometheus metrics: the node's own (read live at each scrape) and
    /// libp2p's.
    metrics: Mutex<prometheus_client::registry::Registry>,
    config: NodeConfig,
    history: Vec<Tip>,
    /// Released (set to none) at shutdown, so the database closes.
    journal: Mutex<Option<Arc<ShareJournal>>>,
    /// The journal's writer, closed at shutdown once the server is gone.
    writer: Mutex<Option<JournalWriter>>,
    /// The links this node holds, kept across restarts.
    link_store: Mutex<Option<Arc<LinkStore>>>,
    pool: Mutex<Option<PoolId>>,
    links: Mutex<Option<Arc<LinkKeeper>>>,
    /// The share chain's queue of links this node's miners found.
    own_links: Mutex<Option<tokio::sync::mpsc::Sender<chiral_pool_core::sharechain::ProvenLink>>>,
    /// Bound at start when serving; the server starts once a pool is
    /// followed.
    listener: Mutex<Option<tokio::net::TcpListener>>,
    stratum: Mutex<Option<(SocketAddr, Arc<ServerStats>)>>,
    /// Stops the Stratum server (first, at shutdown).
    stop_server: watch::Sender<bool>,
    server_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Stops every other task.
    stop: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
}

/// How long shutdown waits for the journal's writer to finish its queue.
const WRITER_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The first header time (unix seconds) inside the lookback: older shares
/// no settlement reads. Past the year 2106 every u32 time is older, and the
/// saturated value says so.
pub(crate) fn lookback_start(config: &NodeConfig) -> u32 {
    let since = config.clock.now().saturating_sub(config.lookback.as_secs());
    u32::try_from(since).unwrap_or(u32::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment or a call that
    // leaves the value consistent: a panic elsewhere cannot half-do one.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PoolNode {
    /// Finds pool `id`: its owner's announcement if the directory lists it,
    /// else the parameters record any member republishes (a pool outlives
    /// its owner's announcement). `None` if neither is found.
    pub async fn find_pool(&self, id: &PoolId) -> Option<PoolAnnouncement> {
        if let Ok(pools) = self.manager.discover_pools().await {
            if let Some(p) = pools.into_iter().find(|p| p.announcement.id == *id) {
                return Some(p.announcement);
            }
        }
        let now = self.config.clock.now();
        let records = self.store.get(&RecordKey::params(id)).await.ok()?;
        records
            .iter()
            .filter_map(|r| r.params_payload().ok())
            .find(|p| p.id() == *id)
            .map(|p| p.announcement(now, now + 3_600))
    }

    /// Follows the pool `ann` announces: its share chain (links pushed by
    /// peers and fetched from them), its blocks and payouts; and serves its
    /// miners if this node was started with a Stratum address. Any member
    /// serves miners, not only the announcer. The scheme must be PPLNS,
    /// paid by the share chain. Following a second pool is refused;
    /// following the same one again does nothing.
    pub async fn follow(self: &Arc<Self>, ann: &PoolAnnouncement) -> Result<(), NodeError> {
        if !matches!(ann.scheme, PayoutScheme::Pplns { .. }) {
            return Err(NodeError::Config {
                field: "scheme",
                reason: format!("a node follows PPLNS pools only, not {:?}", ann.scheme),
            });
        }
        ann.validate().map_err(|e| NodeError::Config {
            field: "pool",
            reason: e.to_string(),
        })?;
        let pool = ann.id;
        {
            let mut current = lock(&self.pool);
            match *current {
                Some(p) if p == pool => return Ok(()),
                Some(p) => {
                    return Err(NodeError::Config {
                        field: "pool",
                        reason: format!("this node follows {p} already"),
                    })
                }
                None => *current = Some(pool),
            }
        }
        self.manager.track_pool(pool, follower_validator());
        let keeper = match self.start_chain(ann).await {
            Ok(keeper) => keeper,
            Err(e) => {
                // Not following after all: a later call may try again.
                *lock(&self.pool) = None;
                return Err(e);
            }
        };
        let listener = lock(&self.listener).take();
        if let Some(listener) = listener {
            self.serve(ann, keeper, listener).await?;
        }
        let mut tasks = lock(&self.tasks);
        tasks.spawn(tasks::follow_tips(self.clone(), self.stop.subscribe()));
        tasks.spawn(tasks::read_shares(
            self.clone(),
            pool,
            self.stop.subscribe(),
        ));
        tasks.spawn(tasks::republish(self.clone(), self.stop.subscribe()));
        Ok(())
    }

    /// Becomes true when the node starts shutting down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The pool this node serves or follows.
    pub fn pool(&self) -> Option<PoolId> {
        *lock(&self.pool)
    }

    /// Where miners connect, with the server's counters, if serving.
    pub fn stratum(&self) -> Option<(SocketAddr, Arc<ServerStats>)> {
        lock(&self.stratum).clone()
    }

    /// The share chain of the followed pool.
    pub fn links(&self) -> Option<Arc<LinkKeeper>> {
        lock(&self.links).clone()
    }

    /// The coinbase rules of the followed pool, if its blocks pay the
    /// window in the coinbase.
    pub fn coinbase_rules(&self) -> Option<chiral_pool_core::sharechain::CoinbaseRules> {
        self.links()
            .and_then(|k| k.params().coinbase_rules().cloned())
    }

    /// The share chain now (empty before a pool is followed).
    pub fn chain_status(&self) -> ChainStatus {
        self.links().map(|k| k.status()).unwrap_or_default()
    }

    /// Blocks settled so far, by height.
    pub fn blocks(&self) -> Vec<ChainBlock> {
        self.links().map(|k| k.blocks()).unwrap_or_default()
    }

    /// What each miner earned over the settled blocks.
    pub fn balances(&self) -> Balances {
        let blocks = self.blocks();
        let mut earned: std::collections::BTreeMap<String, u128> = Default::default();
        for block in &blocks {
            let s = &block.settlement;
            for (id, _) in &s.payouts {
                *earned.entry(id.to_string()).or_default() += u128::from(s.amount_for(id));
            }
            if let Some(finder) = &s.finder {
                if s.payouts.iter().all(|(id, _)| id != finder) {
                    *earned.entry(finder.to_string()).or_default() += u128::from(s.finder_bonus);
                }
            }
        }
        Balances {
            accounts: earned
                .into_iter()
                .map(|(payout, credited)| Balance { payout, credited })
                .collect(),
            consistent: blocks.iter().all(|b| b.settlement.is_conserved()),
        }
    }

    /// Stops the node and waits for what it stops, in the order that keeps
    /// every accepted share: the Stratum server first (its connections'
    /// last shares finish journaling and queueing), then the publisher
    /// (which publishes what is queued) and the other tasks, then the
    /// journal's writer, then the DHT node. Once it returns, the data
    /// directory's databases are closed (a new node may open them).
    pub async fn shutdown(&self) {
        let _ = self.stop_server.send(true);
        let server = lock(&self.server_task).take();
        if let Some(server) = server {
            let _ = server.await;
        }
        let _ = self.stop.send(true);
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        while tasks.join_next().await.is_some() {}
        // The server and its sink are gone: this handle is the writer's last.
        let writer = lock(&self.writer).take();
        if let Some(writer) = writer {
            if !writer.close(WRITER_CLOSE_LIMIT).await {
                warn!("the share journal's writer did not stop in time");
            }
        }
        lock(&self.journal).take();
        let keeper = lock(&self.links).take();
        if let Some(keeper) = keeper {
            keeper.close_store().await;
        }
        lock(&self.link_store).take();
        lock(&self.own_links).take();
        self.store.shutdown().await;
    }

    /// The node's metrics and libp2p's, in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &lock(&self.metrics)) {
            warn!(error = %e, "metrics not encoded");
        }
        out
    }

    /// The config the node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The share journal, until shutdown.
    pub(super) fn journal(&self) -> Option<Arc<ShareJournal>> {
        lock(&self.journal).clone()
    }
}

/// Validator settings of a node's view of a pool: payout windows span many
/// blocks, so many tips stay valid. It verifies what other publishers
/// publish (its duplicate memory is unused: reads drop duplicates by hash).
fn follower_validator() -> ShareValidatorConfig {
    ShareValidatorConfig {
        min_difficulty: Difficulty::from_raw(1),
        max_tips: tips::MAX_TIPS,
        ..ShareValidatorConfig::new()
    }
}

/// The miner (payout id) of a Stratum worker name: the part before the
/// first `.` (`address.rig1` is `address`'s worker `rig1`).
pub fn miner_of(worker: &str) -> &str {
    worker.split_once('.').map_or(worker, |(miner, _)| miner)
}

/// Accepted shares per miner, from the server's per-worker figures (one
/// pass under its lock; a miner's name is copied once, not per worker).
pub fn shares_by_miner(stats: &ServerStats) -> std::collections::BTreeMap<String, u64> {
    let mut out: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    stats.fold_workers((), |(), worker, w| {
        let miner = miner_of(worker);
        match out.get_mut(miner) {
            Some(n) => *n += w.shares,
            None => {
                out.insert(miner.to_owned(), w.shares);
            }
        }
    });
    out
}

/// Stops a flag-driven loop when set (for miners).
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
