//! The Stratum V1 server: `run(listener, shutdown)`, one task per
//! connection, a semaphore capping connections, a broadcast telling
//! connections to stop, and a wait for them before returning.

mod session;
mod stats;

pub(crate) use session::Session;
pub use stats::{RejectReason, ServerStats, WorkerStats};

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pow::Difficulty;
use chiral_pool_core::share::{
    Share, ShareError, ShareValidator, ShareValidatorConfig, VerifiedShare,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::vardiff::VardiffConfig;
use crate::work::WorkSource;

/// Settings of a [`StratumServer`]; each default is on its field.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The pool whose shares this server accepts.
    pub pool_id: PoolId,
    /// Bytes of extranonce2 the miner rolls. Default: 4 (at most 8).
    pub extranonce2_size: usize,
    /// First difficulty of a connection. Default: 1/1024.
    pub initial_difficulty: f64,
    /// Vardiff settings (bounds and target interval).
    pub vardiff: VardiffConfig,
    /// Version bits miners may roll (BIP 310). Default: `0x1fffe000`.
    pub version_mask: u32,
    /// Time to subscribe and authorize after connecting. Default: 30 s.
    pub handshake_timeout: Duration,
    /// A connection silent this long is closed. Default: 10 min.
    pub idle_timeout: Duration,
    /// A write blocked this long (a client not reading) closes the
    /// connection. Default: 10 s.
    pub write_timeout: Duration,
    /// Most open connections. Default: 20,000.
    pub max_connections: usize,
    /// Jobs remembered per connection for late submits. Default: 8.
    pub max_jobs: usize,
    /// Ban points that close a connection. Default: 100 (one bad share
    /// costs 5; each good share takes one away).
    pub ban_threshold: u32,
    /// How long an address is refused after abuse. Default: 10 min.
    pub ban_duration: Duration,
    /// Addresses never banned (they are still disconnected on abuse).
    pub allow_list: Vec<IpAddr>,
    /// Validator settings (minimum difficulty, tips, dedupe bounds).
    pub validator: ShareValidatorConfig,
}

impl ServerConfig {
    /// Defaults for `pool_id`.
    pub fn new(pool_id: PoolId) -> Self {
        let vardiff = VardiffConfig::new();
        ServerConfig {
            pool_id,
            extranonce2_size: 4,
            initial_difficulty: 1.0 / 1024.0,
            vardiff,
            version_mask: 0x1fff_e000,
            handshake_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(10),
            max_connections: 20_000,
            max_jobs: 8,
            ban_threshold: 100,
            ban_duration: Duration::from_secs(600),
            allow_list: Vec::new(),
            validator: ShareValidatorConfig {
                min_difficulty: Difficulty::from_raw(
                    (vardiff.min_difficulty * 4_294_967_296.0) as u128,
                ),
                ..ShareValidatorConfig::new()
            },
        }
    }
}

/// Decides whether a username may mine.
pub trait Authorizer: Send + Sync + 'static {
    /// Whether `payout` / `worker` with `password` may submit.
    fn authorize(&self, payout: &PayoutId, worker: &str, password: &str) -> bool;
}

/// Accepts every well-formed payout id (the default: payouts go to the
/// id in the username, so there is nothing to steal).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &PayoutId, _: &str, _: &str) -> bool {
        true
    }
}

/// Receives every accepted share (for accounting and publication). Called
/// on the connection's task: keep it quick and non-blocking; slow work
/// (a disk write) goes into the returned [`Durable`].
///
/// ```
/// use chiral_pool_core::share::{Share, VerifiedShare};
/// use chiral_stratum::server::{Durable, ShareSink};
/// use tokio::sync::{mpsc, oneshot};
///
/// /// Hands shares to a writer task and confirms each once it is written.
/// struct Persist(mpsc::Sender<(Share, oneshot::Sender<()>)>);
///
/// impl ShareSink for Persist {
///     fn accepted(&self, share: &Share, _: &VerifiedShare) -> Durable {
///         let (queue, share) = (self.0.clone(), share.clone());
///         Durable::after(async move {
///             let (done, written) = oneshot::channel();
///             if queue.send((share, done)).await.is_ok() {
///                 let _ = written.await;
///             }
///         })
///     }
/// }
/// ```
pub trait ShareSink: Send + Sync + 'static {
    /// A share passed validation. The miner is told "accepted" once the
    /// returned [`Durable`] completes.
    fn accepted(&self, share: &Share, verified: &VerifiedShare) -> Durable;
}

/// When an accepted share may be confirmed to its miner: at once, or after
/// the sink's future completes (a journal's group commit, say). The
/// connection waits for it before it sends the reply, so a sink that
/// persists shares can promise that every confirmed share survives a crash.
#[must_use]
pub struct Durable(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Durable {
    /// Confirm at once.
    pub fn now() -> Self {
        Durable(None)
    }

    /// Confirm once `done` completes.
    pub fn after(done: impl Future<Output = ()> + Send + 'static) -> Self {
        Durable(Some(Box::pin(done)))
    }

    pub(crate) async fn wait(self) {
        if let Some(done) = self.0 {
            done.await;
        }
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Durable::after(..)"
        } else {
            "Durable::now()"
        })
    }
}

