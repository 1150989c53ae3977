//! The Kademlia backend: a libp2p swarm in its own task, driven through a
//! cloneable handle.
//!
//! Every handle call is a command on a bounded channel with a oneshot
//! reply, under a timeout. Dropping the last handle (or calling
//! [`KadStore::shutdown`]) stops the node; `shutdown` returns once the node
//! task has ended and released its durable store.

mod config;
mod durable;
mod error;
mod links;
mod node;
mod record;
mod stats;
mod strikes;

#[cfg(feature = "metrics")]
pub use config::DhtMetrics;
pub use config::{KadConfig, IDENTIFY_PROTOCOL, KAD_PROTOCOL};
pub use durable::{DurableKadStore, StorageError};
pub use error::{KadError, ListenError};
pub use libp2p::{Multiaddr, PeerId};
pub use stats::{NodeStats, NodeStatsSnapshot};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::record::{RecordKey, SignedRecord};
use chiral_pool_core::store::{PutReport, RecordStore, StoreError};
use tokio::sync::{mpsc, oneshot, watch};

use node::{Command, Node};

/// Addresses listed per peer by [`KadStore::peers`].
pub const MAX_PEER_ADDRESSES: usize = 8;

/// A peer of the routing table, as [`KadStore::peers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The peer.
    pub peer_id: PeerId,
    /// Addresses it is known at (at most [`MAX_PEER_ADDRESSES`]).
    pub addresses: Vec<Multiaddr>,
    /// Whether a connection to it is open now.
    pub connected: bool,
}

/// A [`RecordStore`] on libp2p Kademlia.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use chiral_pool_dht::{KadConfig, KadStore};
/// let a = KadStore::spawn(KadConfig::new()).await?;
/// let b = KadStore::spawn(KadConfig::new().with_bootstrap(a.dial_addresses())).await?;
/// b.wait_for_peers(1).await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KadStore {
    commands: mpsc::Sender<Command>,
    local_key: PublicKey,
    peer_id: PeerId,
    listen: Vec<Multiaddr>,
    peers: watch::Receiver<usize>,
    /// Closed (its sender dropped) once the node task has ended and dropped
    /// the swarm, and with it the durable store and its database lock.
    stopped: watch::Receiver<()>,
    stats: Arc<NodeStats>,
    timeout: Duration,
}

impl KadStore {
    /// Starts a node: builds the swarm, binds the listen address, dials the
    /// bootstrap peers and returns once the node is listening.
    pub async fn spawn(config: KadConfig) -> Result<KadStore, KadError> {
        let (tx, rx) = mpsc::channel(config.command_buffer.max(1));
        let (peers_tx, peers_rx) = watch::channel(0usize);
        let stats = Arc::new(NodeStats::default());
        let timeout = config.operation_timeout;
        let local_key = config.keypair.public();
        let (node, peer_id, listen) = Node::start(config, rx, peers_tx, stats.clone()).await?;
        let (stopped_tx, stopped_rx) = watch::channel(());
        tokio::spawn(async move {
            // `run` consumes the node: the swarm and the store are dropped
            // before `stopped_tx` is, also when the task panics or is
            // cancelled with its runtime.
            node.run().await;
            drop(stopped_tx);
        });
        Ok(KadStore {
            commands: tx,
            local_key,
            peer_id,
            listen,
            peers: peers_rx,
            stopped: stopped_rx,
            stats,
            timeout,
        })
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node listens on.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen
    }

    /// Listen addresses with `/p2p/<peer id>` appended: what others pass as
    /// bootstrap.
    pub fn dial_addresses(&self) -> Vec<Multiaddr> {
        self.listen
            .iter()
            .map(|a| {
                a.clone()
                    .with(libp2p::multiaddr::Protocol::P2p(self.peer_id))
            })
            .collect()
    }

    /// Peers in the routing table now.
    pub fn peer_count(&self) -> usize {
        *self.peers.borrow()
    }

    /// Waits until the routing table holds at least `n` peers (returns at
    /// once if the node stopped).
    pub async fn wait_for_peers(&self, n: usize) {
        let mut rx = self.peers.clone();
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// The node's counters.
    pub fn stats(&self) -> Arc<NodeStats> {
        self.stats.clone()
    }

    /// The peers in the routing table, in peer id order, at most `limit`
    /// (the table holds up to 256 buckets of 20).
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] when the node stopped,
    /// [`StoreError::Timeout`] when its task did not answer in time.
    pub async fn peers(&self, limit: usize) -> Result<Vec<PeerInfo>, StoreError> {
        self.call(|reply| Command::Peers { limit, reply }).await?
    }

    /// Dials another node (an address ending in `/p2p/<peer id>`).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), StoreError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Stops the node and waits until its task has ended: when this
    /// returns (on any clone), the listen address is closed and the durable
    /// store is released, so a node can be started on the same `data_dir`
    /// at once. Other handles see [`StoreError::Closed`]. Calling it again,
    /// or on a node that already stopped, returns at once.
    pub async fn shutdown(&self) {
        // Fails only if the node already stopped; the wait below covers both.
        let _ = self.commands.send(Command::Shutdown).await;
        let mut stopped = self.stopped.clone();
        while stopped.changed().await.is_ok() {}
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let fut = async {
            self.commands
                .send(make(tx))
                .await
                .map_err(|_| StoreError::Closed)?;
            rx.await.map_err(|_| StoreError::Closed)
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| StoreError::Timeout)?
    }
}

#[async_trait]
impl RecordStore for KadStore {
    /// Verifies `record`, stores it locally and puts it to the closest
    /// peers.
    ///
    /// A record that loses [`select_best`](chiral_pool_core::record::select_best)
    /// to the node's unexpired local copy under the same key (an older
    /// sequence number of the same publisher) is neither stored nor published: the put returns `Ok` with
    /// `stored_locally: false` and `peers: 0`, because the store holds the
    /// better record, which is no failure. Putting the very record held
    /// publishes it again. A record that does not verify is
    /// [`StoreError::Rejected`].
    async fn put(&self, record: SignedRecord) -> Result<PutReport, StoreError> {
        self.call(|reply| Command::Put { record, reply }).await?
    }

    async fn get(&self, key: &RecordKey) -> Result<Vec<SignedRecord>, StoreError> {
        let key = key.clone();
        self.call(|reply| Command::Get { key, reply }).await?
    }

    async fn advertise(&self, set: &RecordKey, _ttl: Duration) -> Result<(), StoreError> {
        // Kademlia provider records live for `KadConfig::provider_ttl` and
        // are republished by the node itself while it runs.
        let key = set.clone();
        self.call(|reply| Command::Provide { key, reply }).await?
    }

    async fn members(&self, set: &RecordKey) -> Result<Vec<PublicKey>, StoreError> {
        let key = set.clone();
        self.call(|reply| Command::Providers { key, reply }).await?
    }

    fn local_key(&self) -> PublicKey {
        self.local_key
    }
}
