//! Starting a node: settings checked before anything starts, the DHT
//! node, then the pool's announcement, the journal's replay, the Stratum
//! server and the background tasks; on an error, what started is stopped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chiral_pool_core::chain::{SyntheticChain, Tip, WorkSource};
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::manager::{ManagerConfig, PoolManager};
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::pow::Target;
use chiral_pool_core::record::PoolParams;
use chiral_pool_core::sharechain::gossip::LinkGossip;
use chiral_pool_core::sharechain::ChainParams;
use chiral_pool_dht::{KadConfig, KadStore};
use chiral_stratum::server::{ServerConfig, StratumServer};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::warn;

use super::{
    links, lock, lookback_start, tasks, tips, JournalError, LinkKeeper, LinkOutlet, LinkStore,
    NodeConfig, NodeCounters, NodeError, PoolNode, PublishingSink, ShareJournal,
};

/// Own links that may wait for the share chain (they are rare: one per
/// link spacing for the whole pool).
const OWN_LINK_QUEUE: usize = 64;

/// What [`PoolNode::start`] prepared before the DHT node started.
struct Parts {
    /// The registry libp2p's metrics were registered in.
    metrics: prometheus_client::registry::Registry,
    config: NodeConfig,
    manager_config: ManagerConfig,
    chain_params: Option<ChainParams>,
    history: Vec<Tip>,
    chain: Arc<dyn WorkSource>,
    journal: Option<Arc<ShareJournal>>,
    link_store: Option<Arc<LinkStore>>,
}

/// What a restarted node gets back from its journal.
struct Replay {
    pruned: u64,
    shares: Vec<chiral_pool_core::share::Share>,
}

/// Prunes the journal of shares older than `since` and reads the rest, on
/// a blocking thread.
async fn replay_journal(journal: Arc<ShareJournal>, since: u32) -> Result<Replay, NodeError> {
    let replay = tokio::task::spawn_blocking(move || -> Result<Replay, JournalError> {
        Ok(Replay {
            pruned: journal.prune(since)?,
            shares: journal.shares_since(since)?,
        })
    });
    Ok(replay.await??)
}

impl PoolNode {
    /// Starts the DHT node, announces the pool and starts the Stratum
    /// server if configured, and the background work. Settings out of range
    /// are an error naming the field.
    pub async fn start(config: NodeConfig) -> Result<Arc<PoolNode>, NodeError> {
        if config.publish_queue == 0 {
            return Err(NodeError::Config {
                field: "publish_queue",
                reason: "must be above zero".into(),
            });
        }
        let manager_config = ManagerConfig {
            share_slot: config.share_slot,
            ..ManagerConfig::new()
        };
        manager_config.check()?;
        // Checked before anything starts: a bad setting is an error that
        // names it, not a half-started node.
        // The pool id is not known yet for a joining node; the settings'
        // ranges do not depend on it.
        if config.stratum.is_some() || config.announce.is_some() {
            server_config(&config, PoolId::from_bytes([0; 32]))?;
        }
        let chain_params = match &config.announce {
            Some(spec) => Some(spec.chain_params().map_err(|e| NodeError::Config {
                field: "announce",
                reason: e.to_string(),
            })?),
            None => None,
        };
        // The tips seen before a restart, oldest first: shares on them must
        // still verify.
        let history = match &config.data_dir {
            Some(dir) => tips::load(&dir.join(tips::FILE)),
            None => Vec::new(),
        };
        let chain = match config.chain.clone() {
            Some(chain) => chain,
            None => Arc::new(fresh_chain(&config, history.last())?),
        };
        let journal = match &config.data_dir {
            Some(dir) => Some(Arc::new(ShareJournal::open(&dir.join("journal.redb"))?)),
            None => None,
        };
        let link_store = match &config.data_dir {
            Some(dir) => Some(Arc::new(LinkStore::open(&dir.join("links.redb"))?)),
            None => None,
        };
        let mut kad = KadConfig::new()
            .with_keypair(config.keypair.clone())
            .with_clock(config.clock.clone())
            .with_bootstrap(config.bootstrap.clone());
        kad.listen = config.listen.clone();
        kad.data_dir = config.data_dir.as_ref().map(|d| d.join("dht"));
        let mut metrics = prometheus_client::registry::Registry::default();
        let kad = kad.with_metrics(&mut metrics);
        let store = KadStore::spawn(kad).await?;
        let parts = Parts {
            metrics,
            config,
            manager_config,
            chain_params,
            history,
            chain,
            journal,
            link_store,
        };
        match Self::assemble(parts, store.clone()).await {
            Ok(node) => Ok(node),
            Err(e) => {
                // Nothing half-started stays behind: the DHT node releases
                // its data directory before the error is returned.
                store.shutdown().await;
                Err(e)
            }
        }
    }

