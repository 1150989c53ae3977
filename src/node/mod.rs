//! A pool node: a Kademlia store, a pool manager, optionally a Stratum
//! server, and the accounting that turns verified shares into payouts.
//!
//! One share's path through a serving node: the Stratum server verifies
//! and deduplicates it (once), the [`PublishingSink`] journals it and
//! queues it, the miner hears "accepted", and the publisher task hands it
//! to the manager with its verdict, which publishes it in a signed batch.
//! The settle loop reads every publisher's batches of the lookback back
//! (a batch is verified once per node) and settles blocks.

mod config;
mod journal;
mod sink;
mod start;
mod tasks;
mod tips;

pub use config::{NodeConfig, NodeError, PoolSpec, DEFAULT_PUBLISH_QUEUE};
pub use journal::{GroupCommit, JournalEntry, JournalError, JournalWriter, ShareJournal};
pub use sink::{Accepted, PublishingSink};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};

use chiral_pool_core::chain::{SyntheticChain, Tip};
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::manager::PoolManager;
use chiral_pool_core::payout::{
    Accounting, AccountingConfig, BlockPayout, PplnsConfig, RewardCuts,
};
use chiral_pool_core::pool::{FeeBps, PayoutScheme};
use chiral_pool_core::pow::Difficulty;
use chiral_pool_core::share::ShareValidatorConfig;
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
}

/// One ledger account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The payout id.
    pub payout: String,
    /// Atoms credited so far.
    pub credited: u128,
}

/// The ledger's accounts, sorted by payout id, and whether its invariants
/// hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    /// Every account.
    pub accounts: Vec<Balance>,
    /// Whether the ledger's totals add up.
    pub consistent: bool,
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
    history: Vec<Tip>,
    /// Released (set to none) at shutdown, so the database closes.
    journal: Mutex<Option<Arc<ShareJournal>>>,
    /// The journal's writer, closed at shutdown once the server is gone.
    writer: Mutex<Option<JournalWriter>>,
    pool: Mutex<Option<PoolId>>,
    accounting: Arc<Mutex<Option<Accounting>>>,
    stratum: Option<(SocketAddr, Arc<ServerStats>)>,
    /// Stops the Stratum server (first, at shutdown).
    stop_server: watch::Sender<bool>,
    server_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Stops every other task.
    stop: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
}

/// Seconds a block must have been seen before a node settles it: time for
/// the shares accepted just before it to be published and read.
const SETTLE_GRACE_SECS: u64 = 3;

/// Smallest ledger balance paid out: every balance (the ledger here is an
/// account of who earned what, not a wallet).
const MIN_PAYOUT: u64 = 0;

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
    /// Starts verifying and settling the shares of `pool`, paid as
    /// announced: `fee` and `scheme`, which must be PPLNS (the schemes
    /// whose payouts every node can compute from the shares alone).
    /// Following a second pool is refused; following the same one again
    /// does nothing.
    pub async fn follow(
        self: &Arc<Self>,
        pool: PoolId,
        fee: FeeBps,
        scheme: &PayoutScheme,
    ) -> Result<(), NodeError> {
        let PayoutScheme::Pplns {
            window,
            normalize_by_network,
        } = *scheme
        else {
            return Err(NodeError::Config {
                field: "scheme",
                reason: format!("a node settles PPLNS pools only, not {scheme:?}"),
            });
        };
        match self.pool() {
            Some(current) if current == pool => return Ok(()),
            Some(current) => {
                return Err(NodeError::Config {
                    field: "pool",
                    reason: format!("this node follows {current} already"),
                })
            }
            None => {}
        }
        let mut accounting = Accounting::new(AccountingConfig {
            pplns: PplnsConfig {
                window,
                normalize_by_network,
            },
            network: Difficulty::from_target(&self.chain.network_target()),
            reward: self.config.reward,
            cuts: RewardCuts::fee_only(fee),
            min_payout: MIN_PAYOUT,
            grace_secs: SETTLE_GRACE_SECS,
        });
        // Blocks settled before a restart keep their payouts in the ledger.
        if let Some(j) = self.journal() {
            let saved = tokio::task::spawn_blocking(move || j.blocks()).await??;
            accounting.restore(saved);
        }
        {
            let mut current = lock(&self.pool);
            if current.is_some() {
                // Another call won the race; it started the tasks.
                return Ok(());
            }
            *current = Some(pool);
        }
        self.manager.track_pool(pool, follower_validator());
        *lock(&self.accounting) = Some(accounting);
        let mut tasks = lock(&self.tasks);
        tasks.spawn(tasks::follow_tips(self.clone(), self.stop.subscribe()));
        tasks.spawn(tasks::settle_loop(
            self.clone(),
            pool,
            self.stop.subscribe(),
        ));
        tasks.spawn(tasks::coordinate(self.clone(), pool, self.stop.subscribe()));
        Ok(())
    }

    /// The pool this node serves or follows.
    pub fn pool(&self) -> Option<PoolId> {
        *lock(&self.pool)
    }

    /// Where miners connect, with the server's counters, if serving.
    pub fn stratum(&self) -> Option<(SocketAddr, Arc<ServerStats>)> {
        self.stratum.clone()
    }

    /// Settled blocks so far.
    pub fn blocks(&self) -> Vec<BlockPayout> {
        lock(&self.accounting)
            .as_ref()
            .map(|a| a.blocks().to_vec())
            .unwrap_or_default()
    }

    /// The ledger's balances and whether its invariants hold.
    pub fn balances(&self) -> Balances {
        match lock(&self.accounting).as_ref() {
            Some(a) => Balances {
                accounts: a
                    .ledger()
                    .accounts()
                    .map(|(id, acc)| Balance {
                        payout: id.to_string(),
                        credited: acc.credited,
                    })
                    .collect(),
                consistent: a.ledger().check(),
            },
            None => Balances {
                accounts: Vec::new(),
                consistent: true,
            },
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
        self.store.shutdown().await;
    }

    /// The share journal, until shutdown.
    fn journal(&self) -> Option<Arc<ShareJournal>> {
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

/// Stops a flag-driven loop when set (for miners).
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