/// A sink that drops shares (counters still count them).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardShares;

impl ShareSink for DiscardShares {
    fn accepted(&self, _: &Share, _: &VerifiedShare) -> Durable {
        Durable::now()
    }
}

/// Most remembered session ids for resume.
const MAX_RESUMABLE: usize = 65_536;

/// Resumable sessions: id -> extranonce1, with insertion order for eviction.
type Resumable = (HashMap<String, [u8; 4]>, VecDeque<String>);

/// State shared by all connections.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub work: Arc<dyn WorkSource>,
    pub sink: Arc<dyn ShareSink>,
    pub authorizer: Arc<dyn Authorizer>,
    pub stats: Arc<ServerStats>,
    /// Verifies shares: a validator holding the current tips but no
    /// dedupe memory, replaced whole on each new tip, so the hashing of a
    /// submit runs outside every lock (a connection task preempted while
    /// hashing under a lock would stall the others).
    verifier: RwLock<Arc<ShareValidator>>,
    /// Remembers accepted shares for duplicate detection; `verifier` is
    /// its copy without that memory.
    dedupe: Mutex<ShareValidator>,
    started: Instant,
    next_extranonce: Mutex<u32>,
    resumable: Mutex<Resumable>,
    in_use: Mutex<std::collections::HashSet<[u8; 4]>>,
    bans: Mutex<HashMap<IpAddr, Instant>>,
}

impl Shared {
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
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

    fn add_tip(&self, prev_hash: [u8; 32], bits: u32) {
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

    fn allocate_extranonce(&self) -> [u8; 4] {
        let mut in_use = self.in_use.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self
            .next_extranonce
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            let candidate = next.to_be_bytes();
            *next = next.wrapping_add(1);
            if in_use.insert(candidate) {
                return candidate;
            }
        }
    }

    fn release_extranonce(&self, en1: [u8; 4]) {
        self.in_use
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&en1);
    }

    /// The extranonce1 of a resumable session if it is free; swaps it in
    /// for `current`.
    pub fn resume_session(&self, sid: &str, current: [u8; 4]) -> Option<[u8; 4]> {
        let en1 = *self
            .resumable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(sid)?;
        let mut in_use = self.in_use.lock().unwrap_or_else(|e| e.into_inner());
        if en1 == current || !in_use.insert(en1) {
            return None;
        }
        in_use.remove(&current);
        Some(en1)
    }

    pub fn remember_session(&self, sid: &str, en1: [u8; 4]) {
        let mut r = self.resumable.lock().unwrap_or_else(|e| e.into_inner());
        if r.0.insert(sid.to_owned(), en1).is_none() {
            r.1.push_back(sid.to_owned());
            while r.1.len() > MAX_RESUMABLE {
                if let Some(old) = r.1.pop_front() {
                    r.0.remove(&old);
                }
            }
        }
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
/// # async fn demo() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use chiral_pool_core::{identity::Keypair, ids::PoolId};
/// use chiral_stratum::server::{DiscardShares, ServerConfig, StratumServer};
/// use chiral_stratum::work::SyntheticChain;
/// let pool = PoolId::derive(&Keypair::generate().public(), "demo");
/// let server = StratumServer::new(
///     ServerConfig::new(pool),
///     Arc::new(SyntheticChain::new(0x1e00ffff)),
///     Arc::new(DiscardShares),
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3333").await?;
/// server.run(listener, tokio::signal::ctrl_c()).await
/// # }
/// ```
pub struct StratumServer {
    shared: Arc<Shared>,
}

impl StratumServer {
    /// A server accepting shares for `config.pool_id`, taking work from
    /// `work` and handing accepted shares to `sink`.
    pub fn new(config: ServerConfig, work: Arc<dyn WorkSource>, sink: Arc<dyn ShareSink>) -> Self {
        Self::with_authorizer(config, work, sink, Arc::new(AllowAll))
    }

    /// Like [`new`](Self::new) with a custom [`Authorizer`].
    pub fn with_authorizer(
        config: ServerConfig,
        work: Arc<dyn WorkSource>,
        sink: Arc<dyn ShareSink>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        let shared = Shared {
            work,
            sink,
            authorizer,
            stats: Arc::default(),
            verifier: RwLock::new(Arc::new(ShareValidator::new(
                config.pool_id,
                config.validator,
            ))),
            dedupe: Mutex::new(ShareValidator::new(config.pool_id, config.validator)),
            started: Instant::now(),
            next_extranonce: Mutex::new(rand::random()),
            resumable: Mutex::default(),
            in_use: Mutex::default(),
            bans: Mutex::default(),
            config,
        };
        let tip = *shared.work.tip().borrow();
        shared.add_tip(tip.prev_hash, tip.bits);
        StratumServer {
            shared: Arc::new(shared),
        }
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
    let en1 = shared.allocate_extranonce();
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
    shared.release_extranonce(session.extranonce1);
    shared
        .stats
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}
