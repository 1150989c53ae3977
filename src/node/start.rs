//! Starting a node: settings checked before anything starts, the DHT
//! node, then the pool's announcement, the journal's replay, the Stratum
//! server and the background tasks; on an error, what started is stopped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chiral_pool_core::chain::{SyntheticChain, Tip};
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::manager::{ManagerConfig, PoolManager};
use chiral_pool_core::pool::{PayoutScheme, PoolAnnouncement};
use chiral_pool_core::pow::Target;
use chiral_pool_dht::{KadConfig, KadStore};
use chiral_stratum::server::{ServerConfig, StratumServer};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::warn;

use super::{
    follower_validator, lookback_start, tasks, tips, JournalError, NodeConfig, NodeCounters,
    NodeError, PoolNode, PublishingSink, ShareJournal,
};

/// What [`PoolNode::start`] prepared before the DHT node started.
struct Parts {
    config: NodeConfig,
    manager_config: ManagerConfig,
    stratum_config: Option<ServerConfig>,
    history: Vec<Tip>,
    chain: Arc<SyntheticChain>,
    journal: Option<Arc<ShareJournal>>,
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
            lease_ttl: config.lease_ttl,
            ..ManagerConfig::new()
        };
        manager_config.check()?;
        // Checked before anything starts: a bad setting is an error that
        // names it, not a half-started node.
        let stratum_config = match &config.announce {
            Some(spec) => Some(server_config(
                &config,
                PoolId::derive(&config.keypair.public(), &spec.name),
            )?),
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
        let mut kad = KadConfig::new()
            .with_keypair(config.keypair.clone())
            .with_clock(config.clock.clone())
            .with_bootstrap(config.bootstrap.clone());
        kad.listen = config.listen.clone();
        kad.data_dir = config.data_dir.as_ref().map(|d| d.join("dht"));
        let store = KadStore::spawn(kad).await?;
        let parts = Parts {
            config,
            manager_config,
            stratum_config,
            history,
            chain,
            journal,
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

    /// Everything after the DHT node is up: the manager, the pool's
    /// announcement, the journal's replay, the Stratum server and the
    /// background tasks.
    async fn assemble(parts: Parts, store: KadStore) -> Result<Arc<PoolNode>, NodeError> {
        let Parts {
            config,
            manager_config,
            stratum_config,
            history,
            chain,
            journal,
        } = parts;
        let manager = Arc::new(PoolManager::new(
            config.keypair.clone(),
            store.clone(),
            config.clock.clone(),
            manager_config,
        )?);
        let (stop, _) = watch::channel(false);
        let (stop_server, _) = watch::channel(false);
        let counters = Arc::new(NodeCounters::default());
        let mut tasks = JoinSet::new();
        let mut stratum = None;
        let mut server_task = None;
        let mut pool = None;
        let mut writer = None;
        if let (Some(spec), Some(server_config)) = (&config.announce, stratum_config) {
            let id = server_config.pool_id;
            let addr = config
                .stratum
                .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            let mut ann = PoolAnnouncement::new(
                config.keypair.public(),
                &spec.name,
                &format!("stratum+tcp://{bound}"),
                0,
                0,
            );
            ann.fee = spec.fee;
            ann.scheme = PayoutScheme::Pplns {
                window: spec.window,
                normalize_by_network: true,
            };
            ann.description = "a chiral-pool node on a synthetic chain".into();
            manager.announce_pool(ann.clone()).await?;
            manager.track_pool(id, follower_validator());
            if let Some(j) = &journal {
                let replay = replay_journal(j.clone(), lookback_start(&config)).await?;
                counters
                    .shares_pruned
                    .store(replay.pruned, Ordering::Relaxed);
                counters
                    .shares_replayed
                    .store(replay.shares.len() as u64, Ordering::Relaxed);
                // Published again in the slots of their times (readers drop
                // duplicates by hash); what a failed put leaves stays
                // queued for its slot and goes out with the next flush.
                if let Err(e) = manager.publish_restored(&id, replay.shares).await {
                    warn!(error = %e, "journaled shares not all published yet; queued");
                }
            }
            writer = match &journal {
                Some(j) => Some(j.writer(config.publish_queue)?),
                None => None,
            };
            let (tx, rx) = mpsc::channel(config.publish_queue);
            let sink = PublishingSink::new(tx, writer.clone());
            let server = StratumServer::new(server_config, chain.clone(), Arc::new(sink))?;
            stratum = Some((bound, server.stats()));
            let mut stopped = stop_server.subscribe();
            server_task = Some(tokio::spawn(async move {
                let _ = server
                    .run(listener, async move {
                        let _ = stopped.changed().await;
                    })
                    .await;
            }));
            tasks.spawn(tasks::publish_shares(
                manager.clone(),
                id,
                rx,
                stop.subscribe(),
            ));
            pool = Some((id, ann.fee, ann.scheme));
        }
        let node = Arc::new(PoolNode {
            store,
            manager,
            chain,
            counters,
            config,
            history,
            journal: Mutex::new(journal),
            writer: Mutex::new(writer),
            pool: Mutex::new(None),
            accounting: Arc::new(Mutex::new(None)),
            stratum,
            stop_server,
            server_task: Mutex::new(server_task),
            stop,
            tasks: Mutex::new(tasks),
        });
        if let Some((id, fee, scheme)) = pool {
            node.follow(id, fee, &scheme).await?;
        }
        Ok(node)
    }
}

/// A fresh synthetic chain: the restarted node's last tip if it is on the
/// same target, else genesis.
fn fresh_chain(config: &NodeConfig, last: Option<&Tip>) -> Result<SyntheticChain, NodeError> {
    let chain = match last {
        Some(t) if t.bits == config.chain_bits => SyntheticChain::resume(*t),
        _ => SyntheticChain::new(config.chain_bits),
    };
    chain.map_err(|e| NodeError::Config {
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
    server.vardiff.min_difficulty = config.share_difficulty / 16.0;
    // Once a block is known, shares on the old tip are stale.
    server.max_tips = 1;
    server.check()?;
    Ok(server)
}