    /// Everything after the DHT node is up: the manager, the Stratum
    /// listener, the pool's announcement; then the pool is followed (and
    /// served) like any other.
    async fn assemble(parts: Parts, store: KadStore) -> Result<Arc<PoolNode>, NodeError> {
        let Parts {
            metrics,
            config,
            manager_config,
            chain_params,
            history,
            chain,
            journal,
            link_store,
        } = parts;
        let manager = Arc::new(PoolManager::new(
            config.keypair.clone(),
            store.clone(),
            config.clock.clone(),
            manager_config,
        )?);
        // An announcing node serves its pool's miners, on an address of
        // its choosing if none was given.
        let listen_at = match (config.stratum, &config.announce) {
            (Some(addr), _) => Some(addr),
            (None, Some(_)) => Some(std::net::SocketAddr::from((
                std::net::Ipv4Addr::LOCALHOST,
                0,
            ))),
            (None, None) => None,
        };
        let listener = match listen_at {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
            None => None,
        };
        let mut announced = None;
        if let (Some(spec), Some(params)) = (&config.announce, chain_params) {
            let url = match &listener {
                Some(l) => format!("stratum+tcp://{}", l.local_addr()?),
                None => String::new(),
            };
            let mut ann = PoolAnnouncement::new(config.keypair.public(), &spec.name, &url, 0, 0)
                .with_chain(params);
            ann.description = "a chiral-pool node on a synthetic chain".into();
            manager.announce_pool(ann.clone()).await?;
            announced = Some(ann);
        }
        let (stop, _) = watch::channel(false);
        let (stop_server, _) = watch::channel(false);
        let node = Arc::new(PoolNode {
            store,
            manager,
            chain,
            counters: Arc::new(NodeCounters::default()),
            watch: Arc::default(),
            metrics: Mutex::new(metrics),
            config,
            history,
            journal: Mutex::new(journal),
            writer: Mutex::new(None),
            link_store: Mutex::new(link_store),
            pool: Mutex::new(None),
            links: Mutex::new(None),
            own_links: Mutex::new(None),
            listener: Mutex::new(listener),
            stratum: Mutex::new(None),
            stop_server,
            server_task: Mutex::new(None),
            stop,
            tasks: Mutex::new(JoinSet::new()),
        });
        lock(&node.metrics)
            .sub_registry_with_prefix("chiral")
            .register_collector(Box::new(crate::metrics::NodeMetrics::new(&node)));
        if let Some(ann) = announced {
            node.follow(&ann).await?;
        }
        // Spawned once nothing can fail: a node that did not start leaves
        // no task holding it.
        lock(&node.tasks).spawn(tasks::sample(node.clone(), node.stop.subscribe()));
        Ok(node)
    }

    /// Starts the share chain of `ann`'s pool: restored from the saved
    /// links, joined to the pool's gossip topic, serving fetches.
    pub(super) async fn start_chain(
        self: &Arc<Self>,
        ann: &PoolAnnouncement,
    ) -> Result<Arc<LinkKeeper>, NodeError> {
        let store = lock(&self.link_store).clone();
        let identity = PoolParams {
            owner: ann.owner,
            name: ann.name.clone(),
            chain: ann.chain.clone(),
        };
        let keeper = LinkKeeper::new(
            identity,
            self.config.keypair.clone(),
            self.config.reward,
            self.chain.clone(),
            &self.history,
            self.store.clone(),
            store.clone(),
            self.config.clock.clone(),
            self.watch.clone(),
        )
        .map_err(|e| NodeError::Config {
            field: "pool",
            reason: e.to_string(),
        })?;
        if let Some(store) = store {
            let since = self
                .config
                .clock
                .now()
                .saturating_sub(2 * u64::from(ann.chain.max_window_secs));
            let since = u32::try_from(since).unwrap_or(u32::MAX);
            let saved = tokio::task::spawn_blocking(move || store.load(since)).await??;
            let restored = keeper.restore(saved);
            self.counters
                .links_restored
                .store(restored as u64, Ordering::Relaxed);
        }
        let weak = Arc::downgrade(&keeper);
        self.store
            .serve(Arc::new(move |id| weak.upgrade().and_then(|k| k.link(id))))
            .await?;
        let weak = Arc::downgrade(&keeper);
        self.store
            .admit_links(Arc::new(move |pool, link| {
                weak.upgrade().is_some_and(|k| k.admits(pool, link))
            }))
            .await?;
        let inbox = self.store.join(ann.id).await?;
        let (own, own_rx) = mpsc::channel(OWN_LINK_QUEUE);
        *lock(&self.own_links) = Some(own);
        *lock(&self.links) = Some(keeper.clone());
        lock(&self.tasks).spawn(links::run(
            keeper.clone(),
            inbox,
            own_rx,
            self.stop.subscribe(),
        ));
        Ok(keeper)
    }

