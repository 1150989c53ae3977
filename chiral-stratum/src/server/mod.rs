//! The Stratum V1 server: `run(listener, shutdown)`, one task per
//! connection, a semaphore capping connections, a broadcast telling
//! connections to stop, and a wait for them before returning.

mod config;
mod extranonce;
mod session;
mod sink;
mod stats;

pub use config::{ConfigError, ServerConfig, MAX_EXTRANONCE2_SIZE, MIN_EXTRANONCE2_SIZE};
pub(crate) use session::{AwaitingReply, Session};
pub use sink::{AllowAll, Authorizer, DiscardShares, Durable, ShareSink, SinkError};
pub use stats::{Hashrate, RejectReason, ServerStats, WorkerStats, HASHRATE_WINDOWS_SECS};

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use chiral_pool_core::chain::WorkSource;
use chiral_pool_core::payout::CoinbasePlan;
use chiral_pool_core::pow::CompactTarget;
use chiral_pool_core::share::{Share, ShareError, ShareValidator, VerifiedShare};
use chiral_pool_core::sharechain::{ChainParams, JobPosition};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use extranonce::Extranonces;

/// State shared by all connections.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub work: Arc<dyn WorkSource>,
    pub sink: Arc<dyn ShareSink>,
    pub authorizer: Arc<dyn Authorizer>,
    pub stats: Arc<ServerStats>,
    /// Where jobs build on the pool's share chain (parent, uncles, chain
    /// target), read at each job.
    pub position: Mutex<watch::Receiver<JobPosition>>,
    /// Verifies shares: a validator holding the current tips but no
    /// dedupe memory, replaced whole on each new tip, so the hashing of a
    /// submit runs outside every lock (a connection task preempted while
    /// hashing under a lock would stall the others).
    verifier: RwLock<Arc<ShareValidator>>,
    /// Remembers accepted shares for duplicate detection; `verifier` is
    /// its copy without that memory.
    dedupe: Mutex<ShareValidator>,
    pub extranonces: Extranonces,
    bans: Mutex<HashMap<IpAddr, Instant>>,
    /// What a ledger pool's jobs pay (and a coinbase pool's while its
    /// window is not known here): the whole block to `ledger_script`.
    pub ledger_plan: Arc<CoinbasePlan>,
}

impl Shared {
    /// The share chain position jobs build on, and its changes.
    pub fn positions(&self) -> watch::Receiver<JobPosition> {
        self.position
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn now_ms(&self) -> u64 {
        self.stats.now_ms()
    }

    /// Verifies without a lock, then records the share for duplicate
    /// detection under a short one.
    pub fn validate(&self, share: &Share) -> Result<VerifiedShare, ShareError> {
        let verifier = self
            .verifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let verified = verifier.verify(share)?;
        self.dedupe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remember(&verified)?;
        Ok(verified)
    }

    /// Forgets an accepted share its sink could not keep, so the miner
    /// may send it again.
    pub fn forget(&self, verified: &VerifiedShare) {
        self.dedupe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(verified);
    }

    fn add_tip(&self, prev_hash: [u8; 32], bits: CompactTarget) {
        let mut dedupe = self.dedupe.lock().unwrap_or_else(|e| e.into_inner());
        if dedupe.knows_tip(&prev_hash) {
            return;
        }
        if let Err(e) = dedupe.add_tip(prev_hash, bits) {
            warn!(error = %e, "work source sent an invalid tip");
            return;
        }
        let verifier = dedupe.without_memory();
        *self.verifier.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(verifier);
    }

    fn is_banned(&self, ip: IpAddr) -> bool {
        let mut bans = self.bans.lock().unwrap_or_else(|e| e.into_inner());
        match bans.get(&ip) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                bans.remove(&ip);
                false
            }
            None => false,
        }
    }

    pub fn ban(&self, ip: IpAddr) {
        if self.config.allow_list.contains(&ip) {
            return;
        }
        let mut bans = self.bans.lock().unwrap_or_else(|e| e.into_inner());
        bans.retain(|_, until| *until > Instant::now());
        bans.insert(ip, Instant::now() + self.config.ban_duration);
    }
}