    /// Serves the pool's miners on `listener`: the journal's replay, the
    /// Stratum server building on the share chain, the publisher.
    pub(super) async fn serve(
        self: &Arc<Self>,
        ann: &PoolAnnouncement,
        keeper: Arc<LinkKeeper>,
        listener: tokio::net::TcpListener,
    ) -> Result<(), NodeError> {
        let id = ann.id;
        let bound = listener.local_addr()?;
        let journal = self.journal();
        if let Some(j) = &journal {
            let replay = replay_journal(j.clone(), lookback_start(&self.config)).await?;
            self.counters
                .shares_pruned
                .store(replay.pruned, Ordering::Relaxed);
            self.counters
                .shares_replayed
                .store(replay.shares.len() as u64, Ordering::Relaxed);
            // Published again in the slots of their times (readers drop
            // duplicates by hash); what a failed put leaves stays queued
            // for its slot and goes out with the next flush.
            if let Err(e) = self.manager.publish_restored(&id, replay.shares).await {
                warn!(error = %e, "journaled shares not all published yet; queued");
            }
        }
        let writer = match &journal {
            Some(j) => Some(j.writer(self.config.publish_queue)?),
            None => None,
        };
        *lock(&self.writer) = writer.clone();
        let own = lock(&self.own_links).clone().ok_or(NodeError::Config {
            field: "pool",
            reason: "the share chain did not start".into(),
        })?;
        let (tx, rx) = mpsc::channel(self.config.publish_queue);
        let sink = PublishingSink::new(tx, writer).with_links(LinkOutlet {
            queue: own,
            params: ann.chain.clone(),
        });
        let mut server_settings = server_config(&self.config, id)?;
        // A pool that pays in the coinbase takes only addresses of its
        // network as usernames.
        server_settings.addresses = ann.chain.coinbase_rules().map(|r| r.network);
        let server = StratumServer::new(server_settings, self.chain.clone(), Arc::new(sink))?
            .with_share_chain(keeper.positions());
        *lock(&self.stratum) = Some((bound, server.stats()));
        let mut stopped = self.stop_server.subscribe();
        *lock(&self.server_task) = Some(tokio::spawn(async move {
            let _ = server
                .run(listener, async move {
                    let _ = stopped.changed().await;
                })
                .await;
        }));
        lock(&self.tasks).spawn(tasks::publish_shares(
            self.manager.clone(),
            id,
            rx,
            self.stop.subscribe(),
        ));
        Ok(())
    }
}

/// A fresh synthetic chain: the restarted node's last tip if it is on the
/// same target, else genesis.
fn fresh_chain(config: &NodeConfig, last: Option<&Tip>) -> Result<SyntheticChain, NodeError> {
    let chain = match last {
        Some(t) if t.bits == config.chain_bits => SyntheticChain::resume(*t),
        _ => SyntheticChain::new(config.chain_bits),
    };
    chain
        .map(|c| c.with_reward(config.reward))
        .map_err(|e| NodeError::Config {
            field: "chain_bits",
            reason: e.to_string(),
        })
}

/// The Stratum server's settings from the node's.
fn server_config(config: &NodeConfig, pool: PoolId) -> Result<ServerConfig, NodeError> {
    if Target::from_difficulty(config.share_difficulty).is_err() {
        return Err(NodeError::Config {
            field: "share_difficulty",
            reason: format!(
                "{} is not a finite number above zero",
                config.share_difficulty
            ),
        });
    }
    let mut server = ServerConfig::new(pool);
    server.initial_difficulty = config.share_difficulty;
    server.vardiff.target_interval_secs = config.share_interval_secs;
    // A sixteenth of the first difficulty, but never below the smallest
    // difficulty there is (one fixed-point unit).
    server.vardiff.min_difficulty = (config.share_difficulty / 16.0)
        .max(chiral_pool_core::pow::Difficulty::from_raw(1).as_f64());
    if let Some(max) = config.max_share_difficulty {
        server.vardiff.max_difficulty = max;
    }
    // Once a block is known, shares on the old tip are stale.
    server.max_tips = 1;
    server.check()?;
    Ok(server)
}