/// A Stratum V1 server for one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use chiral_pool_core::{chain::SyntheticChain, identity::Keypair, ids::PoolId, pow::CompactTarget};
/// use chiral_stratum::server::{DiscardShares, ServerConfig, StratumServer};
/// let pool = PoolId::derive(&Keypair::generate().public(), "demo");
/// let server = StratumServer::new(
///     ServerConfig::new(pool),
///     Arc::new(SyntheticChain::new(CompactTarget::from_consensus(0x1e00ffff))?),
///     Arc::new(DiscardShares),
/// )?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3333").await?;
/// server.run(listener, tokio::signal::ctrl_c()).await?;
/// # Ok(()) }
/// ```
pub struct StratumServer {
    shared: Arc<Shared>,
}

impl StratumServer {
    /// A server accepting shares for `config.pool_id`, taking work from
    /// `work` and handing accepted shares to `sink`. A field of `config`
    /// out of range is an error that names it.
    pub fn new(
        config: ServerConfig,
        work: Arc<dyn WorkSource>,
        sink: Arc<dyn ShareSink>,
    ) -> Result<Self, ConfigError> {
        Self::with_authorizer(config, work, sink, Arc::new(AllowAll))
    }

    /// Like [`new`](Self::new) with a custom [`Authorizer`].
    pub fn with_authorizer(
        config: ServerConfig,
        work: Arc<dyn WorkSource>,
        sink: Arc<dyn ShareSink>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Self, ConfigError> {
        config.check()?;
        let validator = config.validator()?;
        let shared = Shared {
            work,
            sink,
            authorizer,
            stats: Arc::default(),
            position: Mutex::new(watch::channel(genesis_position()).1),
            verifier: RwLock::new(Arc::new(ShareValidator::new(config.pool_id, validator))),
            dedupe: Mutex::new(ShareValidator::new(config.pool_id, validator)),
            extranonces: Extranonces::new(),
            bans: Mutex::default(),
            ledger_plan: Arc::new(CoinbasePlan::whole_to(config.ledger_script.clone())),
            config,
        };
        let tip = *shared.work.tip().borrow();
        shared.add_tip(tip.prev_hash, tip.bits);
        Ok(StratumServer {
            shared: Arc::new(shared),
        })
    }

    /// Builds jobs on the share chain position `position` holds (the node's
    /// [`ShareChain::job`](chiral_pool_core::sharechain::ShareChain::job)).
    /// Without it, every job mines a genesis link at the default chain
    /// parameters' floor: a server that follows no share chain.
    pub fn with_share_chain(self, position: watch::Receiver<JobPosition>) -> Self {
        *self
            .shared
            .position
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = position;
        self
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// Serves `listener` until `shutdown` completes, then sends
    /// `client.reconnect` to every miner and waits for the connections to
    /// close.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future) -> std::io::Result<()> {
        let shared = self.shared;
        let limit = Arc::new(Semaphore::new(shared.config.max_connections));
        let (stop_tx, _) = broadcast::channel::<()>(1);
        let mut connections = JoinSet::new();
        let mut tips = shared.work.tip();
        tokio::pin!(shutdown);
        info!(addr = ?listener.local_addr().ok(), "stratum server listening");
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                changed = tips.changed() => {
                    if changed.is_err() { break; }
                    let tip = *tips.borrow_and_update();
                    shared.add_tip(tip.prev_hash, tip.bits);
                }
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => { debug!(error = %e, "accept failed"); continue; }
                    };
                    if shared.is_banned(peer.ip()) {
                        shared.stats.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        shared.stats.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    };
                    let shared = shared.clone();
                    let stop = stop_tx.subscribe();
                    connections.spawn(async move {
                        serve(shared, stream, peer, stop).await;
                        drop(permit);
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        let _ = stop_tx.send(());
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

async fn serve(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    stop: broadcast::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let en1 = shared.extranonces.allocate();
    shared
        .stats
        .connections_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared
        .stats
        .connections_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut session = Session::new(&shared, peer, en1);
    let span = tracing::debug_span!("stratum_conn", %peer);
    let _ = tracing::Instrument::instrument(session.run(&shared, stream, stop), span).await;
    shared.extranonces.release(session.extranonce1);
    shared
        .stats
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// The position of a server that follows no share chain: a genesis link at
/// the default parameters' floor.
fn genesis_position() -> JobPosition {
    JobPosition {
        parent: None,
        uncles: Vec::new(),
        chain_bits: ChainParams::new().floor_target().to_compact_lossy(),
        min_time: 0,
        payouts: None,
    }
}
